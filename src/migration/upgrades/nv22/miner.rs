//! nv22's miner migrator: the miner keeps its head (only its code changes),
//! but every sector of its `sectors` AMT is read for the market pass: a
//! sector with deals that expires at or after the upgrade epoch is *kept*,
//! its deal IDs listed, and it gets an entry in the miner's `ProviderSectors`
//! inner map (sector number → its whole deal list, in on-chain order).

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::collect::{Collected, DealListing};
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::{for_each_value, AmtRoot};
use crate::ipld::cbor::{self, major, Cursor};
use crate::ipld::hamt::{key_hash, HamtBuilder};
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::migrators::ActorMigrator;

/// Bit width of a v12 sectors AMT.
pub const SECTORS_AMT_BITWIDTH: u32 = 5;
/// Bit width of both levels of `ProviderSectors` (v13 `HAMT_BIT_WIDTH`).
pub const PROVIDER_SECTORS_BITWIDTH: u32 = 5;
const STATE_FIELDS: u64 = 15;
const STATE_SECTORS: usize = 9;
const SECTOR_FIELDS: u64 = 15;
const SECTOR_DEALS: usize = 3;
const SECTOR_EXPIRATION: usize = 5;

/// Reads every miner's sectors into [`Collected`].
pub struct Nv22MinerMigrator {
    collected: Arc<Collected>,
    empty_sectors: Cid,
}

impl Nv22MinerMigrator {
    /// A migrator filling `collected`.
    pub fn new<S: Blockstore>(store: &S, collected: Arc<Collected>) -> Result<Self> {
        let empty_sectors =
            crate::ipld::amt::AmtBuilder::new(store, SECTORS_AMT_BITWIDTH)?.finish()?;
        Ok(Nv22MinerMigrator {
            collected,
            empty_sectors,
        })
    }
}

impl<B: Blockstore + Sync> ActorMigrator<B> for Nv22MinerMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid> {
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, STATE_FIELDS, "miner state v12", &actor.head)?;
        let sectors = tuple::cid_at(
            &head,
            &fields[STATE_SECTORS],
            "miner state sectors",
            &actor.head,
        )?;
        let miner = actor
            .id
            .ok_or_else(|| Error::Invalid("a miner without an ID address".into()))?;
        if sectors != self.empty_sectors {
            let (listings, inner) = kept_sectors(ctx, &sectors, ctx.spec.height, miner)?;
            self.collected.add_miner(miner, listings, inner);
        }
        // Heads that stay are the input's own: nothing to look up at flush.
        ctx.store.vouch(std::slice::from_ref(&actor.head));
        Ok(actor.head)
    }
}

/// The deal listings of the kept sectors of the sectors AMT `root`, and the
/// miner's `ProviderSectors` inner map built from them (`None` if no sector
/// is kept).
pub fn kept_sectors<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
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
        let expiration = sector_deals(v, &mut deals)
            .map_err(|e| Error::Invalid(format!("sector {i} of sectors AMT {root}: {e}")))?;
        if deals.is_empty() || expiration < upgrade_epoch {
            return Ok(());
        }
        listings.extend(deals.iter().map(|&deal| DealListing {
            deal,
            miner,
            sector: i,
        }));
        let mut key = Vec::with_capacity(10);
        key.extend_from_slice(unsigned_varint::encode::u64(i, &mut Default::default()));
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
