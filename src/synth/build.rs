//! Builds a whole synthetic v11 state tree into a buffered store.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::Address;
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;

use super::config::GenConfig;
use super::market::MarketBuilder;
use super::miner_state::{assemble, MinerInputs};
use super::population::{self, EmptyMiners};
use super::sector_gen::{mix, sector_info, DealIds, SectorParams, NANO};
use super::sectors::build_sectors;
use super::singletons::{self as single, ids};
use crate::actors::manifest::Manifest;
use crate::actors::state_tree::{put_cbor, ActorState, StateRoot, STATE_TREE_VERSION};
use crate::error::{Error, Result};
use crate::store::BufferedBlockstore;

/// Counts of what was generated.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildStats {
    /// Actors in the state.
    pub actors: u64,
    /// Miner actors.
    pub miners: u64,
    /// Live sectors over all miners.
    pub sectors: u64,
    /// Deal states in the market.
    pub deal_states: u64,
    /// Deal proposals in the market.
    pub deal_proposals: u64,
}

struct Actors {
    code: Manifest,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Actors {
    fn add(
        &mut self,
        id: u64,
        name: &str,
        head: Cid,
        balance: TokenAmount,
        delegated: Option<Address>,
    ) -> Result<()> {
        let code = self
            .code
            .code_of(name)
            .ok_or_else(|| Error::Synth(format!("manifest has no {name:?} actor")))?;
        let st = ActorState {
            code,
            head,
            sequence: 0,
            balance,
            delegated_address: delegated,
        };
        let v = fvm_ipld_encoding::to_vec(&st)
            .map_err(|e| Error::Synth(format!("encoding actor: {e}")))?;
        self.entries.push((Address::new_id(id).to_bytes(), v));
        Ok(())
    }
}

fn fil(seed: u64, k: u64, max_fil: u64) -> TokenAmount {
    TokenAmount::from_atto(
        BigInt::from(mix(&[seed, k, 9]) % (max_fil * 1000) + 1) * NANO * 1_000_000,
    )
}

fn secp(seed: u64, k: u64) -> Address {
    let mut pk = [4u8; 65];
    for (i, c) in pk[1..].chunks_mut(8).enumerate() {
        c.copy_from_slice(&mix(&[seed, k, i as u64, 11]).to_le_bytes());
    }
    Address::new_secp256k1(&pk).expect("65-byte key")
}

fn eth_addr(seed: u64, k: u64) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&mix(&[seed, k, 21]).to_le_bytes());
    a[8..16].copy_from_slice(&mix(&[seed, k, 22]).to_le_bytes());
    a[16..].copy_from_slice(&mix(&[seed, k, 23]).to_le_bytes()[..4]);
    Address::new_delegated(10, &a).expect("f410 address")
}

/// Builds the state; returns the state root and counts.
pub fn build_state<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
    cfg: &GenConfig,
) -> Result<(Cid, BuildStats)> {
    let manifest = Manifest::load(cfg.network, 11)?;
    manifest.store(buf)?;
    let mut actors = Actors {
        code: manifest.clone(),
        entries: Vec::new(),
    };
    let mut init_map: Vec<(Address, u64)> = Vec::new();
    let mut stats = BuildStats::default();
    let seed = cfg.seed;
    let mut next_id = ids::FIRST_NON_SINGLETON;
    let mut alloc = || {
        next_id += 1;
        next_id - 1
    };

    // Miners, each with an owner and a worker account; their deals go into
    // the market as they are made (deal IDs ascend miner by miner).
    let mut claims = Vec::new();
    let mut total_pledge = TokenAmount::from_atto(0u64);
    let counts = cfg.miners.counts();
    let mut market = match cfg.deals_per_sector {
        0 => None,
        _ => Some(MarketBuilder::new(
            buf,
            seed,
            cfg.epoch,
            market_upgrade_epoch(cfg)?,
        )?),
    };
    // Clients are plain accounts, allocated after the miners' three IDs each.
    let first_client = ids::FIRST_NON_SINGLETON + 3 * counts.len() as u64;
    let client_of = |deal: u64, owner: u64| match cfg.accounts {
        0 => owner,
        n => first_client + mix(&[seed, deal, 340]) % n,
    };
    let mut next_deal = 1_000u64;
    let mut sector_miners = Vec::new();
    for (i, &n) in counts.iter().enumerate() {
        let owner = alloc();
        let worker = alloc();
        let id = alloc();
        for (acct, k) in [(owner, 1u64), (worker, 2)] {
            let addr = secp(seed, acct * 10 + k);
            let head = single::account(buf, addr)?;
            actors.add(acct, "account", head, fil(seed, acct, 500), None)?;
            init_map.push((addr, acct));
        }
        let params = SectorParams {
            seed,
            miner: id,
            epoch: cfg.epoch,
            large: i % 5 == 4,
            deals: (cfg.deals_per_sector > 0).then_some(DealIds {
                base: next_deal,
                per_sector: cfg.deals_per_sector,
            }),
        };
        let sectors = build_sectors(buf, &params, n)?;
        if let Some(m) = market.as_mut() {
            // Numbers 0..n, extensions change expirations only.
            for s in &sectors.live {
                let info = sector_info(&params, s.number, 0);
                for d in &info.deal_ids {
                    m.listed(*d, id, client_of(*d, owner), info.activation, s.expiration)?;
                }
            }
            next_deal += (n + 1) * cfg.deals_per_sector;
            sector_miners.push((id, owner));
        }
        let precommits: Vec<u64> = (n..n + 2 + n / 20_000).collect();
        let m = assemble(
            buf,
            &MinerInputs {
                params,
                owner,
                worker,
                sectors: sectors.current,
                snapshots: &sectors.older,
                live: &sectors.live,
                precommits: &precommits,
                mixed_vesting: cfg.mixed_vesting,
            },
        )?;
        buf.flush(&m.head)?;
        actors.add(id, "storageminer", m.head, fil(seed, id, 5000), None)?;
        let robust = Address::new_actor(&id.to_be_bytes());
        init_map.push((robust, id));
        let proof = if params.large {
            fvm_shared3::sector::RegisteredPoStProof::StackedDRGWindow64GiBV1
        } else {
            fvm_shared3::sector::RegisteredPoStProof::StackedDRGWindow32GiBV1
        };
        claims.push((
            id,
            fil_actor_power_state::v11::Claim {
                window_post_proof_type: proof,
                raw_byte_power: m.raw_power,
                quality_adj_power: m.qa_power,
            },
        ));
        total_pledge += m.pledge;
        stats.miners += 1;
        stats.sectors += sectors.live.len() as u64;
    }

    // Deals no sector lists (2%), then pending proposals (1%).
    let market_head = match market {
        Some(mut m) => {
            let listed = m.deal_states.max(50);
            for k in 0..listed / 50 + listed / 100 {
                let deal = next_deal + k;
                let (provider, owner) = sector_miners
                    .get((mix(&[seed, deal, 341]) % sector_miners.len().max(1) as u64) as usize)
                    .copied()
                    .unwrap_or((ids::FIRST_NON_SINGLETON + 2, ids::FIRST_NON_SINGLETON));
                if k < listed / 50 {
                    m.ghost(deal, provider, client_of(deal, owner))?;
                } else {
                    m.pending(deal, provider, client_of(deal, owner))?;
                }
            }
            stats.deal_states = m.deal_states;
            stats.deal_proposals = m.proposals_written;
            m.finish(cfg.epoch - 1)?.0
        }
        None => single::market(buf, cfg.epoch)?,
    };

    // Plain accounts: mostly secp256k1, some BLS.
    let mut first_plain_account = None;
    for k in 0..cfg.accounts {
        let id = alloc();
        first_plain_account.get_or_insert(id);
        let addr = if k % 4 == 3 {
            let mut key = [0u8; 48];
            for (i, c) in key.chunks_mut(8).enumerate() {
                c.copy_from_slice(&mix(&[seed, id, i as u64, 31]).to_le_bytes());
            }
            Address::new_bls(&key).expect("48-byte key")
        } else {
            secp(seed, id * 10)
        };
        let head = single::account(buf, addr)?;
        actors.add(id, "account", head, fil(seed, id, 100), None)?;
        init_map.push((addr, id));
    }

    // Multisigs; the first is the verified registry's root key.
    let empty_map = single::hamt_from(buf, Vec::new())?;
    let mut root_key = Address::new_id(ids::FIRST_NON_SINGLETON);
    for k in 0..cfg.multisigs {
        let id = alloc();
        if k == 0 {
            root_key = Address::new_id(id);
        }
        let signers: Vec<Address> = (0..3).map(|j| secp(seed, id * 100 + j)).collect();
        let st = fil_actor_multisig_state::v11::State {
            signers,
            num_approvals_threshold: 2,
            next_tx_id: fil_actor_multisig_state::v11::TxnID(0),
            initial_balance: TokenAmount::from_atto(0u64),
            start_epoch: 0,
            unlock_duration: 0,
            pending_txs: empty_map,
        };
        let head = put_cbor(buf, &st)?;
        actors.add(id, "multisig", head, fil(seed, id, 10_000), None)?;
        init_map.push((Address::new_actor(&id.to_le_bytes()), id));
    }

    // The mining reserve, a multisig as genesis creates it.
    if cfg.mining_reserve {
        let st = fil_actor_multisig_state::v11::State {
            signers: Vec::new(),
            num_approvals_threshold: 0,
            next_tx_id: fil_actor_multisig_state::v11::TxnID(0),
            initial_balance: TokenAmount::from_atto(0u64),
            start_epoch: 0,
            unlock_duration: 0,
            pending_txs: empty_map,
        };
        let head = put_cbor(buf, &st)?;
        actors.add(
            ids::MINING_RESERVE,
            "multisig",
            head,
            fil(seed, 90, 1_000_000),
            None,
        )?;
    }

    // EVM contracts, eth accounts and a placeholder.
    let empty_array = single::empty_array(buf)?;
    let mut evm = |id: u64, f4: Address| -> Result<()> {
        let code = mix(&[seed, id, 40]).to_le_bytes().repeat(64);
        let bytecode = cid::Cid::new_v1(
            crate::ipld::cids::RAW,
            cid::multihash::Multihash::wrap(
                crate::ipld::cids::BLAKE2B_256,
                blake2b_simd::Params::new()
                    .hash_length(32)
                    .hash(&code)
                    .as_bytes(),
            )
            .expect("32-byte digest"),
        );
        buf.put_keyed(&bytecode, &code)
            .map_err(Error::from_blockstore)?;
        let hash: fil_actor_evm_state::v11::BytecodeHash = fvm_ipld_encoding::from_slice(
            &fvm_ipld_encoding::to_vec(&fvm_ipld_encoding::BytesSer(
                &mix(&[seed, id, 41]).to_le_bytes().repeat(4),
            ))
            .map_err(|e| Error::Synth(e.to_string()))?,
        )
        .map_err(|e| Error::Synth(e.to_string()))?;
        // Every eighth contract has self-destructed (a tombstone).
        let tombstone = (cfg.solstice_contracts && id % 8 == 5).then_some(
            fil_actor_evm_state::v11::Tombstone {
                origin: id - 1,
                nonce: 7,
            },
        );
        let st = fil_actor_evm_state::v11::State {
            bytecode,
            bytecode_hash: hash,
            contract_state: empty_map,
            nonce: 1,
            tombstone,
        };
        let head = put_cbor(buf, &st)?;
        actors.add(id, "evm", head, fil(seed, id, 10), Some(f4))?;
        init_map.push((f4, id));
        Ok(())
    };
    for _ in 0..cfg.evm_contracts {
        let id = alloc();
        evm(id, eth_addr(seed, id))?;
    }
    // The FIP-0118 contracts nv29's reward bootstrap resolves.
    if cfg.solstice_contracts {
        use crate::migration::upgrades::nv29::bootstrap::{filecoin_address, BootstrapParams};
        let p = BootstrapParams::for_network(cfg.network);
        for eth in [p.swa, p.sra, p.orchestrator] {
            let id = alloc();
            let f4 = Address::from_bytes(&filecoin_address(&eth).to_bytes())
                .expect("an address this build made");
            evm(id, f4)?;
        }
    }
    for k in 0..=cfg.eth_accounts {
        let id = alloc();
        let f4 = eth_addr(seed, id);
        let name = if k == cfg.eth_accounts {
            "placeholder"
        } else {
            "ethaccount"
        };
        actors.add(id, name, empty_array, fil(seed, id, 10), Some(f4))?;
        init_map.push((f4, id));
    }

    // The rest of mainnet's population (none in the small configs, so their
    // roots are as before): miners without sectors, each with an owner
    // account and a zero power claim; payment channels between plain
    // accounts, a few settling; more placeholders.
    if cfg.empty_miners > 0 {
        let empty = EmptyMiners::new(buf)?;
        for _ in 0..cfg.empty_miners {
            let owner = alloc();
            let id = alloc();
            let addr = secp(seed, owner * 10 + 1);
            actors.add(
                owner,
                "account",
                single::account(buf, addr)?,
                fil(seed, owner, 50),
                None,
            )?;
            init_map.push((addr, owner));
            let head = empty.head(buf, seed, id, owner, cfg.epoch)?;
            actors.add(id, "storageminer", head, TokenAmount::from_atto(0u64), None)?;
            init_map.push((Address::new_actor(&id.to_be_bytes()), id));
            claims.push((
                id,
                fil_actor_power_state::v11::Claim {
                    window_post_proof_type:
                        fvm_shared3::sector::RegisteredPoStProof::StackedDRGWindow32GiBV1P1,
                    raw_byte_power: BigInt::from(0),
                    quality_adj_power: BigInt::from(0),
                },
            ));
            stats.miners += 1;
        }
    }
    let first_account = first_plain_account.unwrap_or(ids::FIRST_NON_SINGLETON);
    for k in 0..cfg.payment_channels {
        let id = alloc();
        let span = cfg.accounts.max(1);
        let from = first_account + mix(&[seed, id, 72]) % span;
        let to = first_account + mix(&[seed, id, 73]) % span;
        // One in a hundred is settling, and is collected 100 epochs later.
        let settling = if k % 100 == 99 { cfg.epoch + 100 } else { 0 };
        let head = population::payment_channel(buf, from, to, seed, id, settling)?;
        actors.add(id, "paymentchannel", head, fil(seed, id, 20), None)?;
        init_map.push((Address::new_actor(&(id ^ 0x5a5a).to_le_bytes()), id));
    }
    for _ in 0..cfg.placeholders {
        let id = alloc();
        let f4 = eth_addr(seed, id);
        actors.add(id, "placeholder", empty_array, fil(seed, id, 1), Some(f4))?;
        init_map.push((f4, id));
    }

    // Singletons.
    let total_qa: BigInt = claims
        .iter()
        .map(|(_, c)| c.quality_adj_power.clone())
        .sum();
    let network_name = match cfg.network {
        crate::actors::manifest::Network::Mainnet => "mainnet",
        crate::actors::manifest::Network::Calibnet => "calibrationnet",
    };
    let zero = || TokenAmount::from_atto(0u64);
    actors.add(
        ids::SYSTEM,
        "system",
        single::system(buf, manifest.data_cid)?,
        zero(),
        None,
    )?;
    actors.add(
        ids::INIT,
        "init",
        single::init(buf, network_name, next_id, init_map)?,
        zero(),
        None,
    )?;
    actors.add(
        ids::REWARD,
        "reward",
        single::reward(buf, total_qa, cfg.epoch)?,
        fil(seed, 2, 1_000_000),
        None,
    )?;
    actors.add(ids::CRON, "cron", single::cron(buf)?, zero(), None)?;
    actors.add(
        ids::POWER,
        "storagepower",
        single::power(buf, &claims, &total_pledge)?,
        zero(),
        None,
    )?;
    actors.add(
        ids::MARKET,
        "storagemarket",
        market_head,
        fil(seed, 5, 100_000),
        None,
    )?;
    actors.add(
        ids::VERIFREG,
        "verifiedregistry",
        single::verifreg(buf, root_key)?,
        zero(),
        None,
    )?;
    actors.add(ids::DATACAP, "datacap", single::datacap(buf)?, zero(), None)?;
    actors.add(ids::EAM, "eam", empty_array, zero(), None)?;
    let burnt = single::account(buf, Address::new_id(ids::BURNT_FUNDS))?;
    actors.add(
        ids::BURNT_FUNDS,
        "account",
        burnt,
        fil(seed, 99, 1_000_000),
        None,
    )?;

    stats.actors = actors.entries.len() as u64;
    let actors_root = single::hamt_from(buf, std::mem::take(&mut actors.entries))?;
    let info = single::empty_array(buf)?;
    let root = StateRoot {
        version: STATE_TREE_VERSION,
        actors: actors_root,
        info,
    }
    .store(buf)?;
    Ok((root, stats))
}

/// The nv22 upgrade epoch of the state's network: where the generated deal
/// cases (ended before, live at) are placed.
fn market_upgrade_epoch(cfg: &GenConfig) -> Result<i64> {
    Ok(crate::migration::Upgrade::load("nv22", cfg.network)?.height)
}
