//! nv22's market migrator, deferred until every miner has been read
//! (docs/upgrades/nv22.md): every deal state is rewritten v12 → v13 (`verified_claim`
//! dropped, `sector_number` first), and the state gains `ProviderSectors`.
//!
//! From scratch, the States AMT (whose key set, so shape, stays) is mapped
//! in parallel, a deal's sector found in the sorted listings and its
//! proposal in a two-bit table read once. With the last run's base
//! ([`MarketBase`]) the market is patched instead, and gives the same root:
//! `ProviderSectors` gets the changed miners' inner maps, the listings
//! index their gained and lost listings; the States leaves that changed
//! since the base are mapped again and every other deal whose listing or
//! proposal changed is rewritten by itself.

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_hamt::{BytesKey, Hamt};

use super::base::{MarketBase, MARKET_FLUSH_DEPTH};
use super::collect::{sector_of, Collected, DealListing, Harvest};
use super::listings::{self, ListingChange};
use super::miner::{deal_list, empty_map, varint_key, PROVIDER_SECTORS_BITWIDTH};
use super::proposals::{check_proposals_bit_width, proposal_at, Proposal, ProposalTable};
use crate::actors::state_tree::RawActor;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::map::map_values;
use crate::ipld::amt::remap::remap_changed;
use crate::ipld::amt::{diff, for_each_value, get_value, AmtBuilder, AmtPatcher, AmtRoot, Patch};
use crate::ipld::cbor::{self, major, Cursor};
use crate::ipld::hamt::{get_value as hamt_get, key_hash, HamtBuilder, DEFAULT_BIT_WIDTH};
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::head_tuple::HeadTuple;
use crate::migration::migrators::ActorMigrator;
use crate::migration::retain::InputTree;

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

/// The market's new `(states, provider_sectors, listings index)`.
type MarketOut = (Cid, Cid, Cid);

impl ActorMigrator for Nv22MarketMigrator {
    fn deferred(&self) -> bool {
        true
    }

    fn incremental_ok(&self, ctx: &MigrationCtx<'_>) -> Result<bool> {
        let base = MarketBase::load(ctx)?;
        Ok(self.collected.decide(base).is_some())
    }

    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let market = HeadTuple::read(ctx, actor, STATE_FIELDS, "market state v12")?;
        let (head, fields) = (&market.bytes, &market.fields);
        let proposals = market.link(STATE_PROPOSALS, "market proposals")?;
        let states = market.link(STATE_STATES, "market states")?;
        let next_id = Cursor::new(&head[fields[STATE_NEXT_ID].clone()])
            .uint()
            .map_err(|e| Error::Cbor {
                cid: actor.head,
                offset: fields[STATE_NEXT_ID].start + e.offset,
                reason: format!("market next_id: {}", e.reason),
            })?;
        check_states_bit_width(ctx, &states)?;
        check_proposals_bit_width(ctx.store, &proposals)?;
        let harvest = self.collected.take();
        let (new_states, provider_sectors, index) = match self.collected.base() {
            None => from_scratch(ctx, &states, &proposals, next_id, harvest)?,
            Some(base) => patched(ctx, &states, &proposals, &base, harvest)?,
        };
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
        // The deal states, up to hundreds of MB still buffered: written on
        // every core, below the head, the AMT's root block and its root
        // node's 64 children.
        ctx.store.flush_parallel_to(&new_head, MARKET_FLUSH_DEPTH)?;
        if let Some(retain) = ctx.retain_inputs {
            (retain.0)(&states, InputTree::Amt)?;
            (retain.0)(&proposals, InputTree::Amt)?;
        }
        MarketBase {
            actors_in: ctx.input_actors,
            states_in: states,
            proposals_in: proposals,
            states_out: new_states,
            provider_sectors,
            listings: index,
        }
        .record(ctx, &actor.address)?;
        Ok(new_head)
    }
}

fn check_states_bit_width(ctx: &MigrationCtx<'_>, root: &Cid) -> Result<()> {
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
    Ok(())
}

/// Every deal rewritten, `ProviderSectors` and the listings index built.
fn from_scratch(
    ctx: &MigrationCtx<'_>,
    states: &Cid,
    proposals: &Cid,
    next_id: u64,
    harvest: Harvest,
) -> Result<MarketOut> {
    let t = std::time::Instant::now();
    let table = ProposalTable::read(ctx.store, proposals, next_id, ctx.spec.height)?;
    let read_secs = t.elapsed().as_secs_f64();
    let listings = &harvest.listings;
    let f = |deal: u64, v: &[u8], out: &mut Vec<u8>| -> Result<usize> {
        migrate_deal(v, out, proposals, table.get(deal), || {
            Ok(sector_of(listings, deal))
        })
        .map_err(|e| deal_error(deal, states, e))
    };
    let new_states = map_states(ctx, states, &f)?;
    let map_secs = t.elapsed().as_secs_f64() - read_secs;
    let index = listings::build(ctx, listings)?;
    let index_secs = t.elapsed().as_secs_f64() - read_secs - map_secs;
    let inner: Vec<(u64, Cid)> = harvest
        .miners
        .iter()
        .filter_map(|(m, c)| c.map(|c| (*m, c)))
        .collect();
    let provider_sectors = provider_sectors(ctx, inner)?;
    tracing::debug!(
        "nv22 market from scratch: proposals read in {read_secs:.3}s, deal states mapped in \
         {map_secs:.3}s, listings index ({} listings) built in {index_secs:.3}s, total {:.3}s",
        listings.len(),
        t.elapsed().as_secs_f64()
    );
    Ok((new_states, provider_sectors, index))
}

/// The base patched with what changed since.
fn patched(
    ctx: &MigrationCtx<'_>,
    states: &Cid,
    proposals: &Cid,
    base: &MarketBase,
    harvest: Harvest,
) -> Result<MarketOut> {
    let u = ctx.spec.height;
    let mut miners = harvest.miners;
    miners.extend(vanished_miners(ctx, base, &miners)?);
    let (provider_sectors, mut changes) = patch_provider_sectors(ctx, base, &miners)?;
    changes.sort_unstable();
    let (index, mut redo) = listings::patch(ctx, &base.listings, &changes)?;
    // Deals whose proposal changed (never, on a chain: proposals are
    // written once; removed only with their state).
    diff(ctx.store, &base.proposals_in, proposals, |c| {
        redo.push(c.index);
        Ok(())
    })?;
    let f = |deal: u64, v: &[u8], out: &mut Vec<u8>| -> Result<usize> {
        let p = proposal_at(ctx.store, proposals, deal, u)?;
        migrate_deal(v, out, proposals, p, || {
            Ok(listings::winner(&listings::lookup(
                ctx.store, &index, deal,
            )?))
        })
        .map_err(|e| deal_error(deal, states, e))
    };
    // The leaves of States that changed since the base, mapped whole.
    let hook = |c: &Cid| ctx.flush_if_over_budget(c);
    let vouch = |links: &[Cid]| ctx.store.vouch(links);
    let remapped = remap_changed(
        ctx.store,
        states,
        &base.states_in,
        &base.states_out,
        STATES_AMT_BITWIDTH,
        &f,
        &hook,
        &vouch,
    )?;
    let mapped = match remapped {
        Some(m) => m.root,
        None => {
            tracing::info!(
                "states AMT {states} does not line up with the base's: mapping every deal"
            );
            map_states(ctx, states, &f)?
        }
    };
    // Then every other deal whose inputs changed (rewriting one a changed
    // leaf already holds gives the same bytes).
    redo.sort_unstable();
    redo.dedup();
    let mut patcher = AmtPatcher::open(ctx.store, &mapped)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut out = Vec::with_capacity(32);
    for deal in redo {
        if let Some(v) = get_value(ctx.store, states, deal)? {
            out.clear();
            f(deal, &v, &mut out)?;
            patcher.apply(Patch::Set(deal, &out))?;
        }
    }
    Ok((patcher.finish()?, provider_sectors, index))
}

/// The miners the base's `ProviderSectors` lists that this run did not
/// visit and that are not miners of this state (the base may be of a
/// sibling fork, or of a later state): their entries go, as `None`. An
/// unvisited miner that this state has is unchanged since the base (the
/// base is of the actors-tree base's state, see [`MarketBase::load`]).
/// `visited` is sorted by miner.
fn vanished_miners(
    ctx: &MigrationCtx<'_>,
    base: &MarketBase,
    visited: &[(u64, Option<Cid>)],
) -> Result<Vec<(u64, Option<Cid>)>> {
    let miner_code = ctx.spec.old_manifest.code_of("storageminer");
    let mut listed = Vec::new();
    crate::ipld::hamt::for_each_entry(
        ctx.store,
        &base.provider_sectors,
        PROVIDER_SECTORS_BITWIDTH,
        |k, _| {
            let (miner, _) = unsigned_varint::decode::u64(k).map_err(|e| Error::Malformed {
                what: "ProviderSectors map",
                cid: base.provider_sectors,
                reason: format!("key {k:02x?}: {e}"),
            })?;
            listed.push(miner);
            Ok(())
        },
    )?;
    let mut gone = Vec::new();
    for miner in listed {
        if visited.binary_search_by_key(&miner, |(m, _)| *m).is_ok() {
            continue;
        }
        let key = fvm_shared3::address::Address::new_id(miner).to_bytes();
        let value = hamt_get(ctx.store, &ctx.input_actors, DEFAULT_BIT_WIDTH, &key)?;
        let is_miner = match &value {
            Some(v) => Some(RawActor::parse(v, &ctx.input_actors)?.code) == miner_code,
            None => false,
        };
        if !is_miner {
            gone.push((miner, None));
        }
    }
    Ok(gone)
}

/// The base's `ProviderSectors` with each visited miner's inner map put in
/// (or its entry removed), and the listings gained and lost.
fn patch_provider_sectors(
    ctx: &MigrationCtx<'_>,
    base: &MarketBase,
    miners: &[(u64, Option<Cid>)],
) -> Result<(Cid, Vec<ListingChange>)> {
    let bad = |e: fvm_ipld_hamt::Error| Error::Malformed {
        what: "ProviderSectors map",
        cid: base.provider_sectors,
        reason: e.to_string(),
    };
    let mut outer: Hamt<_, Cid, BytesKey> =
        Hamt::load_with_bit_width(&base.provider_sectors, ctx.store, PROVIDER_SECTORS_BITWIDTH)
            .map_err(bad)?;
    let empty = empty_map(ctx.store)?;
    let mut changes = Vec::new();
    for (miner, inner) in miners {
        let key = BytesKey(varint_key(*miner));
        let old = outer.get(&key).map_err(bad)?.copied();
        if old == *inner {
            continue;
        }
        let (a, b) = (old.unwrap_or(empty), inner.unwrap_or(empty));
        crate::ipld::hamt::diff(ctx.store, &a, &b, PROVIDER_SECTORS_BITWIDTH, |c| {
            let (sector, _) =
                unsigned_varint::decode::u64(c.key).map_err(|e| Error::Malformed {
                    what: "ProviderSectors map",
                    cid: base.provider_sectors,
                    reason: format!("miner {miner}: key: {e}"),
                })?;
            for (side, added) in [(c.before, false), (c.after, true)] {
                let Some(v) = side else { continue };
                let deals = deal_list(v).map_err(|e| Error::Malformed {
                    what: "ProviderSectors map",
                    cid: base.provider_sectors,
                    reason: format!("miner {miner}: {e}"),
                })?;
                changes.extend(deals.into_iter().map(|deal| ListingChange {
                    listing: DealListing {
                        deal,
                        miner: *miner,
                        sector,
                    },
                    added,
                }));
            }
            Ok(())
        })?;
        match inner {
            Some(c) => {
                outer.set(key, *c).map_err(bad)?;
            }
            None => {
                outer.delete(&key).map_err(bad)?;
            }
        }
    }
    Ok((outer.flush().map_err(bad)?, changes))
}

fn deal_error(deal: u64, states: &Cid, e: String) -> Error {
    Error::Malformed {
        what: "deal states AMT",
        cid: *states,
        reason: format!("deal {deal} ({e})"),
    }
}

/// Maps every deal of the States AMT `root` through `f`.
fn map_states<F>(ctx: &MigrationCtx<'_>, root: &Cid, f: &F) -> Result<Cid>
where
    F: Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync,
{
    let hook = |c: &Cid| ctx.flush_if_over_budget(c);
    if let Some(m) = map_values(ctx.store, root, STATES_AMT_BITWIDTH, f, &hook)? {
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
/// `out`; returns the bytes the v12 state took. `sector` is asked only for
/// an unslashed deal whose proposal is live.
fn migrate_deal(
    v: &[u8],
    out: &mut Vec<u8>,
    proposals: &Cid,
    proposal: Proposal,
    sector: impl FnOnce() -> Result<Option<u64>>,
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
    let live = match proposal {
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
        sector().map_err(|e| e.to_string())?.unwrap_or(0)
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
fn provider_sectors(ctx: &MigrationCtx<'_>, providers: Vec<(u64, Cid)>) -> Result<Cid> {
    let mut entries: Vec<([u8; 32], Vec<u8>, Vec<u8>)> = providers
        .into_iter()
        .map(|(miner, root)| {
            let key = varint_key(miner);
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
