//! Migrating the actors HAMT as a whole, by the cheapest exact path
//! (docs/design.md §6):
//!
//! 1. **cached** — `actorsTree-<in>` names the output of this very tree;
//! 2. **remapped** — the cache holds the previous run's pair
//!    (`prevActorsIn` → `prevActorsOut`): only the paths where the tree
//!    changed since are visited, only changed and added actors migrated,
//!    removed ones dropped, everything else reused ([`remap_entries`]);
//! 3. **mapped** — a parallel structure-preserving map of every actor
//!    ([`map_entries`]), each finished subtree written out by the worker
//!    that built it;
//! 4. **rebuilt** — for an input that is not canonical (never written by a
//!    chain): every entry migrated and a canonical tree built from them.
//!
//! All four give the same root. A path that cannot be taken (a missing or
//! damaged base, a pair that does not line up) falls through to the next,
//! with a warning, never to a wrong root.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use rayon::prelude::*;

use super::cache::{actors_tree_key, PREV_ACTORS_IN, PREV_ACTORS_OUT};
use super::context::MigrationCtx;
use super::retain::InputTree;
use crate::error::{Error, Result};
use crate::ipld::hamt::{
    for_each_entry, key_hash, map_entries, remap_entries, HamtBuilder, HamtMapped,
    DEFAULT_BIT_WIDTH,
};

/// Depth of the subtrees a full map writes out as soon as they are built
/// (1,024 of them at bit width 5: a few thousand actors each on mainnet).
const FLUSH_DEPTH: usize = 2;

/// How the output actors tree was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreePath {
    /// `actorsTree-<in>` hit.
    Cached,
    /// Remapped against the previous run's pair.
    Remapped,
    /// Full structure-preserving map.
    Mapped,
    /// Rebuilt from the entries (non-canonical input).
    Rebuilt,
}

/// The migrated actors tree.
#[derive(Debug, Clone)]
pub struct TreeOutcome {
    /// Output actors HAMT root.
    pub root: Cid,
    /// Which path produced it.
    pub path: TreePath,
    /// What the map or remap did (zero for a cache hit or a rebuild).
    pub stats: Option<HamtMapped>,
    /// Why a cheaper path was not taken, for the report.
    pub notes: Vec<String>,
}

/// A finished tree's root and the cache entries recorded with its diff base.
pub type Finished = (Cid, Vec<(String, Cid)>);

/// How the runner wants the tree migrated.
pub struct TreeOptions<'f> {
    /// Whether the remapped path may be taken: not when a deferred
    /// migrator's result depends on actors a remap would not visit.
    pub allow_remap: bool,
    /// Applied to a freshly migrated tree's root before it is recorded
    /// (the deferred actors are put in here); a cached tree is already
    /// final. Returns the root and entries recorded with the diff base.
    pub finish: &'f (dyn Fn(Cid) -> Result<Finished> + Sync),
}

/// Migrates the actors HAMT `in_root`, every entry through `f(key, value)`,
/// and records the result and the new diff base in the cache.
pub fn migrate_actors_tree<F, V>(
    ctx: &MigrationCtx<'_>,
    in_root: &Cid,
    f: &F,
    is_output: &V,
    topts: &TreeOptions<'_>,
) -> Result<TreeOutcome>
where
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    V: Fn(&[u8]) -> bool + Sync,
{
    let mut notes = Vec::new();
    let mut outcome = choose_path(ctx, in_root, f, is_output, topts.allow_remap, &mut notes)?;
    outcome.notes = notes;
    ctx.cancel.check()?;
    let mut extra = Vec::new();
    if outcome.path != TreePath::Cached {
        (outcome.root, extra) = (topts.finish)(outcome.root)?;
    }
    if let Some(retain) = ctx.retain_inputs {
        (retain.0)(in_root, InputTree::ActorsHamt)?;
    }
    let key = actors_tree_key(in_root);
    let mut entries: Vec<(&str, Cid)> = vec![
        (&key, outcome.root),
        (PREV_ACTORS_IN, *in_root),
        (PREV_ACTORS_OUT, outcome.root),
    ];
    entries.extend(extra.iter().map(|(k, v)| (k.as_str(), *v)));
    ctx.cache.put_many(&entries)?;
    Ok(outcome)
}

fn choose_path<F, V>(
    ctx: &MigrationCtx<'_>,
    in_root: &Cid,
    f: &F,
    is_output: &V,
    allow_remap: bool,
    notes: &mut Vec<String>,
) -> Result<TreeOutcome>
where
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    V: Fn(&[u8]) -> bool + Sync,
{
    let bw = DEFAULT_BIT_WIDTH;
    if let Some(out) = ctx.cache.get(&actors_tree_key(in_root))? {
        if readable(ctx, &out, "cached actors tree", notes)? {
            return Ok(TreeOutcome {
                root: out,
                path: TreePath::Cached,
                stats: None,
                notes: Vec::new(),
            });
        }
    }
    // The base's output must also be what the cache holds as that input's
    // result: two entries that disagree are not one migration's pair.
    let base = match (
        ctx.cache.get(PREV_ACTORS_IN)?.filter(|_| allow_remap),
        ctx.cache.get(PREV_ACTORS_OUT)?,
    ) {
        (Some(i), Some(o)) => match ctx.cache.get(&actors_tree_key(&i))? {
            Some(r) if r != o => {
                note(
                    notes,
                    format!("actors tree: the previous pair {i} -> {o} disagrees with the cached result {r} of {i}: not used"),
                );
                None
            }
            _ => Some((i, o)),
        },
        _ => None,
    };
    if let Some((base_in, base_out)) = base {
        if readable(ctx, &base_in, "previous input actors tree", notes)?
            && readable(ctx, &base_out, "previous output actors tree", notes)?
        {
            // New nodes stay buffered until the whole tree is done (unless
            // over budget): on a disk store, writes interleaved with reads of
            // the previous trees make every read search a growing memtable.
            let hook = |c: &Cid, _depth: usize| ctx.flush_if_over_budget(c);
            let vouch = |links: &[Cid]| ctx.store.vouch(links);
            match remap_entries(ctx.store, in_root, &base_in, &base_out, bw, f, &hook, is_output, &vouch) {
                Ok(Some(r)) => {
                    ctx.store.flush_parallel(&r.root)?;
                    return Ok(TreeOutcome {
                        root: r.root,
                        path: TreePath::Remapped,
                        stats: Some(r),
                        notes: Vec::new(),
                    });
                }
                Ok(None) => note(
                    notes,
                    format!("actors tree: the previous pair {base_in} -> {base_out} does not line up with {in_root}: every actor migrated"),
                ),
                Err(Error::MissingBlock { cid, parent }) => note(
                    notes,
                    format!("actors tree: block {cid} of the previous pair is missing (linked from {parent:?}): every actor migrated"),
                ),
                Err(e) => return Err(e),
            }
        }
    }
    let hook = |c: &Cid, depth: usize| {
        if depth == FLUSH_DEPTH {
            ctx.store.flush(c)
        } else {
            ctx.flush_if_over_budget(c)
        }
    };
    if let Some(m) = map_entries(ctx.store, in_root, bw, f, &hook)? {
        return Ok(TreeOutcome {
            root: m.root,
            path: TreePath::Mapped,
            stats: Some(m),
            notes: Vec::new(),
        });
    }
    note(
        notes,
        format!("actors tree {in_root} is not in canonical form: rebuilt from its entries"),
    );
    Ok(TreeOutcome {
        root: rebuild(ctx, in_root, f)?,
        path: TreePath::Rebuilt,
        stats: None,
        notes: Vec::new(),
    })
}

/// Whether a root recorded by an earlier run can still be read (a damaged
/// store, or a node that pruned the older state).
fn readable(
    ctx: &MigrationCtx<'_>,
    root: &Cid,
    what: &str,
    notes: &mut Vec<String>,
) -> Result<bool> {
    let ok = ctx.store.has(root).map_err(Error::from_blockstore)?;
    if !ok {
        note(notes, format!("{what} {root} is not readable: not used"));
    }
    Ok(ok)
}

/// Logs a fallback and keeps it for the report.
fn note(notes: &mut Vec<String>, text: String) {
    tracing::warn!("{text}");
    notes.push(text);
}

/// Migrates every entry of a non-canonical tree and builds the canonical
/// tree of the results (in memory: a chain never writes such a tree, so
/// this serves hand-made or damaged inputs, not mainnet-size ones).
fn rebuild<F>(ctx: &MigrationCtx<'_>, in_root: &Cid, f: &F) -> Result<Cid>
where
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
{
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for_each_entry(ctx.store, in_root, DEFAULT_BIT_WIDTH, |k, v| {
        entries.push((k.to_vec(), v.to_vec()));
        Ok(())
    })?;
    let mut migrated: Vec<([u8; 32], Vec<u8>, Vec<u8>)> = entries
        .par_iter()
        .map(|(k, v)| Ok((key_hash(k), k.clone(), f(k, v)?)))
        .collect::<Result<_>>()?;
    migrated.sort_unstable_by_key(|a| a.0);
    if let Some(w) = migrated.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Malformed {
            what: "actors HAMT",
            cid: *in_root,
            reason: format!("key {:02x?} appears twice", w[0].1),
        });
    }
    let mut b = HamtBuilder::new(ctx.store, DEFAULT_BIT_WIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    for (_, k, v) in &migrated {
        b.push(k, v)?;
    }
    b.finish()
}
