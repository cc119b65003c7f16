//! nv22's market migrator, deferred until every miner has been read
//! (UPGRADES §3.3): every deal state is rewritten v12 → v13 (`verified_claim`
//! dropped, `sector_number` first), and the state gains `ProviderSectors`.
//!
//! The States AMT keeps its key set, so it is migrated by the parallel
//! structure-preserving map (its shape is the input's); a deal's sector is
//! found by binary search in the sorted listings; proposals are read once
//! into a two-bit table.

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::collect::{sector_of, Collected, DealListing};
use super::miner::PROVIDER_SECTORS_BITWIDTH;
use super::proposals::{Proposal, ProposalTable};
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::map::map_values;
use crate::ipld::amt::{for_each_value, AmtBuilder, AmtRoot};
use crate::ipld::cbor::{self, major, Cursor};
use crate::ipld::hamt::{key_hash, HamtBuilder};
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::migrators::ActorMigrator;

/// Bit width of the deal states AMT (v12 and v13 `STATES_AMT_BITWIDTH`).
pub const STATES_AMT_BITWIDTH: u32 = 6;
const STATE_FIELDS: u64 = 12;
const STATE_PROPOSALS: usize = 0;
const STATE_STATES: usize = 1;
const STATE_NEXT_ID: usize = 5;

/// Rewrites the market from what the miner pass collected.
pub struct Nv22MarketMigrator {
    collected: Arc<Collected>,
}

impl Nv22MarketMigrator {
    /// A migrator reading `collected`.
    pub fn new(collected: Arc<Collected>) -> Self {
        Nv22MarketMigrator { collected }
    }
}

impl<B: Blockstore + Sync> ActorMigrator<B> for Nv22MarketMigrator {
    fn deferred(&self) -> bool {
        true
    }

    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid> {
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, STATE_FIELDS, "market state v12", &actor.head)?;
        let proposals = tuple::cid_at(
            &head,
            &fields[STATE_PROPOSALS],
            "market proposals",
            &actor.head,
        )?;
        let states = tuple::cid_at(&head, &fields[STATE_STATES], "market states", &actor.head)?;
        let next_id = Cursor::new(&head[fields[STATE_NEXT_ID].clone()])
            .uint()
            .map_err(|e| Error::Cbor {
                cid: actor.head,
                offset: fields[STATE_NEXT_ID].start + e.offset,
                reason: format!("market next_id: {}", e.reason),
            })?;
        let (listings, providers) = self.collected.take();
        let table = ProposalTable::read(ctx.store, &proposals, next_id, ctx.spec.height)?;
        let new_states = migrate_states(ctx, &states, &proposals, &table, &listings)?;
        drop(listings);
        let provider_sectors = provider_sectors(ctx, providers)?;
        let mut out = Vec::with_capacity(head.len() + 48);
        cbor::write_header(&mut out, major::ARRAY, STATE_FIELDS + 1);
        for (i, r) in fields.iter().enumerate() {
            if i == STATE_STATES {
                cbor::write_cid(&mut out, &new_states);
            } else {
                out.extend_from_slice(&head[r.clone()]);
            }
        }
        cbor::write_cid(&mut out, &provider_sectors);
        let new_head = ctx.put(&out);
        ctx.store.flush(&new_head)?;
        Ok(new_head)
    }
}

/// The v13 States AMT of the v12 States AMT `root`.
fn migrate_states<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    root: &Cid,
    proposals: &Cid,
    table: &ProposalTable,
    listings: &[DealListing],
) -> Result<Cid> {
    let r = AmtRoot::load(ctx.store, root)?;
    if r.bit_width != STATES_AMT_BITWIDTH {
        return Err(Error::Malformed {
            what: "market states AMT",
            cid: *root,
            reason: format!(
                "bit width {} (v12 deal states use {STATES_AMT_BITWIDTH})",
                r.bit_width
            ),
        });
    }
    let f = |deal: u64, v: &[u8], out: &mut Vec<u8>| -> Result<usize> {
        migrate_deal(deal, v, out, proposals, table, listings)
            .map_err(|e| Error::Invalid(format!("deal {deal} of states AMT {root}: {e}")))
    };
    let hook = |c: &Cid| ctx.flush_if_over_budget(c);
    if let Some(m) = map_values(ctx.store, root, STATES_AMT_BITWIDTH, &f, &hook)? {
        return Ok(m.root);
    }
    tracing::debug!("states AMT {root} is not canonical: rebuilding it");
    let mut b = AmtBuilder::new(ctx.store, STATES_AMT_BITWIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut out = Vec::with_capacity(32);
    for_each_value(ctx.store, root, |deal, v| {
        out.clear();
        f(deal, v, &mut out)?;
        b.push(deal, &out)
    })?;
    b.finish()
}

/// Appends the v13 state of `deal` (v12 state at the start of `v`) to
/// `out`; returns the bytes the v12 state took.
fn migrate_deal(
    deal: u64,
    v: &[u8],
    out: &mut Vec<u8>,
    proposals: &Cid,
    table: &ProposalTable,
    listings: &[DealListing],
) -> std::result::Result<usize, String> {
    let mut cur = Cursor::new(v);
    let e = |e: cbor::CborError| format!("deal state: {} at byte {}", e.reason, e.offset);
    if cur.array().map_err(e)? != 4 {
        return Err("a deal state that is not a v12 4-tuple".into());
    }
    let start = cur.int().map_err(e)?;
    let updated = cur.int().map_err(e)?;
    let slash = cur.int().map_err(e)?;
    cur.uint().map_err(e)?; // verified_claim, dropped in v13
    let live = match table.get(deal) {
        Proposal::Missing => {
            return Err(format!(
                "no proposal for the deal in proposals AMT {proposals}"
            ))
        }
        Proposal::Undecodable => {
            return Err(format!(
                "its proposal in proposals AMT {proposals} is not a v12 deal proposal"
            ))
        }
        Proposal::Live => true,
        Proposal::Ended => false,
    };
    let sector = if slash == -1 && live {
        sector_of(listings, deal).unwrap_or(0)
    } else {
        0
    };
    cbor::write_header(out, major::ARRAY, 4);
    cbor::write_header(out, major::UINT, sector);
    cbor::write_int(out, start);
    cbor::write_int(out, updated);
    cbor::write_int(out, slash);
    Ok(cur.pos())
}

/// The outer `ProviderSectors` HAMT: miner ID (varint key) → inner root.
fn provider_sectors<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    providers: Vec<(u64, Cid)>,
) -> Result<Cid> {
    let mut entries: Vec<([u8; 32], Vec<u8>, Vec<u8>)> = providers
        .into_iter()
        .map(|(miner, root)| {
            let key = unsigned_varint::encode::u64(miner, &mut Default::default()).to_vec();
            (key_hash(&key), key, tuple::encode_cid(&root))
        })
        .collect();
    entries.sort_unstable_by_key(|e| e.0);
    let mut b = HamtBuilder::new(ctx.store, PROVIDER_SECTORS_BITWIDTH)?;
    for (_, k, v) in &entries {
        b.push(k, v)?;
    }
    b.finish()
}
