//! An AMT whose every value goes through one transform, migrated by the
//! cheapest exact path, all giving the same root (docs/design.md §5, docs/upgrades/nv21.md): a cache hit on
//! the result key (`sectorsAmt-<in>`); a diff of the owner's previously
//! migrated input against this one (`prevSectorsIn-` / `prevSectorsOut-`),
//! the changed leaves remapped whole or the changes patched into the
//! previous output; or a parallel map from scratch. nv21's sector infos are
//! the first user; a transform and its key names are all an upgrade brings.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use crate::error::{Error, Result};
use crate::ipld::amt::map::map_values;
use crate::ipld::amt::remap::remap_changed;
use crate::ipld::amt::{diff, for_each_value, AmtBuilder, AmtPatcher, AmtRoot, ChangeKind, Patch};
use crate::migration::context::{Counters, MigrationCtx};
use crate::migration::retain::InputTree;

/// One value transform and the cache keys of its results.
pub trait ValueTransform: Sync {
    /// Bit width of the input and output AMTs.
    const BIT_WIDTH: u32;

    /// Appends the new value of the value at the start of `input` (which
    /// may run on into the next values) to `out`; returns the bytes the old
    /// value took. `amt` and `index` name it in errors.
    fn prefix(&self, amt: &Cid, index: u64, input: &[u8], out: &mut Vec<u8>) -> Result<usize>;

    /// Appends the new value of exactly `value` to `out`.
    fn whole(&self, amt: &Cid, index: u64, value: &[u8], out: &mut Vec<u8>) -> Result<()>;

    /// Key of the migrated AMT of input `root`.
    fn result_key(&self, root: &Cid) -> String;

    /// Key of the owner's last migrated input.
    fn prev_in_key(&self, owner: &str) -> String;

    /// Key of the owner's last output.
    fn prev_out_key(&self, owner: &str) -> String;
}

/// Migrates an AMT (a miner's sectors) by the cheapest path and records
/// the result under `t`'s cache keys.
pub fn migrate_amt<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    owner: &str,
    in_root: &Cid,
) -> Result<Cid> {
    let out = result_of(ctx, t, owner, in_root, true)?;
    if let Some(retain) = ctx.retain_inputs {
        (retain.0)(in_root, InputTree::Amt)?;
    }
    // Both halves at once: a pair split by a checkpoint, then a crash, left
    // a new input beside the old output, and the next run remapped against
    // a pair that did not describe one migration (issue 14).
    ctx.cache.put_many(&[
        (&t.prev_in_key(owner), *in_root),
        (&t.prev_out_key(owner), out),
    ])?;
    Ok(out)
}

/// The owner's diff base `(prevIn, prevOut)` (`prevSectorsIn`,
/// `prevSectorsOut`), if it can be trusted: its input readable, and its
/// output the cached result for that input (`sectorsAmt-<prevSectorsIn>`),
/// so the output is the input's image.
/// A pair that fails either is not used (the AMT is migrated from scratch),
/// with a warning: a diff or remap against a mismatched pair is a wrong root.
fn diff_base<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    owner: &str,
) -> Result<Option<(Cid, Cid)>> {
    let (Some(pi), Some(po)) = (
        ctx.cache.get(&t.prev_in_key(owner))?,
        ctx.cache.get(&t.prev_out_key(owner))?,
    ) else {
        return Ok(None);
    };
    if !readable(ctx, &pi)? {
        return Ok(None);
    }
    match ctx.cache.get(&t.result_key(&pi))? {
        Some(o) if o == po => Ok(Some((pi, po))),
        other => {
            tracing::warn!(
                "{owner}: diff base {pi} -> {po} does not match the cached result for that input ({}): migrating from scratch",
                other.map_or("none".to_string(), |c| c.to_string())
            );
            Ok(None)
        }
    }
}

/// Migrates another version of an owner's AMT (a deadline's sectors
/// snapshot): cache, else a diff against the owner's current (just
/// migrated) AMT, else from scratch. Records only its result.
pub fn migrate_amt_version<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    owner: &str,
    snap_in: &Cid,
) -> Result<Cid> {
    result_of(ctx, t, owner, snap_in, false)
}

/// `in_root`'s migration: the cached result, else computed (against the
/// owner's diff base, else from scratch) and cached. `counts_sectors`: a
/// hit counts its values (an owner's own AMT, not another version of it).
fn result_of<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    owner: &str,
    in_root: &Cid,
    counts_sectors: bool,
) -> Result<Cid> {
    let key = t.result_key(in_root);
    if let Some((out, count)) = trusted_hit(ctx, &key, in_root)? {
        cached(ctx, counts_sectors.then_some(count));
        return Ok(out);
    }
    let out = match diff_base(ctx, t, owner)? {
        Some((base_in, base_out)) => incremental(ctx, t, &base_in, in_root, &base_out)?,
        None => from_scratch(ctx, t, in_root)?,
    };
    ctx.cache.put(&key, out)?;
    Ok(out)
}

/// The result cached under `key` for `in_root`, used only if it holds as
/// many sector infos as its input claims (see [`same_count`]); else it is
/// recomputed, with a warning. Returns the result and its count.
fn trusted_hit(ctx: &MigrationCtx<'_>, key: &str, in_root: &Cid) -> Result<Option<(Cid, u64)>> {
    let Some(out) = ctx.cache.get(key)? else {
        return Ok(None);
    };
    let count = same_count(ctx, in_root, &out, "its cached result")?;
    Ok(count.map(|n| (out, n)))
}

/// Every path maps sector infos one to one, so a migrated AMT holds as many
/// as its input claims; a result that does not cannot be this input's (a
/// damaged or foreign cache entry, a diff base pair that is not one
/// migration, or a non-canonical input). Returns the count when they agree,
/// else warns, naming `what` the result is, and returns `None`.
fn same_count(ctx: &MigrationCtx<'_>, in_root: &Cid, out: &Cid, what: &str) -> Result<Option<u64>> {
    let n_in = AmtRoot::load(ctx.store, in_root)?.count;
    let n_out = AmtRoot::load(ctx.store, out)?.count;
    if n_in == n_out {
        return Ok(Some(n_out));
    }
    tracing::warn!("AMT {in_root} holds {n_in} values but {what} {out} holds {n_out}: recomputing");
    Ok(None)
}

/// Whether a diff base can be read (an earlier snapshot's tree may be gone).
fn readable(ctx: &MigrationCtx<'_>, root: &Cid) -> Result<bool> {
    let ok = ctx.store.has(root).map_err(Error::from_blockstore)?;
    if !ok {
        tracing::warn!("diff base {root} is not readable: migrating from scratch");
    }
    Ok(ok)
}

/// Counts a cache hit; only an owner's own AMT's values count (the other
/// versions mostly repeat them), so `sectors` is `None` for a version.
fn cached(ctx: &MigrationCtx<'_>, sectors: Option<u64>) {
    if let Some(n) = sectors {
        Counters::add(&ctx.counters.sectors_from_cache, n);
    }
    Counters::add(&ctx.counters.amts_by_path[2], 1);
}

/// Migrates every value of `in_root`: a parallel structure-preserving map
/// when the input is canonical, else a bottom-up rebuild.
pub fn from_scratch<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    in_root: &Cid,
) -> Result<Cid> {
    let f = prefix_of(ctx, t, in_root);
    // Each finished subtree (≥ 32 leaves) is written out at once by the
    // worker that built it: the writes are spread over the workers instead of
    // left to one final flush, and the buffer stays small.
    let hook = |c: &Cid| ctx.store.flush(c);
    let mapped = map_values(ctx.store, in_root, T::BIT_WIDTH, &f, &hook)?;
    match mapped {
        Some(m) => {
            Counters::add(&ctx.counters.sectors_from_scratch, m.values_mapped);
            Counters::add(&ctx.counters.amts_by_path[0], 1);
            Ok(m.root)
        }
        None => {
            tracing::debug!("AMT {in_root} is not canonical: rebuilding it bottom-up");
            rebuild(ctx, t, in_root)
        }
    }
}

/// Builds the migrated AMT bottom-up from every value of `in_root`.
pub fn rebuild<T: ValueTransform>(ctx: &MigrationCtx<'_>, t: &T, in_root: &Cid) -> Result<Cid> {
    let mut builder = AmtBuilder::new(ctx.store, T::BIT_WIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut out = Vec::with_capacity(512);
    let mut tally = Tally::new(ctx, &ctx.counters.sectors_from_scratch);
    for_each_value(ctx.store, in_root, |i, v| {
        out.clear();
        t.whole(in_root, i, v, &mut out)?;
        builder.push(i, &out)?;
        tally.one()
    })?;
    tally.finish();
    Counters::add(&ctx.counters.amts_by_path[0], 1);
    builder.finish()
}

/// Migrates `in_root` from `base_out`, the migration of `base_in`: the
/// changed leaves are mapped whole in parallel (`remap_changed`) when the
/// trees line up, else the differences are applied one by one. Counted
/// "via diff": the sector infos transformed (all those of changed leaves).
pub fn incremental<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    base_in: &Cid,
    in_root: &Cid,
    base_out: &Cid,
) -> Result<Cid> {
    let f = prefix_of(ctx, t, in_root);
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
        T::BIT_WIDTH,
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
        None => patch_from_diff(ctx, t, base_in, in_root, base_out)?,
    };
    // A diff is only as good as its base: a result of the wrong size goes
    // to the from-scratch path, which rebuilds from the values themselves.
    match same_count(ctx, in_root, &out, "its diff against the previous run")? {
        Some(_) => Ok(out),
        None => from_scratch(ctx, t, in_root),
    }
}

/// Applies the difference `base_in → in_root`, transformed, to `base_out`.
pub fn patch_from_diff<T: ValueTransform>(
    ctx: &MigrationCtx<'_>,
    t: &T,
    base_in: &Cid,
    in_root: &Cid,
    base_out: &Cid,
) -> Result<Cid> {
    let mut patcher = AmtPatcher::open(ctx.store, base_out)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)))
        .with_links_hook(Box::new(|links: &[Cid]| ctx.store.vouch(links)));
    let mut out = Vec::with_capacity(512);
    let mut tally = Tally::new(ctx, &ctx.counters.sectors_via_diff);
    diff(ctx.store, base_in, in_root, |c| {
        match (c.kind, c.after) {
            (ChangeKind::Remove, _) => patcher.apply(Patch::Delete(c.index))?,
            (_, Some(after)) => {
                out.clear();
                t.whole(in_root, c.index, after, &mut out)?;
                patcher.apply(Patch::Set(c.index, &out))?;
            }
            (_, None) => {
                return Err(Error::Malformed {
                    what: "AMT",
                    cid: *in_root,
                    reason: format!(
                        "value {}: the diff reported a change without a value",
                        c.index
                    ),
                })
            }
        }
        tally.one()
    })?;
    tally.finish();
    Counters::add(&ctx.counters.amts_by_path[1], 1);
    patcher.finish()
}

/// The parallel paths' per-value transform. Per value only a relaxed load
/// (cancellation): a shared counter bumped by every worker per sector would
/// bounce its cache line between cores.
fn prefix_of<'a, T: ValueTransform>(
    ctx: &'a MigrationCtx<'_>,
    t: &'a T,
    in_root: &'a Cid,
) -> impl Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync + 'a {
    move |i, v, out| {
        ctx.cancel.check()?;
        t.prefix(in_root, i, v, out)
    }
}

/// The serial paths' count of values transformed: added to `counter` and
/// cancellation checked every 4096 values, the rest at the end.
struct Tally<'a> {
    ctx: &'a MigrationCtx<'a>,
    counter: &'a std::sync::atomic::AtomicU64,
    pending: u64,
}

impl<'a> Tally<'a> {
    const EVERY: u64 = 4096;

    fn new(ctx: &'a MigrationCtx<'a>, counter: &'a std::sync::atomic::AtomicU64) -> Self {
        Tally {
            ctx,
            counter,
            pending: 0,
        }
    }

    /// One more value; every [`Self::EVERY`] the count is published and
    /// cancellation checked.
    fn one(&mut self) -> Result<()> {
        self.pending += 1;
        if self.pending == Self::EVERY {
            Counters::add(self.counter, self.pending);
            self.pending = 0;
            self.ctx.cancel.check()?;
        }
        Ok(())
    }

    fn finish(self) {
        Counters::add(self.counter, self.pending);
    }
}
