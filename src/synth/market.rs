//! A synthetic storage market consistent with the miners (for nv22, which
//! rewrites every deal state and reads every proposal): a proposal and a
//! state for the deals that sectors list, with the situations of docs/upgrades/nv22.md
//! present on purpose, plus deals no sector lists any more (the
//! reference's "ghost deals"), pending proposals, and the escrow and locked
//! balance tables. Built with the v11 types (v11 and v12 markets encode the
//! same); deal IDs arrive in ascending order, so both AMTs are built
//! bottom-up as they stream.

use cid::Cid;
use fil_actor_market_state::v11::{DealProposal, DealState, Label, State};
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::Address;
use fvm_shared3::econ::TokenAmount;
use fvm_shared3::piece::PaddedPieceSize;
use rustc_hash::FxHashMap;

use super::sector_gen::{mix, EPOCHS_PER_DAY};
use super::singletons::hamt_from;
use crate::actors::state_tree::put_cbor;
use crate::error::{Error, Result};
use crate::ipld::amt::AmtBuilder;
use crate::ipld::cids::cbor_cid;
use crate::store::BufferedBlockstore;

/// What happened to a deal a sector lists, by the time of the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealCase {
    /// Active: not slashed, ends at or after the upgrade.
    Active,
    /// Slashed (its sector was terminated).
    Slashed,
    /// Ended before the upgrade; the state not yet cleaned up.
    Expired,
    /// Cleaned up: the sector still lists it, the market has neither
    /// proposal nor state.
    NoState,
}

/// The case of listed deal `deal` (5% no state, 5% slashed, 8% expired).
pub fn listed_case(seed: u64, deal: u64) -> DealCase {
    match mix(&[seed, deal, 300]) % 100 {
        0..=4 => DealCase::NoState,
        5..=9 => DealCase::Slashed,
        10..=17 => DealCase::Expired,
        _ => DealCase::Active,
    }
}

/// Builds the market state as deals arrive.
pub struct MarketBuilder<'s, B: Blockstore> {
    buf: &'s BufferedBlockstore<B>,
    seed: u64,
    epoch: i64,
    upgrade: i64,
    proposals: AmtBuilder<'s, BufferedBlockstore<B>>,
    states: AmtBuilder<'s, BufferedBlockstore<B>>,
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    /// Escrow and locked amounts (attoFIL) by client or provider ID.
    balances: FxHashMap<u64, (u128, u128)>,
    totals: [u128; 3],
    next_id: u64,
    /// Deal states written.
    pub deal_states: u64,
    /// Proposals written.
    pub proposals_written: u64,
}

impl<'s, B: Blockstore> MarketBuilder<'s, B> {
    /// A market for a state at `epoch` that will be upgraded at `upgrade`.
    pub fn new(
        buf: &'s BufferedBlockstore<B>,
        seed: u64,
        epoch: i64,
        upgrade: i64,
    ) -> Result<Self> {
        Ok(MarketBuilder {
            buf,
            seed,
            epoch,
            upgrade,
            proposals: AmtBuilder::new(buf, 5)?,
            states: AmtBuilder::new(buf, 6)?,
            pending: Vec::new(),
            balances: FxHashMap::default(),
            totals: [0; 3],
            next_id: 0,
            deal_states: 0,
            proposals_written: 0,
        })
    }

    fn put_proposal(&mut self, deal: u64, p: &DealProposal) -> Result<Cid> {
        let bytes = fvm_ipld_encoding::to_vec(p).map_err(|e| Error::Synth(e.to_string()))?;
        self.proposals.push(deal, &bytes)?;
        self.proposals_written += 1;
        let collateral = atto(&p.provider_collateral);
        let fee = atto(&p.storage_price_per_epoch) * (p.end_epoch - p.start_epoch).max(0) as u128;
        let provider = p.provider.id().unwrap_or_default();
        let client = p.client.id().unwrap_or_default();
        let e = self.balances.entry(provider).or_default();
        e.0 += collateral * 2;
        e.1 += collateral;
        let e = self.balances.entry(client).or_default();
        e.0 += fee * 2;
        e.1 += fee;
        self.totals[1] += collateral;
        self.totals[2] += fee;
        self.next_id = self.next_id.max(deal + 1);
        Ok(cbor_cid(&bytes))
    }

    fn put_state(&mut self, deal: u64, st: &DealState) -> Result<()> {
        let bytes = fvm_ipld_encoding::to_vec(st).map_err(|e| Error::Synth(e.to_string()))?;
        self.states.push(deal, &bytes)?;
        self.deal_states += 1;
        Ok(())
    }

    /// A deal a sector lists (activated at `activation`, the sector expiring
    /// at `expiration`), its case by [`listed_case`].
    pub fn listed(
        &mut self,
        deal: u64,
        provider: u64,
        client: u64,
        activation: i64,
        expiration: i64,
    ) -> Result<()> {
        let case = listed_case(self.seed, deal);
        if case == DealCase::NoState {
            self.next_id = self.next_id.max(deal + 1);
            return Ok(());
        }
        let seed = self.seed;
        let r = |k: u64| mix(&[seed, deal, k]);
        let start = activation;
        let end = match case {
            // After the activation, before the upgrade.
            DealCase::Expired => {
                let span = (self.upgrade - 1 - start).max(1) as u64;
                (start + 1 + (r(330) % span) as i64).min(self.upgrade - 1)
            }
            // At or after the upgrade, not after the sector's expiration
            // (a sector that expires first leaves its deal ended early).
            _ => {
                let room = (expiration - self.upgrade).max(0) as u64;
                (self.upgrade + (r(331) % (room + 1)) as i64).min(expiration)
            }
        }
        .max(start + 1);
        let p = deal_proposal(self.seed, deal, provider, client, start, end);
        self.put_proposal(deal, &p)?;
        let slash = if case == DealCase::Slashed {
            (self.epoch - 1 - (r(332) % (10 * EPOCHS_PER_DAY as u64)) as i64).max(start)
        } else {
            -1
        };
        self.put_state(
            deal,
            &DealState {
                sector_start_epoch: start,
                last_updated_epoch: if r(333) % 3 == 0 {
                    -1
                } else {
                    self.epoch - 1 - (r(334) % 2880) as i64
                },
                slash_epoch: slash,
                verified_claim: if p.verified_deal { deal + 1 } else { 0 },
            },
        )
    }

    /// An active deal whose sector no miner lists (the sector was removed
    /// from its miner's AMT): it migrates with sector number 0.
    pub fn ghost(&mut self, deal: u64, provider: u64, client: u64) -> Result<()> {
        let start = self.epoch - 100 * EPOCHS_PER_DAY;
        let end = self.upgrade + 200 * EPOCHS_PER_DAY;
        let p = deal_proposal(self.seed, deal, provider, client, start, end);
        self.put_proposal(deal, &p)?;
        self.put_state(
            deal,
            &DealState {
                sector_start_epoch: start,
                last_updated_epoch: self.epoch - 10,
                slash_epoch: -1,
                verified_claim: 0,
            },
        )
    }

    /// A published deal not yet activated: a proposal, listed as pending,
    /// and no state.
    pub fn pending(&mut self, deal: u64, provider: u64, client: u64) -> Result<()> {
        let start = self.epoch + 2 * EPOCHS_PER_DAY;
        let p = deal_proposal(
            self.seed,
            deal,
            provider,
            client,
            start,
            start + 200 * EPOCHS_PER_DAY,
        );
        let cid = self.put_proposal(deal, &p)?;
        let unit = fvm_ipld_encoding::to_vec(&()).map_err(|e| Error::Synth(e.to_string()))?;
        self.pending.push((cid.to_bytes(), unit));
        Ok(())
    }

    /// The market state, and the next deal ID.
    pub fn finish(self, last_cron: i64) -> Result<(Cid, u64)> {
        let buf = self.buf;
        let mut st = State::new(buf).map_err(|e| Error::Synth(format!("market state: {e}")))?;
        st.proposals = self.proposals.finish()?;
        st.states = self.states.finish()?;
        st.pending_proposals = hamt_from(buf, self.pending)?;
        let mut escrow = Vec::with_capacity(self.balances.len());
        let mut locked = Vec::with_capacity(self.balances.len());
        for (id, (e, l)) in &self.balances {
            let key = Address::new_id(*id).to_bytes();
            escrow.push((key.clone(), token(*e)?));
            locked.push((key, token(*l)?));
        }
        st.escrow_table = hamt_from(buf, escrow)?;
        st.locked_table = hamt_from(buf, locked)?;
        st.next_id = self.next_id.max(1);
        st.last_cron = last_cron;
        // Clients post no collateral here (as on mainnet, mostly).
        st.total_client_locked_collateral = TokenAmount::from_atto(0u64);
        st.total_provider_locked_collateral = TokenAmount::from_atto(self.totals[1]);
        st.total_client_storage_fee = TokenAmount::from_atto(self.totals[2]);
        let head = put_cbor(buf, &st)?;
        Ok((head, st.next_id))
    }
}

fn atto(t: &TokenAmount) -> u128 {
    u128::try_from(t.atto()).unwrap_or(0)
}

fn token(v: u128) -> Result<Vec<u8>> {
    fvm_ipld_encoding::to_vec(&TokenAmount::from_atto(v)).map_err(|e| Error::Synth(e.to_string()))
}

/// A deal proposal between `client` and `provider` for epochs `start..end`
/// (piece, size, label and price drawn from `seed` and the deal ID).
pub fn deal_proposal(
    seed: u64,
    deal: u64,
    provider: u64,
    client: u64,
    start: i64,
    end: i64,
) -> DealProposal {
    let r = |k: u64| mix(&[seed, deal, k]);
    let mut digest = [0u8; 32];
    for (i, c) in digest.chunks_mut(8).enumerate() {
        c.copy_from_slice(&r(310 + i as u64).to_le_bytes());
    }
    digest[31] &= 0x3f; // a Fr32 commitment
    let piece_cid = Cid::new_v1(
        fvm_shared3::commcid::FIL_COMMITMENT_UNSEALED,
        cid::multihash::Multihash::wrap(fvm_shared3::commcid::SHA2_256_TRUNC254_PADDED, &digest)
            .expect("32-byte digest"),
    );
    let price = TokenAmount::from_atto(r(320) % 1_000_000);
    DealProposal {
        piece_cid,
        piece_size: PaddedPieceSize(1 << (20 + r(321) % 16)),
        verified_deal: r(322) % 2 == 0,
        client: Address::new_id(client),
        provider: Address::new_id(provider),
        label: if r(323) % 4 == 0 {
            Label::Bytes(r(324).to_le_bytes().to_vec())
        } else {
            Label::String(format!("bafk{:016x}", r(325)))
        },
        start_epoch: start,
        end_epoch: end,
        storage_price_per_epoch: price,
        provider_collateral: TokenAmount::from_atto(r(326) % 1_000_000_000_000),
        client_collateral: TokenAmount::from_atto(0u64),
    }
}
