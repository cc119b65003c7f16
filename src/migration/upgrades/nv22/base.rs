//! The market's diff base: what the last nv22 run on this cache read and
//! wrote, in one block named by one cache entry, so the five roots are
//! recorded together or not at all. The reference's own keys
//! (`prevDealStatesIn-<addr>`, …) are written beside it for tools that look
//! for them; the engine reads the block.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;

use crate::actors::state_tree::{get_cbor, put_cbor};
use crate::error::{Error, Result};
use crate::migration::cache::PREV_ACTORS_IN;
use crate::migration::context::MigrationCtx;

/// Levels of the new market state, and of its base, flushed in parallel
/// (`BufferedBlockstore::flush_parallel_to`): the head, the AMT's root
/// block and its root node's 64 children.
pub(crate) const MARKET_FLUSH_DEPTH: u32 = 3;

/// Cache key of the base block.
pub const MARKET_BASE_KEY: &str = "prevMarketBase";

/// The roots of the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct MarketBase {
    /// The input actors HAMT the base was made from: the miners a patch
    /// visits are those that changed since the actors-tree base
    /// (`prevActorsIn`), so a market base of any other state is not used.
    pub actors_in: Cid,
    /// Input deal states AMT.
    pub states_in: Cid,
    /// Input deal proposals AMT.
    pub proposals_in: Cid,
    /// Output deal states AMT.
    pub states_out: Cid,
    /// Output `ProviderSectors` HAMT.
    pub provider_sectors: Cid,
    /// Deal → listings index (see [`super::listings`]).
    pub listings: Cid,
}

impl MarketBase {
    /// The base the cache holds, if it was made from the actors tree the
    /// actors-tree base names and every root of it can be read (an input
    /// tree of an earlier snapshot may be gone, a store damaged, a later
    /// run's cached tree may have moved the actors-tree base to another
    /// state).
    pub fn load(ctx: &MigrationCtx<'_>) -> Result<Option<Self>> {
        let Some(cid) = ctx.cache.get(MARKET_BASE_KEY)? else {
            return Ok(None);
        };
        if !ctx.store.has(&cid).map_err(Error::from_blockstore)? {
            return Ok(None);
        }
        let base: MarketBase = match get_cbor(ctx.store, &cid, "nv22 market base") {
            Ok(b) => b,
            Err(e) => {
                // A base of an earlier layout: the market is rebuilt.
                tracing::warn!("{e}: the market is migrated from scratch");
                return Ok(None);
            }
        };
        if ctx.cache.get(PREV_ACTORS_IN)? != Some(base.actors_in) {
            tracing::info!(
                "nv22 market base {cid} was made from actors tree {}, not the actors-tree base: the market is migrated from scratch",
                base.actors_in
            );
            return Ok(None);
        }
        for root in [
            base.states_in,
            base.proposals_in,
            base.states_out,
            base.provider_sectors,
            base.listings,
        ] {
            if !ctx.store.has(&root).map_err(Error::from_blockstore)? {
                tracing::warn!(
                    "nv22 market base {cid}: root {root} is not readable: the market is migrated from scratch"
                );
                return Ok(None);
            }
        }
        Ok(Some(base))
    }

    /// Records this run's roots for the next one (`market` is the market
    /// actor's address, for the reference's keys).
    pub fn record(&self, ctx: &MigrationCtx<'_>, market: &str) -> Result<()> {
        let cid = put_cbor(ctx.store, self)?;
        // Cache entries name only blocks the store holds: the base and the
        // listings index are in no state's DAG (the index, one entry per
        // listed deal, is written on every core).
        ctx.store.flush_parallel_to(&cid, MARKET_FLUSH_DEPTH)?;
        ctx.cache.put_many(&[
            (MARKET_BASE_KEY, cid),
            (&format!("prevDealStatesIn-{market}"), self.states_in),
            (&format!("prevDealProposalsIn-{market}"), self.proposals_in),
            (&format!("prevDealStatesOut-{market}"), self.states_out),
            (
                &format!("prevProviderSectorsOut-{market}"),
                self.provider_sectors,
            ),
        ])
    }
}
