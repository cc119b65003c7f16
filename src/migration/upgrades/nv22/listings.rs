//! Which kept sectors list each deal, as an AMT in the store (deal ID →
//! `[[miner, sector], …]` ascending): the inverse of `ProviderSectors`. The
//! market's incremental pass patches it with the listings of the miners
//! that changed and reads the sector of a changed deal from it, so a deal
//! whose listing sits in a miner that did not change is still answered, and
//! answered as the from-scratch pass would (the highest listing).
//! Not a chain structure: it lives in the cache's diff base only.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::collect::DealListing;
use crate::error::{Error, Result};
use crate::ipld::amt::{get_value, par_build, AmtPatcher, Patch};
use crate::ipld::cbor::{self, major, Cursor};
use crate::migration::context::MigrationCtx;

/// Bit width of the index.
pub const LISTINGS_BITWIDTH: u32 = 5;

/// A listing gained or lost by a changed miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListingChange {
    /// The listing.
    pub listing: DealListing,
    /// Gained (else lost).
    pub added: bool,
}

fn encode(pairs: &[(u64, u64)], out: &mut Vec<u8>) {
    out.clear();
    cbor::write_header(out, major::ARRAY, pairs.len() as u64);
    for (m, s) in pairs {
        cbor::write_header(out, major::ARRAY, 2);
        cbor::write_header(out, major::UINT, *m);
        cbor::write_header(out, major::UINT, *s);
    }
}

fn decode(v: &[u8], root: &Cid, deal: u64) -> Result<Vec<(u64, u64)>> {
    let mut cur = Cursor::new(v);
    let bad = |e: cbor::CborError| Error::Malformed {
        what: "deal listings index",
        cid: *root,
        reason: format!("deal {deal}: {}", e.reason),
    };
    let n = cur.array().map_err(bad)?;
    let mut out = Vec::with_capacity(n.min(16) as usize);
    for _ in 0..n {
        if cur.array().map_err(bad)? != 2 {
            return Err(Error::Malformed {
                what: "deal listings index",
                cid: *root,
                reason: format!("deal {deal}: not a [miner, sector] pair"),
            });
        }
        out.push((cur.uint().map_err(bad)?, cur.uint().map_err(bad)?));
    }
    Ok(out)
}

/// Builds the index of `listings` (sorted as `Collected::take` leaves them),
/// its subtrees on every core.
pub fn build(ctx: &MigrationCtx<'_>, listings: &[DealListing]) -> Result<Cid> {
    par_build(
        ctx.store,
        LISTINGS_BITWIDTH,
        listings,
        |l| l.deal,
        |group, out| {
            let mut pairs: Vec<(u64, u64)> = group.iter().map(|l| (l.miner, l.sector)).collect();
            // A set: a sector whose list names a deal twice lists it once here.
            pairs.dedup();
            encode(&pairs, out);
            Ok(())
        },
        |c| ctx.flush_if_over_budget(c),
    )
}

/// The listings of `deal`.
pub fn lookup<S: Blockstore>(store: &S, root: &Cid, deal: u64) -> Result<Vec<(u64, u64)>> {
    match get_value(store, root, deal)? {
        Some(v) => decode(&v, root, deal),
        None => Ok(Vec::new()),
    }
}

/// The sector a deal gets from its listings: the highest (miner, sector).
pub fn winner(pairs: &[(u64, u64)]) -> Option<u64> {
    pairs.last().map(|p| p.1)
}

/// Applies `changes` (sorted) to the index `root`; returns the new root and
/// the deals whose listings changed.
pub fn patch(
    ctx: &MigrationCtx<'_>,
    root: &Cid,
    changes: &[ListingChange],
) -> Result<(Cid, Vec<u64>)> {
    let mut patcher = AmtPatcher::open(ctx.store, root)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut touched = Vec::new();
    let mut out = Vec::new();
    for group in changes.chunk_by(|a, b| a.listing.deal == b.listing.deal) {
        let deal = group[0].listing.deal;
        let mut pairs = lookup(ctx.store, root, deal)?;
        for c in group {
            let p = (c.listing.miner, c.listing.sector);
            match (c.added, pairs.binary_search(&p)) {
                (true, Err(i)) => pairs.insert(i, p),
                (false, Ok(i)) => {
                    pairs.remove(i);
                }
                // A sector's list may name a deal twice: the pair stays.
                _ => {}
            }
        }
        if pairs.is_empty() {
            patcher.apply(Patch::Delete(deal))?;
        } else {
            encode(&pairs, &mut out);
            patcher.apply(Patch::Set(deal, &out))?;
        }
        touched.push(deal);
    }
    Ok((patcher.finish()?, touched))
}
