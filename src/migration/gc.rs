//! Garbage collection of a store: keep what the kept state roots reach, the
//! cache entries that describe them, and one diff base per miner; drop the
//! rest, and give the space back.
//!
//! fjall reclaims deleted values lazily (a blob file is rewritten only once a
//! quarter of it is stale), so deleting in place cannot promise a size. The
//! collector instead copies the live blocks, children before parents, into a
//! fresh store beside the old one, syncs it and swaps the directories
//! ([`crate::store::replace`]); a crash at any moment leaves one complete store.
//!
//! What survives:
//! - every block of the store reachable from a `keep` root (blocks the store
//!   does not hold, such as unchanged state still in the snapshot, are not
//!   followed);
//! - each cache entry whose result is one of those blocks (`sectorsAmt-…`,
//!   actor heads): the rest are superseded results of older states;
//! - only if asked (`keep_diff_bases`), per miner, the `prevSectorsIn/Out`
//!   pair (the base of the next diff) when its output survives and its input
//!   tree is in the store, with that input tree; a pair whose input lives
//!   only in a snapshot is dropped, as the next run could not diff against it
//!   anyway. By default every pair goes: after the final migration no run
//!   diffs against them, and an input tree is about as large as the live
//!   output (a deadline snapshot that is the previous sectors AMT keeps the
//!   previous output alive, so "its output survives" does not tell). The
//!   same for the state tree's `prevActorsIn/Out` pair, whose input is the
//!   previous actors HAMT's nodes (kept without the states they name).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use cid::Cid;
use serde::Serialize;

use super::cache::{prev_sectors_in_key, prev_sectors_out_key, PREV_ACTORS_IN, PREV_ACTORS_OUT};
use super::store_cache::{StoreCache, ENTRY_PREFIX};
use crate::error::{Error, Result};
use crate::ipld::cids::is_walkable;
use crate::ipld::hamt::{HamtNode, Pointer, DEFAULT_BIT_WIDTH};
use crate::ipld::links::scan_links;
use crate::store::claim::db_dir;
use crate::store::{replace, DiskStore, DiskStoreOptions, RealFs, StoreEngine, StoreFs};

/// What a collection kept and gave back.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Blocks (and their bytes) reachable from the kept roots.
    pub live_blocks: u64,
    /// Bytes of those blocks.
    pub live_bytes: u64,
    /// Blocks (and bytes) of the kept diff bases (miners' previous inputs).
    pub diff_base_blocks: u64,
    /// Bytes of the kept diff bases.
    pub diff_base_bytes: u64,
    /// Cache entries kept.
    pub entries_kept: u64,
    /// Cache entries dropped as superseded.
    pub entries_dropped: u64,
    /// Disk space of the store before.
    pub disk_bytes_before: u64,
    /// Disk space of the store after.
    pub disk_bytes_after: u64,
}

impl GcReport {
    /// Bytes given back to the file system.
    pub fn reclaimed_bytes(&self) -> u64 {
        self.disk_bytes_before.saturating_sub(self.disk_bytes_after)
    }
}

/// How a collection runs.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// How the store is opened (its `engine` is not used: see `convert_to`).
    pub store: DiskStoreOptions,
    /// Keep one diff base per miner (see the module docs).
    pub keep_diff_bases: bool,
    /// The engine of the rewritten store; `None` keeps the store's own, so
    /// a node collecting its store never converts it by accident.
    pub convert_to: Option<StoreEngine>,
}

/// Collects the store in `dir`, keeping what `keep` (state roots) reach.
pub fn collect_garbage(dir: &Path, keep: &[Cid], opts: &GcOptions) -> Result<GcReport> {
    collect_garbage_on(Arc::new(RealFs), dir, keep, opts)
}

/// [`collect_garbage`] of a store on `fs`.
pub fn collect_garbage_on(
    fs: Arc<dyn StoreFs>,
    dir: &Path,
    keep: &[Cid],
    opts: &GcOptions,
) -> Result<GcReport> {
    let keep_diff_bases = opts.keep_diff_bases;
    if !replace::exists_or_swapping(&*fs, &db_dir(dir)) {
        return Err(Error::NotAStore {
            path: dir.to_path_buf(),
            reason: "it holds no store database (nothing to collect)".into(),
        });
    }
    // The claim (the store's lock) is held to the end, through the swap:
    // no other run opens the store meanwhile.
    let old = DiskStore::open_on(fs.clone(), dir, opts.store.clone())?;
    let claim = old.claim();
    let db = old.db_path().to_path_buf();
    for root in keep {
        if !old.has_block(root)? {
            return Err(Error::Config(format!(
                "--keep {root}: the store {} does not hold this root",
                dir.display()
            )));
        }
    }
    old.settle()?;
    let mut report = GcReport {
        disk_bytes_before: fs.disk_usage(&db)?,
        ..Default::default()
    };
    let mut live = BTreeSet::new();
    for root in keep {
        let (blocks, bytes) = mark(&old, root, Missing::Skip, &mut live)?;
        report.live_blocks += blocks;
        report.live_bytes += bytes;
    }
    let entries = StoreCache::durable_entries(&old)?;
    let mut pairs: BTreeMap<&str, (Option<Cid>, Option<Cid>)> = BTreeMap::new();
    let mut kept: Vec<(String, Cid)> = Vec::new();
    let mut actors_pair: (Option<Cid>, Option<Cid>) = (None, None);
    for (key, root) in &entries {
        if let Some(miner) = key.strip_prefix("prevSectorsIn-") {
            pairs.entry(miner).or_default().0 = Some(*root);
        } else if let Some(miner) = key.strip_prefix("prevSectorsOut-") {
            pairs.entry(miner).or_default().1 = Some(*root);
        } else if key == PREV_ACTORS_IN {
            actors_pair.0 = Some(*root);
        } else if key == PREV_ACTORS_OUT {
            actors_pair.1 = Some(*root);
        } else if live.contains(&root.to_bytes()) {
            kept.push((key.clone(), *root));
        }
    }
    if !keep_diff_bases {
        // Their entries are dropped with the other superseded ones.
        pairs.clear();
        actors_pair = (None, None);
    }
    let mut bases = BTreeSet::new();
    for (miner, pair) in pairs {
        let (Some(input), Some(output)) = pair else {
            continue;
        };
        if live.contains(&output.to_bytes()) && old.has_block(&input)? {
            let (blocks, bytes) = mark(&old, &input, Missing::Error, &mut bases)?;
            report.diff_base_blocks += blocks;
            report.diff_base_bytes += bytes;
            kept.push((prev_sectors_in_key(miner), input));
            kept.push((prev_sectors_out_key(miner), output));
        }
    }
    if let (Some(input), Some(output)) = actors_pair {
        if live.contains(&output.to_bytes()) && old.has_block(&input)? {
            let (blocks, bytes) = mark_hamt_nodes(&old, &input, &mut bases)?;
            report.diff_base_blocks += blocks;
            report.diff_base_bytes += bytes;
            kept.push((PREV_ACTORS_IN.to_string(), input));
            kept.push((PREV_ACTORS_OUT.to_string(), output));
        }
    }
    live.append(&mut bases);
    let staged_dir = replace::staging_dir(&db);
    fs.remove_dir(&staged_dir)?;
    let new = old.open_beside(
        &staged_dir,
        DiskStoreOptions {
            engine: opts.convert_to.unwrap_or(old.engine()),
            ..opts.store.clone()
        },
    )?;
    // Sorted keys go straight into tables, with no journal to replay.
    new.ingest_blocks(live.iter().map(|key| {
        let cid = Cid::try_from(&key[..]).expect("keys are CIDs we encoded");
        let data = old
            .get_block(&cid)?
            .ok_or(Error::MissingBlock { cid, parent: None })?;
        Ok((&key[..], data))
    }))?;
    // Every block is durable before any entry naming it (docs/design.md §4).
    new.sync()?;
    for (key, value) in old.meta_with_prefix(b"")? {
        if !key.starts_with(ENTRY_PREFIX.as_bytes()) {
            new.put_meta(&key, &value)?;
        }
    }
    for (key, root) in &kept {
        new.put_meta(format!("{ENTRY_PREFIX}{key}").as_bytes(), &root.to_bytes())?;
    }
    new.settle()?;
    report.entries_kept = kept.len() as u64;
    report.entries_dropped = (entries.len() - kept.len()) as u64;
    drop(new);
    drop(old);
    replace::swap_in(&*fs, &db)?;
    report.disk_bytes_after = fs.disk_usage(&db)?;
    drop(claim);
    Ok(report)
}

/// What marking does with a link to a block the store does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Fail, naming the block and its parent: the store must hold the whole DAG.
    Error,
    /// Skip it: the store holds only the blocks a migration wrote, while the
    /// unchanged rest lives in the snapshot.
    Skip,
}

/// Adds to `live` every block of `store` reachable from `root` (following
/// only blocks the store holds when `missing` is `Skip`); returns the blocks
/// and bytes newly added.
fn mark(
    store: &DiskStore,
    root: &Cid,
    missing: Missing,
    live: &mut BTreeSet<Vec<u8>>,
) -> Result<(u64, u64)> {
    let (mut blocks, mut bytes) = (0u64, 0u64);
    let mut stack = vec![(*root, None)];
    while let Some((cid, parent)) = stack.pop() {
        if cid.hash().code() == IDENTITY {
            continue;
        }
        let key = cid.to_bytes();
        if live.contains(&key) {
            continue;
        }
        let Some(data) = store.get_block(&cid)? else {
            // Only state blocks are required; other links (sector
            // commitments, raw code) are kept when present.
            match missing {
                Missing::Error if is_walkable(&cid) => {
                    return Err(Error::MissingBlock { cid, parent })
                }
                _ => continue,
            }
        };
        live.insert(key);
        blocks += 1;
        bytes += data.len() as u64;
        if is_walkable(&cid) {
            scan_links(&cid, &data, |l| stack.push((l, Some(cid))))?;
        }
    }
    Ok((blocks, bytes))
}

/// Adds to `live` the nodes of the HAMT `root` (not the blocks its values
/// link to); every node must be in the store. Returns blocks and bytes added.
fn mark_hamt_nodes(
    store: &DiskStore,
    root: &Cid,
    live: &mut BTreeSet<Vec<u8>>,
) -> Result<(u64, u64)> {
    let (mut blocks, mut bytes) = (0u64, 0u64);
    let mut stack = vec![(*root, None)];
    while let Some((cid, parent)) = stack.pop() {
        let key = cid.to_bytes();
        if live.contains(&key) {
            continue;
        }
        let data = store
            .get_block(&cid)?
            .ok_or(Error::MissingBlock { cid, parent })?;
        bytes += data.len() as u64;
        blocks += 1;
        let node = HamtNode::decode(data.to_vec(), DEFAULT_BIT_WIDTH, &cid)?;
        for (_, p) in &node.pointers {
            if let Pointer::Link(c) = p {
                stack.push((*c, Some(cid)));
            }
        }
        live.insert(key);
    }
    Ok((blocks, bytes))
}

/// Multihash code of inline (identity) CIDs, which are never stored.
const IDENTITY: u64 = 0x00;
