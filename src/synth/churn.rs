//! Churn: the successor of a state as a chain would produce it some epochs
//! later. In every miner, expired and terminated sectors are removed, some
//! are extended or snap-upgraded, new sectors are onboarded with increasing
//! numbers, the deadlines whose challenge window closed get the previous
//! sectors as their snapshot, partitions are rebuilt over the live sectors;
//! a few miners and accounts are created. Every tree is rebuilt canonically,
//! so every untouched subtree keeps its CID and is shared with the input.

use std::collections::BTreeMap;

use cid::Cid;
use fil_actor_miner_state::v11 as miner;
use fil_actors_shared::v11::runtime::Policy;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::Address;
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;

use super::actor_churn::{churn_actors, ActorChurn, ActorChurnStats};
use super::faults::{FaultBook, FaultRates, FaultStats};
use super::market_churn::MarketChurn;
use super::miner_state::{assemble, build_deadlines, MinerInputs, SectorSummary};
use super::sector_gen::{
    chance, commitment, is_verified, mix, sector_info, SectorParams, COMMR_CODEC, EPOCHS_PER_DAY,
    NANO, POSEIDON,
};
use super::sectors::{build_sectors, flush_when_over_budget};
use super::singletons::{self as single, hamt_from};
use super::window_post::{postings, Posting};
use crate::actors::manifest::{identify, Manifest};
use crate::actors::state_tree::{get_cbor, put_cbor, ActorState, StateRoot};
use crate::error::{Error, Result};
use crate::ipld::amt::{for_each_value, AmtBuilder, AmtPatcher, Patch};
use crate::ipld::hamt::for_each_entry;
use crate::store::BufferedBlockstore;

/// Rates of change. Probabilities are per sector per epoch.
#[derive(Debug, Clone)]
pub struct ChurnConfig {
    /// Epochs between the input and the successor.
    pub epochs: i64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Early terminations.
    pub termination_rate: f64,
    /// Expiration extensions.
    pub extension_rate: f64,
    /// Snap upgrades of committed-capacity sectors.
    pub snap_rate: f64,
    /// New sectors per epoch, as a fraction of the miner's sectors.
    pub onboarding_rate: f64,
    /// Instead of the rates: this fraction of each miner's sectors changes
    /// (a third removed, a third extended, a third's worth added).
    pub change_fraction: Option<f64>,
    /// Miners created.
    pub new_miners: u64,
    /// Sectors of each new miner.
    pub new_miner_sectors: u64,
    /// Accounts created.
    pub new_accounts: u64,
    /// Nonce, balance, fee and deletion churn of the other actors.
    pub actors: ActorChurn,
    /// Every miner with live sectors proves the deadlines whose window
    /// passes (see [`super::window_post`]) and its current deadline moves
    /// on, as on mainnet: nearly every such miner's head changes.
    pub window_post: bool,
    /// How that WindowPoSt moves faults and recoveries.
    pub faults: FaultRates,
}

impl Default for ChurnConfig {
    /// Mainnet-like rates: over 180 epochs about 0.1% of a miner's sectors change.
    fn default() -> Self {
        ChurnConfig {
            epochs: 180,
            seed: 2,
            termination_rate: 2e-7,
            extension_rate: 1e-6,
            snap_rate: 2e-7,
            onboarding_rate: 2e-6,
            change_fraction: None,
            new_miners: 1,
            new_miner_sectors: 200,
            new_accounts: 10,
            actors: ActorChurn::default(),
            window_post: false,
            faults: FaultRates::default(),
        }
    }
}

/// What churn changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ChurnStats {
    /// Epoch of the input state.
    pub from_epoch: i64,
    /// Epoch of the successor.
    pub to_epoch: i64,
    /// Sectors removed (expired or terminated).
    pub removed: u64,
    /// Sectors modified (extended or snapped).
    pub modified: u64,
    /// Sectors added.
    pub added: u64,
    /// Miners created.
    pub new_miners: u64,
    /// Accounts created.
    pub new_accounts: u64,
    /// What happened to the other actors.
    pub actors: ActorChurnStats,
    /// The market's churn (states with deals only).
    pub market: super::market_churn::MarketChurnStats,
    /// Faults and recoveries the WindowPoSt made.
    pub faults: FaultStats,
}

fn summary_of(info: &miner::SectorOnChainInfo) -> SectorSummary {
    let nano = info.initial_pledge.atto() / BigInt::from(NANO);
    SectorSummary {
        number: info.sector_number,
        expiration: info.expiration,
        pledge_nano: u32::try_from(nano).unwrap_or(u32::MAX),
        verified: is_verified(info),
    }
}

/// Builds the successor of `state_root`; returns its root and what changed.
pub fn churn_state<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
    state_root: &Cid,
    cfg: &ChurnConfig,
) -> Result<(Cid, ChurnStats)> {
    let sr: StateRoot = get_cbor(buf, state_root, "state root")?;
    let mut actors: Vec<(Vec<u8>, ActorState)> = Vec::new();
    for_each_entry(buf, &sr.actors, 5, |k, v| {
        let a: ActorState = fvm_ipld_encoding::from_slice(v).map_err(|e| Error::Malformed {
            what: "actor state",
            cid: sr.actors,
            reason: e.to_string(),
        })?;
        actors.push((k.to_vec(), a));
        Ok(())
    })?;
    let name_of = |a: &ActorState| identify(&a.code);
    let (_, version, network) = actors
        .iter()
        .find_map(|(_, a)| name_of(a).filter(|x| x.0 == "system"))
        .ok_or_else(|| Error::Synth("no system actor with a known code in the state".into()))?;
    if version != 11 {
        return Err(Error::Synth(format!(
            "churn works on actors v11 states, this one is v{version}"
        )));
    }
    let manifest = Manifest::load(network, 11)?;
    let find = |actors: &[(Vec<u8>, ActorState)], name: &str| {
        actors
            .iter()
            .position(|(_, a)| manifest.name_of(&a.code) == Some(name))
    };
    let reward_i = find(&actors, "reward").ok_or_else(|| Error::Synth("no reward actor".into()))?;
    let mut reward: fil_actor_reward_state::v11::State =
        get_cbor(buf, &actors[reward_i].1.head, "reward state")?;
    let mut stats = ChurnStats {
        from_epoch: reward.epoch,
        to_epoch: reward.epoch + cfg.epochs,
        ..Default::default()
    };
    let new_epoch = stats.to_epoch;
    reward.epoch = new_epoch;
    actors[reward_i].1.head = put_cbor(buf, &reward)?;

    // Miners with sectors (the others change below, in the actor churn).
    let empty_sectors = AmtBuilder::new(buf, 5)?.finish()?;
    let market_i = find(&actors, "storagemarket");
    let mut market_churn = match market_i {
        Some(i) => MarketChurn::open(buf, &actors[i].1.head, cfg.seed, new_epoch)?,
        None => None,
    };
    let mut claims: BTreeMap<u64, fil_actor_power_state::v11::Claim> = BTreeMap::new();
    for (key, actor) in actors.iter_mut() {
        if manifest.name_of(&actor.code) != Some("storageminer") {
            continue;
        }
        let st: miner::State = get_cbor(buf, &actor.head, "miner state v11")?;
        if st.sectors == empty_sectors {
            continue;
        }
        let id = Address::from_bytes(key)
            .ok()
            .and_then(|a| a.id().ok())
            .ok_or_else(|| Error::Synth("miner key is not an ID address".into()))?;
        let (head, claim) = churn_miner(
            buf,
            id,
            &actor.head,
            cfg,
            new_epoch,
            &mut stats,
            market_churn.as_mut(),
        )?;
        actor.head = head;
        claims.insert(id, claim);
        buf.flush(&head)?;
    }

    // Senders, recipients, collected payment channels, fee-paying miners.
    stats.actors = churn_actors(
        buf,
        &mut actors,
        &manifest,
        &cfg.actors,
        cfg.seed,
        cfg.epochs,
        new_epoch,
        &empty_sectors,
    )?;
    // The market's cron runs every epoch.
    if let Some(m) = market_churn {
        // Found again: the actor churn deletes actors (collected channels).
        let i = find(&actors, "storagemarket").expect("a market churn has a market");
        let (head, s) = m.apply(buf, &actors[i].1.head, cfg.epochs)?;
        actors[i].1.head = head;
        stats.market = s;
    } else if let Some(i) = find(&actors, "storagemarket") {
        let mut market: fil_actor_market_state::v11::State =
            get_cbor(buf, &actors[i].1.head, "market state")?;
        market.last_cron = new_epoch;
        actors[i].1.head = put_cbor(buf, &market)?;
    }

    // New actors.
    let init_i = find(&actors, "init").ok_or_else(|| Error::Synth("no init actor".into()))?;
    let mut init: fil_actor_init_state::v11::State =
        get_cbor(buf, &actors[init_i].1.head, "init state")?;
    let mut init_map: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for_each_entry(buf, &init.address_map, 5, |k, v| {
        init_map.push((k.to_vec(), v.to_vec()));
        Ok(())
    })?;
    let account_code = manifest
        .code_of("account")
        .ok_or_else(|| Error::Synth("no account code".into()))?;
    let miner_code = manifest
        .code_of("storageminer")
        .ok_or_else(|| Error::Synth("no miner code".into()))?;
    let new_account = |init: &mut fil_actor_init_state::v11::State,
                       actors: &mut Vec<(Vec<u8>, ActorState)>,
                       init_map: &mut Vec<(Vec<u8>, Vec<u8>)>,
                       k: u64|
     -> Result<u64> {
        let id = init.next_id;
        init.next_id += 1;
        let mut pk = [4u8; 65];
        for (i, c) in pk[1..].chunks_mut(8).enumerate() {
            c.copy_from_slice(&mix(&[cfg.seed, id, k, i as u64, 61]).to_le_bytes());
        }
        let addr = Address::new_secp256k1(&pk).map_err(|e| Error::Synth(e.to_string()))?;
        let head = single::account(buf, addr)?;
        actors.push((
            Address::new_id(id).to_bytes(),
            ActorState {
                code: account_code,
                head,
                sequence: 0,
                balance: TokenAmount::from_atto(NANO * 1_000_000_000),
                delegated_address: None,
            },
        ));
        init_map.push((
            addr.to_bytes(),
            fvm_ipld_encoding::to_vec(&id).map_err(|e| Error::Synth(e.to_string()))?,
        ));
        Ok(id)
    };
    for k in 0..cfg.new_accounts {
        new_account(&mut init, &mut actors, &mut init_map, k)?;
        stats.new_accounts += 1;
    }
    for k in 0..cfg.new_miners {
        let owner = new_account(&mut init, &mut actors, &mut init_map, 1000 + k)?;
        let id = init.next_id;
        init.next_id += 1;
        let params = SectorParams {
            seed: cfg.seed,
            miner: id,
            epoch: new_epoch,
            large: false,
            deals: None,
        };
        let sectors = build_sectors(buf, &params, cfg.new_miner_sectors)?;
        let m = assemble(
            buf,
            &MinerInputs {
                params,
                owner,
                worker: owner,
                sectors: sectors.current,
                snapshots: &sectors.older,
                live: &sectors.live,
                precommits: &[],
                mixed_vesting: false,
            },
        )?;
        buf.flush(&m.head)?;
        actors.push((
            Address::new_id(id).to_bytes(),
            ActorState {
                code: miner_code,
                head: m.head,
                sequence: 0,
                balance: TokenAmount::from_atto(0u64),
                delegated_address: None,
            },
        ));
        init_map.push((
            Address::new_actor(&id.to_be_bytes()).to_bytes(),
            fvm_ipld_encoding::to_vec(&id).map_err(|e| Error::Synth(e.to_string()))?,
        ));
        claims.insert(
            id,
            fil_actor_power_state::v11::Claim {
                window_post_proof_type:
                    fvm_shared3::sector::RegisteredPoStProof::StackedDRGWindow32GiBV1,
                raw_byte_power: m.raw_power,
                quality_adj_power: m.qa_power,
            },
        );
        stats.new_miners += 1;
        stats.added += sectors.live.len() as u64;
    }
    init.address_map = hamt_from(buf, init_map)?;
    actors[init_i].1.head = put_cbor(buf, &init)?;

    // Power: claims of every miner, totals recomputed.
    let power_i =
        find(&actors, "storagepower").ok_or_else(|| Error::Synth("no power actor".into()))?;
    let mut power: fil_actor_power_state::v11::State =
        get_cbor(buf, &actors[power_i].1.head, "power state")?;
    let mut claim_entries: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for_each_entry(buf, &power.claims, 5, |k, v| {
        claim_entries.insert(k.to_vec(), v.to_vec());
        Ok(())
    })?;
    for (id, c) in &claims {
        claim_entries.insert(
            Address::new_id(*id).to_bytes(),
            fvm_ipld_encoding::to_vec(c).map_err(|e| Error::Synth(e.to_string()))?,
        );
    }
    let (mut raw, mut qa) = (BigInt::from(0), BigInt::from(0));
    for v in claim_entries.values() {
        let c: fil_actor_power_state::v11::Claim = fvm_ipld_encoding::from_slice(v)
            .map_err(|e| Error::Synth(format!("power claim: {e}")))?;
        raw += c.raw_byte_power;
        qa += c.quality_adj_power;
    }
    power.miner_count = claim_entries.len() as i64;
    power.claims = hamt_from(buf, claim_entries.into_iter().collect())?;
    power.total_raw_byte_power = raw.clone();
    power.total_bytes_committed = raw.clone();
    power.this_epoch_raw_byte_power = raw;
    power.total_quality_adj_power = qa.clone();
    power.total_qa_bytes_committed = qa.clone();
    power.this_epoch_quality_adj_power = qa;
    actors[power_i].1.head = put_cbor(buf, &power)?;

    let entries = actors
        .into_iter()
        .map(|(k, a)| {
            Ok((
                k,
                fvm_ipld_encoding::to_vec(&a).map_err(|e| Error::Synth(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let actors_root = hamt_from(buf, entries)?;
    let root = StateRoot {
        version: sr.version,
        actors: actors_root,
        info: sr.info,
    }
    .store(buf)?;
    Ok((root, stats))
}

fn churn_miner<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
    id: u64,
    head: &Cid,
    cfg: &ChurnConfig,
    new_epoch: i64,
    stats: &mut ChurnStats,
    mut market: Option<&mut MarketChurn>,
) -> Result<(Cid, fil_actor_power_state::v11::Claim)> {
    let mut st: miner::State = get_cbor(buf, head, "miner state v11")?;
    let info: miner::MinerInfo = get_cbor(buf, &st.info, "miner info v11")?;
    let large = info.sector_size == fvm_shared3::sector::SectorSize::_64GiB;
    let params = SectorParams {
        seed: cfg.seed,
        miner: id,
        epoch: new_epoch,
        large,
        deals: None,
    };
    let e = cfg.epochs as f64;
    let mut live: Vec<SectorSummary> = Vec::new();
    let mut max_number: Option<u64> = None;
    let mut patcher = AmtPatcher::open(buf, &st.sectors)?
        .with_subtree_hook(Box::new(flush_when_over_budget(buf)));
    let mut count = 0u64;
    let mut enc = Vec::new();
    for_each_value(buf, &st.sectors, |i, bytes| {
        count += 1;
        max_number = Some(i);
        let mut s: miner::SectorOnChainInfo = fvm_ipld_encoding::from_slice(bytes)
            .map_err(|err| Error::Synth(format!("miner f0{id} sector {i}: {err}")))?;
        let r = |k: u64| [cfg.seed, id, i, k];
        let (remove, modify) = match cfg.change_fraction {
            Some(f) => (chance(&r(1), f / 3.0), chance(&r(2), f / 3.0)),
            None => (
                s.expiration <= new_epoch || chance(&r(1), cfg.termination_rate * e),
                chance(&r(2), cfg.extension_rate * e) || chance(&r(3), cfg.snap_rate * e),
            ),
        };
        if remove {
            if let (Some(m), true) = (market.as_deref_mut(), s.expiration > new_epoch) {
                m.terminate(&s.deal_ids);
            }
            patcher.apply(Patch::Delete(i))?;
            stats.removed += 1;
            return Ok(());
        }
        if modify {
            if s.deal_ids.is_empty() && s.sector_key_cid.is_none() && chance(&r(4), 0.2) {
                // Snap upgrade: new data, the old sealed CID becomes the key.
                s.sector_key_cid = Some(s.sealed_cid);
                s.sealed_cid = commitment(COMMR_CODEC, POSEIDON, mix(&r(5)));
                s.replaced_sector_age = new_epoch - s.activation;
                s.replaced_day_reward = s.expected_day_reward.clone();
                s.activation = new_epoch;
                s.deal_ids = match market.as_deref_mut() {
                    Some(m) => m.activate(id, 1, s.expiration),
                    None => vec![60_000_000 + mix(&r(6)) % 1_000_000],
                };
            } else {
                s.expiration += 180 * EPOCHS_PER_DAY;
            }
            enc.clear();
            enc = fvm_ipld_encoding::to_vec(&s).map_err(|err| Error::Synth(err.to_string()))?;
            patcher.apply(Patch::Set(i, &enc))?;
            stats.modified += 1;
        }
        live.push(summary_of(&s));
        Ok(())
    })?;
    let allocated: BitField = get_cbor(buf, &st.allocated_sectors, "allocated sectors")?;
    let first_new = allocated
        .last()
        .map_or(0, |m| m + 1)
        .max(max_number.map_or(0, |m| m + 1));
    let added = match cfg.change_fraction {
        Some(f) => (count as f64 * f / 3.0).round() as u64,
        None => (count as f64 * cfg.onboarding_rate * e).round() as u64,
    };
    for number in first_new..first_new + added {
        let mut s = sector_info(&params, number, 0);
        if let Some(m) = market.as_deref_mut() {
            if !s.deal_ids.is_empty() {
                s.deal_ids = m.activate(id, s.deal_ids.len(), s.expiration);
            }
        }
        enc = fvm_ipld_encoding::to_vec(&s).map_err(|err| Error::Synth(err.to_string()))?;
        patcher.apply(Patch::Set(number, &enc))?;
        live.push(summary_of(&s));
    }
    stats.added += added;
    let new_sectors = patcher.finish()?;

    // Deadlines whose challenge window closed during the churn get the old sectors as snapshot.
    let old: miner::Deadlines = get_cbor(buf, &st.deadlines, "deadlines v11")?;
    let closed: Vec<usize> = (0..((cfg.epochs / 60 + 1).min(48)) as u64)
        .map(|k| ((st.current_deadline + k) % 48) as usize)
        .collect();
    let mut snapshots = Vec::with_capacity(48);
    for (d, c) in old.due.iter().enumerate() {
        if closed.contains(&d) {
            snapshots.push(st.sectors);
        } else {
            let dl: miner::Deadline = get_cbor(buf, c, "deadline v11")?;
            snapshots.push(dl.sectors_snapshot);
        }
    }
    let posts = if cfg.window_post {
        // The windows of `closed` but its last passed whole; that one is
        // open now, and the miner's current deadline.
        let passed = closed.len() - 1;
        let posts = postings(st.current_deadline, passed);
        let moved = st.current_deadline + passed as u64;
        st.current_deadline = moved % 48;
        if moved >= 48 {
            st.proving_period_start += Policy::default().wpost_proving_period;
        }
        posts
    } else {
        [Posting::None; 48]
    };
    let mut faults = FaultBook::read(buf, &old)?.with_rates(cfg.faults);
    let built = build_deadlines(
        buf,
        &params,
        st.proving_period_start,
        &live,
        &snapshots,
        &posts,
        &mut faults,
    )?;
    stats.faults.add(&built.faults);
    st.sectors = new_sectors;
    st.deadlines = built.deadlines;
    st.initial_pledge = TokenAmount::from_atto(BigInt::from(built.pledge_nano) * NANO);
    if added > 0 {
        let mut all = allocated;
        all |= &BitField::try_from_bits(first_new..first_new + added)
            .map_err(|err| Error::Synth(err.to_string()))?;
        st.allocated_sectors = put_cbor(buf, &all)?;
    }
    let head = put_cbor(buf, &st)?;
    Ok((
        head,
        fil_actor_power_state::v11::Claim {
            window_post_proof_type: info.window_post_proof_type,
            raw_byte_power: built.raw_power,
            quality_adj_power: built.qa_power,
        },
    ))
}
