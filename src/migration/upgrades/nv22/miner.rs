//! nv22's miner migrator: the miner keeps its head (only its code changes),
//! but its sectors are read for the market pass: a sector with deals that
//! expires at or after the upgrade epoch is *kept*, its deal IDs listed, and
//! it gets an entry in the miner's `ProviderSectors` inner map (sector
//! number → its whole deal list, in on-chain order).
//!
//! The inner map is a function of the sectors AMT alone, so it is cached
//! under `providerSectors-<sectors root>`; a miner whose sectors changed
//! since the last run is diffed against that run's input
//! (`prevSectorsIn-<addr>`) and its map patched, the keep rule applied to
//! each changed sector's new value (so none of the reference diff path's
//! divergences, docs/upgrades/nv22.md, can happen); else it is built from scratch.

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use fvm_ipld_hamt::{BytesKey, Hamt};

use super::collect::{Collected, DealListing};
use crate::error::{Error, Result};
use crate::ipld::amt::{diff, for_each_value, AmtRoot};
use crate::ipld::cbor::{self, major, Cursor};
use crate::ipld::hamt::{for_each_entry, key_hash, HamtBuilder};
use crate::migration::cache::prev_sectors_in_key;
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::head_tuple::HeadTuple;
use crate::migration::migrators::ActorMigrator;
use crate::migration::retain::InputTree;

pub use crate::actors::miner_layout::SECTORS_AMT_BITWIDTH;
use crate::actors::miner_layout::{STATE_FIELDS, STATE_SECTORS};
/// Bit width of both levels of `ProviderSectors` (v13 `HAMT_BIT_WIDTH`).
pub const PROVIDER_SECTORS_BITWIDTH: u32 = 5;
const SECTOR_FIELDS: u64 = 15;
const SECTOR_DEALS: usize = 3;
const SECTOR_EXPIRATION: usize = 5;

/// Cache key of the `ProviderSectors` inner map of a sectors AMT (the empty
/// map's CID when no sector is kept).
pub fn inner_map_key(sectors: &Cid) -> String {
    format!("providerSectors-{sectors}")
}

/// The empty `ProviderSectors` map (stored).
pub fn empty_map<S: Blockstore>(store: &S) -> Result<Cid> {
    HamtBuilder::new(store, PROVIDER_SECTORS_BITWIDTH)?.finish()
}

/// Reads every miner's sectors into [`Collected`].
pub struct Nv22MinerMigrator {
    collected: Arc<Collected>,
    empty_sectors: Cid,
    empty_map: Cid,
}

impl Nv22MinerMigrator {
    /// A migrator filling `collected`.
    pub fn new<S: Blockstore>(store: &S, collected: Arc<Collected>) -> Result<Self> {
        let empty_sectors =
            crate::ipld::amt::AmtBuilder::new(store, SECTORS_AMT_BITWIDTH)?.finish()?;
        Ok(Nv22MinerMigrator {
            collected,
            empty_sectors,
            empty_map: empty_map(store)?,
        })
    }
}

impl ActorMigrator for Nv22MinerMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let sectors = HeadTuple::read(ctx, actor, STATE_FIELDS, "miner state v12")?
            .link(STATE_SECTORS, "miner state sectors")?;
        let miner = actor
            .id
            .ok_or_else(|| Error::WrongState("a miner without an ID address".into()))?;
        let want = self.collected.wants_listings();
        if sectors != self.empty_sectors {
            let (inner, listings) = self.inner_map(ctx, actor, &sectors, miner, want)?;
            self.collected.add_miner(miner, listings, inner);
        } else if !want {
            // A patched market must hear of a miner left with no sectors.
            self.collected.add_miner(miner, Vec::new(), None);
        }
        // Heads that stay are the input's own: nothing to look up at flush.
        ctx.store.vouch(std::slice::from_ref(&actor.head));
        Ok(actor.head)
    }
}

impl Nv22MinerMigrator {
    /// The miner's inner map by the cheapest path, and its listings if
    /// `want_listings`; records the map and the diff base for the next run.
    fn inner_map(
        &self,
        ctx: &MigrationCtx<'_>,
        actor: &ActorInput,
        sectors: &Cid,
        miner: u64,
        want_listings: bool,
    ) -> Result<(Option<Cid>, Vec<DealListing>)> {
        let key = inner_map_key(sectors);
        let cached = match ctx.cache.get(&key)? {
            Some(c) if ctx.store.has(&c).map_err(Error::from_blockstore)? => Some(c),
            _ => None,
        };
        let (inner, listings) = match cached {
            Some(c) => (self.some(c), None),
            None => match self.diff_base(ctx, &actor.address)? {
                Some((pi, po)) => (self.patched(ctx, &actor.address, &pi, sectors, &po)?, None),
                None => {
                    let (l, inner) = kept_sectors(ctx, sectors, ctx.spec.height, miner)?;
                    (inner, Some(l))
                }
            },
        };
        if let Some(retain) = ctx.retain_inputs {
            (retain.0)(sectors, InputTree::Amt)?;
        }
        ctx.cache.put_many(&[
            (&key, inner.unwrap_or(self.empty_map)),
            (&prev_sectors_in_key(&actor.address), *sectors),
        ])?;
        let listings = match (want_listings, listings) {
            (false, _) => Vec::new(),
            (true, Some(l)) => l,
            (true, None) => match inner {
                Some(c) => listings_of(ctx, miner, &c)?,
                None => Vec::new(),
            },
        };
        Ok((inner, listings))
    }

    fn some(&self, map: Cid) -> Option<Cid> {
        (map != self.empty_map).then_some(map)
    }

    /// The last run's input sectors of `miner` and its inner map, if both
    /// are known and the input can still be read.
    fn diff_base(&self, ctx: &MigrationCtx<'_>, miner: &str) -> Result<Option<(Cid, Cid)>> {
        let Some(pi) = ctx.cache.get(&prev_sectors_in_key(miner))? else {
            return Ok(None);
        };
        let Some(po) = ctx.cache.get(&inner_map_key(&pi))? else {
            return Ok(None);
        };
        let readable = ctx.store.has(&pi).map_err(Error::from_blockstore)?
            && ctx.store.has(&po).map_err(Error::from_blockstore)?;
        Ok(readable.then_some((pi, po)))
    }

    /// The inner map of `sectors`: `base_map` (that of `base_sectors`) with
    /// every sector that differs between the two re-judged.
    fn patched(
        &self,
        ctx: &MigrationCtx<'_>,
        miner: &str,
        base_sectors: &Cid,
        sectors: &Cid,
        base_map: &Cid,
    ) -> Result<Option<Cid>> {
        let bad = |e: fvm_ipld_hamt::Error| Error::Malformed {
            what: "ProviderSectors map",
            cid: *base_map,
            reason: format!("miner {miner}: {e}"),
        };
        let mut map: Hamt<_, Vec<u64>, BytesKey> =
            Hamt::load_with_bit_width(base_map, ctx.store, PROVIDER_SECTORS_BITWIDTH)
                .map_err(bad)?;
        let u = ctx.spec.height;
        let judge = |i: u64, v: Option<&[u8]>| -> Result<Option<Vec<u64>>> {
            let Some(v) = v else { return Ok(None) };
            let mut deals = Vec::new();
            let exp = sector_deals(v, &mut deals).map_err(|e| Error::Malformed {
                what: "sectors AMT",
                cid: *sectors,
                reason: format!("sector {i}: {e}"),
            })?;
            Ok((!deals.is_empty() && exp >= u).then_some(deals))
        };
        let mut n = 0u64;
        diff(ctx.store, base_sectors, sectors, |c| {
            n += 1;
            if n.is_multiple_of(4096) {
                ctx.cancel.check()?;
            }
            let key = BytesKey(varint_key(c.index));
            match (judge(c.index, c.before)?, judge(c.index, c.after)?) {
                (_, Some(deals)) => {
                    map.set(key, deals).map_err(bad)?;
                }
                (Some(_), None) => {
                    map.delete(&key).map_err(bad)?;
                }
                (None, None) => {}
            }
            Ok(())
        })?;
        let root = map.flush().map_err(bad)?;
        Ok(self.some(root))
    }
}

/// A `ProviderSectors` key (miner ID or sector number): its unsigned varint.
pub fn varint_key(n: u64) -> Vec<u8> {
    unsigned_varint::encode::u64(n, &mut Default::default()).to_vec()
}

/// The listings an inner map holds (its sectors' deal lists).
fn listings_of(ctx: &MigrationCtx<'_>, miner: u64, inner: &Cid) -> Result<Vec<DealListing>> {
    let mut out = Vec::new();
    for_each_entry(ctx.store, inner, PROVIDER_SECTORS_BITWIDTH, |k, v| {
        let (sector, _) = unsigned_varint::decode::u64(k).map_err(|e| Error::Malformed {
            what: "ProviderSectors map",
            cid: *inner,
            reason: format!("key {k:02x?}: {e}"),
        })?;
        let deals = deal_list(v).map_err(|e| Error::Malformed {
            what: "ProviderSectors map",
            cid: *inner,
            reason: e.to_string(),
        })?;
        out.extend(deals.into_iter().map(|deal| DealListing {
            deal,
            miner,
            sector,
        }));
        Ok(())
    })?;
    Ok(out)
}

/// Decodes a `SectorDealIDs` value (a bare array of deal IDs).
pub fn deal_list(v: &[u8]) -> std::result::Result<Vec<u64>, String> {
    let mut cur = Cursor::new(v);
    let e = |e: cbor::CborError| format!("deal list: {} at byte {}", e.reason, e.offset);
    let n = cur.array().map_err(e)?;
    (0..n).map(|_| cur.uint().map_err(e)).collect()
}

/// The deal listings of the kept sectors of the sectors AMT `root`, and the
/// miner's `ProviderSectors` inner map built from them (`None` if no sector
/// is kept).
pub fn kept_sectors(
    ctx: &MigrationCtx<'_>,
    root: &Cid,
    upgrade_epoch: i64,
    miner: u64,
) -> Result<(Vec<DealListing>, Option<Cid>)> {
    let r = AmtRoot::load(ctx.store, root)?;
    if r.bit_width != SECTORS_AMT_BITWIDTH {
        return Err(Error::Malformed {
            what: "sectors AMT",
            cid: *root,
            reason: format!(
                "bit width {} (a v12 sectors AMT has {SECTORS_AMT_BITWIDTH})",
                r.bit_width
            ),
        });
    }
    let mut listings = Vec::new();
    // (hash of the key, key, value): the builder takes hash order.
    let mut entries: Vec<([u8; 32], Vec<u8>, Vec<u8>)> = Vec::new();
    let mut deals = Vec::new();
    let mut n = 0u64;
    for_each_value(ctx.store, root, |i, v| {
        n += 1;
        if n.is_multiple_of(4096) {
            ctx.cancel.check()?;
        }
        let expiration = sector_deals(v, &mut deals).map_err(|e| Error::Malformed {
            what: "sectors AMT",
            cid: *root,
            reason: format!("sector {i}: {e}"),
        })?;
        if deals.is_empty() || expiration < upgrade_epoch {
            return Ok(());
        }
        listings.extend(deals.iter().map(|&deal| DealListing {
            deal,
            miner,
            sector: i,
        }));
        let key = varint_key(i);
        let mut value = Vec::with_capacity(1 + 9 * deals.len());
        cbor::write_header(&mut value, major::ARRAY, deals.len() as u64);
        for d in &deals {
            cbor::write_header(&mut value, major::UINT, *d);
        }
        entries.push((key_hash(&key), key, value));
        Ok(())
    })?;
    if entries.is_empty() {
        return Ok((listings, None));
    }
    entries.sort_unstable_by_key(|e| e.0);
    let mut b = HamtBuilder::new(ctx.store, PROVIDER_SECTORS_BITWIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    for (_, k, v) in &entries {
        b.push(k, v)?;
    }
    Ok((listings, Some(b.finish()?)))
}

/// Reads a v12 sector info's deal IDs into `deals` and returns its
/// expiration.
fn sector_deals(v: &[u8], deals: &mut Vec<u64>) -> std::result::Result<i64, String> {
    deals.clear();
    let mut cur = Cursor::new(v);
    let e = |e: cbor::CborError| format!("{} at byte {}", e.reason, e.offset);
    let n = cur.array().map_err(e)?;
    if n != SECTOR_FIELDS {
        return Err(format!(
            "a sector info of {n} fields (v12 has {SECTOR_FIELDS})"
        ));
    }
    let mut expiration = 0;
    for field in 0..SECTOR_FIELDS as usize {
        match field {
            SECTOR_DEALS => {
                let k = cur.array().map_err(e)?;
                for _ in 0..k {
                    deals.push(cur.uint().map_err(e)?);
                }
            }
            SECTOR_EXPIRATION => expiration = cur.int().map_err(e)?,
            _ => {
                cur.skip().map_err(e)?;
            }
        }
    }
    if !cur.at_end() {
        return Err("trailing bytes after the sector info".into());
    }
    Ok(expiration)
}
