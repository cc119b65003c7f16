//! The market's side of a churn (`gen --from` on a state with deals): new
//! sectors and snap upgrades list newly activated deals (IDs from the
//! market's `next_id`, proposals and states written), terminated sectors'
//! deals are slashed, the cron updates some deal states and cleans some up.
//! What nv22's final migration meets after a premigration.

use cid::Cid;
use fil_actor_market_state::v11::{DealProposal, DealState, State};
use fvm_ipld_blockstore::Blockstore;

use super::market::deal_proposal;
use super::sector_gen::{mix, EPOCHS_PER_DAY};
use super::singletons::ids;
use crate::actors::state_tree::{get_cbor, put_cbor};
use crate::error::{Error, Result};
use crate::ipld::amt::{get_value, AmtPatcher, AmtRoot, Patch};
use crate::store::BufferedBlockstore;

/// A deal activated during the churn.
struct NewDeal {
    deal: u64,
    provider: u64,
    activation: i64,
    expiration: i64,
}

/// What the churn does to the market, gathered while the miners churn.
pub struct MarketChurn {
    seed: u64,
    epoch: i64,
    next_id: u64,
    deal_states: u64,
    new_deals: Vec<NewDeal>,
    slashed: Vec<u64>,
}

/// What [`MarketChurn::apply`] did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct MarketChurnStats {
    /// Deals activated.
    pub activated: u64,
    /// Deals slashed (their sector terminated).
    pub slashed: u64,
    /// Deal states updated by the cron.
    pub updated: u64,
    /// Deals cleaned up (state and proposal removed).
    pub removed: u64,
}

impl MarketChurn {
    /// The churn of the market `head`, if it holds deals (a market without
    /// any is left to the plain churn: sectors keep random deal IDs).
    pub fn open<B: Blockstore>(
        buf: &BufferedBlockstore<B>,
        head: &Cid,
        seed: u64,
        epoch: i64,
    ) -> Result<Option<Self>> {
        let st: State = get_cbor(buf, head, "market state")?;
        let deal_states = AmtRoot::load(buf, &st.states)?.count;
        Ok((deal_states > 0).then_some(MarketChurn {
            seed,
            epoch,
            next_id: st.next_id,
            deal_states,
            new_deals: Vec::new(),
            slashed: Vec::new(),
        }))
    }

    /// `n` new deal IDs for a sector of `provider` activated now.
    pub fn activate(&mut self, provider: u64, n: usize, expiration: i64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let deal = self.next_id;
                self.next_id += 1;
                self.new_deals.push(NewDeal {
                    deal,
                    provider,
                    activation: self.epoch,
                    expiration,
                });
                deal
            })
            .collect()
    }

    /// The deals of a terminated sector.
    pub fn terminate(&mut self, deals: &[u64]) {
        self.slashed.extend_from_slice(deals);
    }

    /// Writes the changes into the market `head`; `epochs` is the churn's length.
    pub fn apply<B: Blockstore>(
        self,
        buf: &BufferedBlockstore<B>,
        head: &Cid,
        epochs: i64,
    ) -> Result<(Cid, MarketChurnStats)> {
        let mut st: State = get_cbor(buf, head, "market state")?;
        let mut stats = MarketChurnStats::default();
        let bad = |e: fvm_ipld_encoding::Error| Error::Synth(format!("market churn: {e}"));
        // The cron touches about 1 in 10,000 deals per 120 epochs and
        // cleans up a tenth as many.
        let touched = (self.deal_states * epochs as u64 / 1_200_000).max(1);
        let picks = |k: u64| {
            let mut v: Vec<u64> = (0..touched)
                .map(|i| mix(&[self.seed, self.epoch as u64, i, k]) % st.next_id.max(1))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (updates, removals) = (picks(401), picks(402));
        let removals: Vec<u64> = removals
            .into_iter()
            .take((touched / 10).max(1) as usize)
            .collect();
        let mut slashed = self.slashed.clone();
        slashed.sort_unstable();
        // (deal, new state or None to remove).
        let mut states: Vec<(u64, Option<DealState>)> = Vec::new();
        let mut proposals: Vec<(u64, Option<DealProposal>)> = Vec::new();
        let old_state = |deal: u64| -> Result<Option<DealState>> {
            get_value(buf, &st.states, deal)?
                .map(|v| fvm_ipld_encoding::from_slice(&v).map_err(bad))
                .transpose()
        };
        let mut ids: Vec<u64> = updates
            .iter()
            .chain(&slashed)
            .chain(&removals)
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for deal in ids {
            let Some(mut s) = old_state(deal)? else {
                continue;
            };
            if removals.binary_search(&deal).is_ok() {
                states.push((deal, None));
                proposals.push((deal, None));
                stats.removed += 1;
                continue;
            }
            if slashed.binary_search(&deal).is_ok() && s.slash_epoch == -1 {
                s.slash_epoch = self.epoch;
                stats.slashed += 1;
            }
            if updates.binary_search(&deal).is_ok() {
                s.last_updated_epoch = self.epoch - (mix(&[self.seed, deal, 403]) % 120) as i64;
                stats.updated += 1;
            }
            states.push((deal, Some(s)));
        }
        for d in &self.new_deals {
            let end = (d.activation + 180 * EPOCHS_PER_DAY).min(d.expiration);
            let p = deal_proposal(
                self.seed,
                d.deal,
                d.provider,
                ids::FIRST_NON_SINGLETON,
                d.activation,
                end,
            );
            proposals.push((d.deal, Some(p)));
            states.push((
                d.deal,
                Some(DealState {
                    sector_start_epoch: d.activation,
                    last_updated_epoch: -1,
                    slash_epoch: -1,
                    verified_claim: 0,
                }),
            ));
            stats.activated += 1;
        }
        st.states = patch(buf, &st.states, states)?;
        st.proposals = patch(buf, &st.proposals, proposals)?;
        st.next_id = self.next_id;
        st.last_cron = self.epoch;
        Ok((put_cbor(buf, &st)?, stats))
    }
}

/// Applies sets and deletes (any order) to the AMT `root`.
fn patch<B: Blockstore, T: serde::Serialize>(
    buf: &BufferedBlockstore<B>,
    root: &Cid,
    mut changes: Vec<(u64, Option<T>)>,
) -> Result<Cid> {
    changes.sort_by_key(|c| c.0);
    let mut p = AmtPatcher::open(buf, root)?;
    for (i, v) in &changes {
        match v {
            Some(v) => {
                let bytes =
                    fvm_ipld_encoding::to_vec(v).map_err(|e| Error::Synth(e.to_string()))?;
                p.apply(Patch::Set(*i, &bytes))?;
            }
            None => p.apply(Patch::Delete(*i))?,
        }
    }
    p.finish()
}
