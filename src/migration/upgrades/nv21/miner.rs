//! The nv21 miner migrator (DESIGN §3): every sector info of the `sectors`
//! AMT and of each non-empty deadline's `sectors_snapshot` goes v11 → v12;
//! every other byte of the state and deadlines is copied.
//!
//! A miner's sectors AMT is migrated by the cheapest path available, all
//! three giving the same root: a cache hit on `sectorsAmt-<in>`; a diff of
//! the miner's previously migrated input against this one, applied to the
//! previous output; or a bottom-up build from scratch. Deadline snapshots are
//! diffed against the miner's *current* sectors (just migrated), so each
//! sector info is transformed once.

use cid::Cid;
use fil_actor_miner_state::{v11, v12};
use fil_actors_shared::v11::runtime::Policy;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::sector_v11_v12::{transcode, transcode_prefix};
use crate::actors::state_tree::put_cbor;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::map::map_values;
use crate::ipld::amt::remap::remap_changed;
use crate::ipld::amt::{diff, for_each_value, AmtBuilder, AmtPatcher, AmtRoot, ChangeKind, Patch};
use crate::ipld::links::walkable_links_of;
use crate::migration::cache::{
    actor_head_key, prev_sectors_in_key, prev_sectors_out_key, sectors_amt_key,
};
use crate::migration::context::{ActorInput, Counters, MigrationCtx};
use crate::migration::migrators::ActorMigrator;

/// Bit width of every sectors AMT (v11 and v12).
pub const SECTORS_AMT_BITWIDTH: u32 = 5;
const STATE_FIELDS: u64 = 15;
const STATE_SECTORS: usize = 9;
const STATE_DEADLINES: usize = 12;
const DEADLINE_FIELDS: u64 = 11;
const DEADLINE_SNAPSHOT: usize = 8;

/// The nv21 miner migrator, with the empty structures of both versions.
#[derive(Debug, Clone)]
pub struct Nv21MinerMigrator {
    /// The empty sectors AMT (the same bytes in v11 and v12): most mainnet
    /// miners have no sectors, and theirs needs neither work nor a cache entry.
    empty_sectors: Cid,
    empty_deadline_v11: Cid,
    empty_deadlines_v11: Cid,
    empty_deadline_v12: Cid,
    empty_deadlines_v12: Cid,
}

impl Nv21MinerMigrator {
    /// Builds the empty deadline structures of v11 and v12 (and stores them).
    pub fn new<S: Blockstore>(store: &S) -> Result<Self> {
        let policy = Policy::default();
        let bad = |e: anyhow::Error| Error::Invalid(format!("empty deadline: {e:#}"));
        let d11 = put_cbor(store, &v11::Deadline::new(store).map_err(bad)?)?;
        let ds11 = put_cbor(store, &v11::Deadlines::new(&policy, d11))?;
        let d12 = put_cbor(store, &v12::Deadline::new(store).map_err(bad)?)?;
        let policy12 = fil_actors_shared::v12::runtime::Policy::default();
        let ds12 = put_cbor(store, &v12::Deadlines::new(&policy12, d12))?;
        let empty_sectors = AmtBuilder::new(store, SECTORS_AMT_BITWIDTH)?.finish()?;
        Ok(Nv21MinerMigrator {
            empty_sectors,
            empty_deadline_v11: d11,
            empty_deadlines_v11: ds11,
            empty_deadline_v12: d12,
            empty_deadlines_v12: ds12,
        })
    }
}

impl<B: Blockstore + Sync> ActorMigrator<B> for Nv21MinerMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid> {
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, STATE_FIELDS, "miner state v11", &actor.head)?;
        let sectors_in = tuple::cid_at(
            &head,
            &fields[STATE_SECTORS],
            "miner state sectors",
            &actor.head,
        )?;
        // A miner with sectors whose entry changed but whose state did not
        // (a balance change) is a cache hit: the reference's
        // `<addr>-head-<head>`. An empty miner costs less to migrate again
        // than an entry, and mainnet has ~0.7M of them.
        let has_sectors = sectors_in != self.empty_sectors;
        let head_key = has_sectors.then(|| actor_head_key(&actor.address, &actor.head));
        if let Some(key) = &head_key {
            if let Some(out) = ctx.cache.get(key)? {
                if ctx.store.has(&out).map_err(Error::from_blockstore)? {
                    return Ok(out);
                }
            }
        }
        // Every link of the old state that the new one keeps was read from
        // the input here: the flush need not look each one up again.
        ctx.store.vouch(&walkable_links_of(&actor.head, &head)?);
        let deadlines_in = tuple::cid_at(
            &head,
            &fields[STATE_DEADLINES],
            "miner state deadlines",
            &actor.head,
        )?;
        let sectors_out = if has_sectors {
            migrate_sectors(ctx, &actor.address, &sectors_in)?
        } else {
            sectors_in
        };
        let deadlines_out = self.migrate_deadlines(ctx, &actor.address, &deadlines_in)?;
        let s = tuple::encode_cid(&sectors_out);
        let d = tuple::encode_cid(&deadlines_out);
        let new = tuple::replace(
            &head,
            &fields,
            &[(STATE_SECTORS, &s), (STATE_DEADLINES, &d)],
        );
        let new_head = ctx.put(&new);
        ctx.flush_if_over_budget(&new_head)?;
        if let Some(key) = &head_key {
            ctx.cache.put(key, new_head)?;
        }
        Ok(new_head)
    }
}

impl Nv21MinerMigrator {
    fn migrate_deadlines<B: Blockstore + Sync>(
        &self,
        ctx: &MigrationCtx<'_, B>,
        miner: &str,
        deadlines: &Cid,
    ) -> Result<Cid> {
        if *deadlines == self.empty_deadlines_v11 {
            return Ok(self.empty_deadlines_v12);
        }
        let bytes = ctx.get(deadlines, None)?;
        let mut dls: v11::Deadlines =
            fvm_ipld_encoding::from_slice(&bytes).map_err(|e| Error::Malformed {
                what: "miner deadlines v11",
                cid: *deadlines,
                reason: e.to_string(),
            })?;
        for due in dls.due.iter_mut() {
            if *due == self.empty_deadline_v11 {
                *due = self.empty_deadline_v12;
                continue;
            }
            let dl = ctx.get(due, Some(*deadlines))?;
            let fields = tuple::elements(&dl, DEADLINE_FIELDS, "miner deadline v11", due)?;
            let snap_in = tuple::cid_at(
                &dl,
                &fields[DEADLINE_SNAPSHOT],
                "deadline sectors_snapshot",
                due,
            )?;
            let snap_out = migrate_snapshot(ctx, miner, &snap_in)?;
            let enc = tuple::encode_cid(&snap_out);
            *due = ctx.put(&tuple::replace(&dl, &fields, &[(DEADLINE_SNAPSHOT, &enc)]));
        }
        let out = fvm_ipld_encoding::to_vec(&v12::Deadlines { due: dls.due })
            .map_err(|e| Error::Invalid(format!("encoding deadlines: {e}")))?;
        Ok(ctx.put(&out))
    }
}

/// Migrates a miner's `sectors` AMT by the cheapest path and records the
/// result under the reference cache keys.
pub fn migrate_sectors<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    miner: &str,
    in_root: &Cid,
) -> Result<Cid> {
    let key = sectors_amt_key(in_root);
    let hit = match ctx.cache.get(&key)? {
        Some(out) => trusted_hit(ctx, in_root, out)?,
        None => None,
    };
    let out = match hit {
        Some((out, count)) => {
            cached(ctx, Some(count));
            out
        }
        None => {
            let out = match diff_base(ctx, miner)? {
                Some((pi, po)) => incremental(ctx, &pi, in_root, &po)?,
                None => from_scratch(ctx, in_root)?,
            };
            ctx.cache.put(&key, out)?;
            out
        }
    };
    if let Some(retain) = ctx.retain_inputs {
        (retain.0)(in_root, crate::migration::runner::InputTree::SectorsAmt)?;
    }
    // Both halves at once: a pair split by a checkpoint, then a crash, left
    // a new input beside the old output, and the next run remapped against
    // a pair that did not describe one migration (issue 14).
    ctx.cache.put_many(&[
        (&prev_sectors_in_key(miner), *in_root),
        (&prev_sectors_out_key(miner), out),
    ])?;
    Ok(out)
}

/// The miner's diff base `(prevSectorsIn, prevSectorsOut)`, if it can be
/// trusted: its input readable, and its output the cached result for that
/// input (`sectorsAmt-<prevSectorsIn>`), so the output is the input's image.
/// A pair that fails either is not used (the AMT is migrated from scratch),
/// with a warning: a diff or remap against a mismatched pair is a wrong root.
fn diff_base<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    miner: &str,
) -> Result<Option<(Cid, Cid)>> {
    let (Some(pi), Some(po)) = (
        ctx.cache.get(&prev_sectors_in_key(miner))?,
        ctx.cache.get(&prev_sectors_out_key(miner))?,
    ) else {
        return Ok(None);
    };
    if !readable(ctx, &pi)? {
        return Ok(None);
    }
    match ctx.cache.get(&sectors_amt_key(&pi))? {
        Some(o) if o == po => Ok(Some((pi, po))),
        other => {
            tracing::warn!(
                "miner {miner}: diff base prevSectorsIn {pi} / prevSectorsOut {po} does not match the cached result for that input ({}): migrating from scratch",
                other.map_or("none".to_string(), |c| c.to_string())
            );
            Ok(None)
        }
    }
}

/// Migrates a deadline's sectors snapshot: cache, else a diff against the
/// miner's current (just migrated) sectors, else from scratch.
pub fn migrate_snapshot<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    miner: &str,
    snap_in: &Cid,
) -> Result<Cid> {
    let key = sectors_amt_key(snap_in);
    if let Some(out) = ctx.cache.get(&key)? {
        if let Some((out, _)) = trusted_hit(ctx, snap_in, out)? {
            cached(ctx, None);
            return Ok(out);
        }
    }
    let out = match diff_base(ctx, miner)? {
        Some((ci, co)) => incremental(ctx, &ci, snap_in, &co)?,
        None => from_scratch(ctx, snap_in)?,
    };
    ctx.cache.put(&key, out)?;
    Ok(out)
}

/// A cached result is used only if it holds as many sector infos as its
/// input claims (see [`same_count`]); else it is recomputed, with a warning.
/// Returns the result and its count.
fn trusted_hit<B: Blockstore>(
    ctx: &MigrationCtx<'_, B>,
    in_root: &Cid,
    out: Cid,
) -> Result<Option<(Cid, u64)>> {
    let count = same_count(ctx, in_root, &out, "its cached result")?;
    Ok(count.map(|n| (out, n)))
}

/// Every path maps sector infos one to one, so a migrated AMT holds as many
/// as its input claims; a result that does not cannot be this input's (a
/// damaged or foreign cache entry, a diff base pair that is not one
/// migration, or a non-canonical input). Returns the count when they agree,
/// else warns, naming `what` the result is, and returns `None`.
fn same_count<B: Blockstore>(
    ctx: &MigrationCtx<'_, B>,
    in_root: &Cid,
    out: &Cid,
    what: &str,
) -> Result<Option<u64>> {
    let n_in = AmtRoot::load(ctx.store, in_root)?.count;
    let n_out = AmtRoot::load(ctx.store, out)?.count;
    if n_in == n_out {
        return Ok(Some(n_out));
    }
    tracing::warn!(
        "sectors AMT {in_root} holds {n_in} sector infos but {what} {out} holds {n_out}: recomputing"
    );
    Ok(None)
}

/// Whether a diff base can be read (an earlier snapshot's tree may be gone).
fn readable<B: Blockstore>(ctx: &MigrationCtx<'_, B>, root: &Cid) -> Result<bool> {
    let ok = ctx.store.has(root).map_err(Error::from_blockstore)?;
    if !ok {
        tracing::warn!("diff base {root} is not readable: migrating from scratch");
    }
    Ok(ok)
}

/// Counts a cache hit; only a miner's own sectors count as sectors (deadline
/// snapshots mostly repeat them), so `sectors` is `None` for a snapshot.
fn cached<B: Blockstore>(ctx: &MigrationCtx<'_, B>, sectors: Option<u64>) {
    if let Some(n) = sectors {
        Counters::add(&ctx.counters.sectors_from_cache, n);
    }
    Counters::add(&ctx.counters.amts_by_path[2], 1);
}

fn sector_error(amt: &Cid, index: u64, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("sector {index} of sectors AMT {amt}: {e}"))
}

/// Migrates every sector of `in_root`: a parallel structure-preserving map
/// when the input is canonical, else a bottom-up rebuild.
pub fn from_scratch<B: Blockstore + Sync>(ctx: &MigrationCtx<'_, B>, in_root: &Cid) -> Result<Cid> {
    // Per value only a relaxed load (cancellation): a shared counter bumped
    // by every worker per sector would bounce its cache line between cores.
    let f = |i: u64, v: &[u8], out: &mut Vec<u8>| -> Result<usize> {
        ctx.cancel.check()?;
        transcode_prefix(v, out).map_err(|e| sector_error(in_root, i, e))
    };
    // Each finished subtree (≥ 32 leaves) is written out at once by the
    // worker that built it: the writes are spread over the workers instead of
    // left to one final flush, and the buffer stays small.
    let hook = |c: &Cid| ctx.store.flush(c);
    let mapped = map_values(ctx.store, in_root, SECTORS_AMT_BITWIDTH, &f, &hook)?;
    match mapped {
        Some(m) => {
            Counters::add(&ctx.counters.sectors_from_scratch, m.values_mapped);
            Counters::add(&ctx.counters.amts_by_path[0], 1);
            Ok(m.root)
        }
        None => {
            tracing::debug!("sectors AMT {in_root} is not canonical: rebuilding it bottom-up");
            rebuild(ctx, in_root)
        }
    }
}

/// Builds the migrated AMT bottom-up from every sector of `in_root`.
pub fn rebuild<B: Blockstore>(ctx: &MigrationCtx<'_, B>, in_root: &Cid) -> Result<Cid> {
    let mut builder = AmtBuilder::new(ctx.store, SECTORS_AMT_BITWIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut out = Vec::with_capacity(512);
    let mut n = 0u64;
    for_each_value(ctx.store, in_root, |i, v| {
        out.clear();
        transcode(v, &mut out).map_err(|e| sector_error(in_root, i, e))?;
        builder.push(i, &out)?;
        n += 1;
        if n.is_multiple_of(4096) {
            Counters::add(&ctx.counters.sectors_from_scratch, 4096);
            ctx.cancel.check()?;
        }
        Ok(())
    })?;
    Counters::add(&ctx.counters.sectors_from_scratch, n % 4096);
    Counters::add(&ctx.counters.amts_by_path[0], 1);
    builder.finish()
}

/// Migrates `in_root` from `base_out`, the migration of `base_in`: the
/// changed leaves are mapped whole in parallel (`remap_changed`) when the
/// trees line up, else the differences are applied one by one. Counted
/// "via diff": the sector infos transformed (all those of changed leaves).
pub fn incremental<B: Blockstore + Sync>(
    ctx: &MigrationCtx<'_, B>,
    base_in: &Cid,
    in_root: &Cid,
    base_out: &Cid,
) -> Result<Cid> {
    let f = |i: u64, v: &[u8], out: &mut Vec<u8>| -> Result<usize> {
        ctx.cancel.check()?;
        transcode_prefix(v, out).map_err(|e| sector_error(in_root, i, e))
    };
    // Written once the whole tree is mapped (below), not subtree by subtree:
    // on a disk store, writes interleaved with the reads of the old trees
    // make every read also search a growing memtable.
    let hook = |c: &Cid| ctx.flush_if_over_budget(c);
    let vouch = |links: &[Cid]| ctx.store.vouch(links);
    let remapped = remap_changed(
        ctx.store,
        in_root,
        base_in,
        base_out,
        SECTORS_AMT_BITWIDTH,
        &f,
        &hook,
        &vouch,
    )?;
    let out = match remapped {
        Some(r) => {
            ctx.store.flush_parallel(&r.root)?;
            Counters::add(&ctx.counters.sectors_via_diff, r.values_mapped);
            Counters::add(&ctx.counters.amts_by_path[1], 1);
            r.root
        }
        None => patch_from_diff(ctx, base_in, in_root, base_out)?,
    };
    // A diff is only as good as its base: a result of the wrong size goes
    // to the from-scratch path, which rebuilds from the values themselves.
    match same_count(ctx, in_root, &out, "its diff against the previous run")? {
        Some(_) => Ok(out),
        None => from_scratch(ctx, in_root),
    }
}

/// Applies the difference `base_in → in_root`, transformed, to `base_out`.
pub fn patch_from_diff<B: Blockstore>(
    ctx: &MigrationCtx<'_, B>,
    base_in: &Cid,
    in_root: &Cid,
    base_out: &Cid,
) -> Result<Cid> {
    let mut patcher = AmtPatcher::open(ctx.store, base_out)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)))
        .with_links_hook(Box::new(|links: &[Cid]| ctx.store.vouch(links)));
    let mut out = Vec::with_capacity(512);
    let mut n = 0u64;
    diff(ctx.store, base_in, in_root, |c| {
        match (c.kind, c.after) {
            (ChangeKind::Remove, _) => patcher.apply(Patch::Delete(c.index))?,
            (_, Some(after)) => {
                out.clear();
                transcode(after, &mut out).map_err(|e| sector_error(in_root, c.index, e))?;
                patcher.apply(Patch::Set(c.index, &out))?;
            }
            (_, None) => {
                return Err(sector_error(
                    in_root,
                    c.index,
                    "diff reported a change without a value",
                ))
            }
        }
        n += 1;
        if n.is_multiple_of(4096) {
            ctx.cancel.check()?;
        }
        Ok(())
    })?;
    Counters::add(&ctx.counters.sectors_via_diff, n);
    Counters::add(&ctx.counters.amts_by_path[1], 1);
    patcher.finish()
}
