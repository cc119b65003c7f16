//! Writing a generated state as a snapshot CAR: blocks are built into a
//! temporary on-disk store (through the budgeted buffer, so a 10M-sector
//! miner never sits in memory) and then exported depth-first.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cid::Cid;

use super::build::{build_state, BuildStats};
use super::config::GenConfig;
use crate::error::{Error, Result};
use crate::store::{
    export_car, BufferOptions, BufferedBlockstore, DiskStore, DiskStoreOptions, ExportOptions,
};

/// What `gen` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenSummary {
    /// The state root (the CAR's root).
    pub state_root: Cid,
    /// Counts.
    pub stats: BuildStats,
    /// Blocks in the CAR.
    pub blocks: u64,
    /// Bytes of the CAR (uncompressed).
    pub car_bytes: u64,
    /// Seconds spent building blocks.
    pub build_secs: f64,
    /// Seconds spent exporting.
    pub export_secs: f64,
}

fn scratch_dir(out: &Path) -> PathBuf {
    crate::store::side_file::beside(out, ".gen-store")
}

/// Generates the state of `cfg` and writes it to the CAR `out`, keeping at
/// most `budget_bytes` of unflushed blocks in memory.
pub fn generate_car(out: &Path, cfg: &GenConfig, budget_bytes: u64) -> Result<GenSummary> {
    with_scratch_store(out, |disk| {
        let buf = BufferedBlockstore::new(
            disk,
            BufferOptions {
                budget_bytes,
                ..Default::default()
            },
        );
        let t = Instant::now();
        let (root, stats) = build_state(&buf, cfg)?;
        buf.flush(&root)?;
        let build_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let e = export_car(disk, &[root], out, &ExportOptions::for_path(out))?;
        Ok(GenSummary {
            state_root: root,
            stats,
            blocks: e.blocks,
            car_bytes: e.car_bytes,
            build_secs,
            export_secs: t.elapsed().as_secs_f64(),
        })
    })
}

/// Runs `f` on a fresh on-disk store beside `out` (the blocks being built)
/// and removes the store afterwards, whether `f` succeeded or not.
fn with_scratch_store<T>(out: &Path, f: impl FnOnce(&DiskStore) -> Result<T>) -> Result<T> {
    let dir = scratch_dir(out);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let result = DiskStore::open(
        &dir,
        DiskStoreOptions {
            cache_bytes: 16 << 20,
            ..Default::default()
        },
    )
    .and_then(|disk| f(&disk));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What `gen --from` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChurnSummary {
    /// The successor's state root.
    pub state_root: Cid,
    /// What changed.
    pub stats: super::churn::ChurnStats,
    /// Blocks in the output CAR.
    pub blocks: u64,
    /// Blocks of the output that are new (not in the input CAR).
    pub new_blocks: u64,
    /// Bytes of the CAR.
    pub car_bytes: u64,
}

/// Writes the churned successor of the state in the CAR `from` to `out`.
pub fn churn_car(
    from: &Path,
    out: &Path,
    cfg: &super::churn::ChurnConfig,
    budget_bytes: u64,
) -> Result<ChurnSummary> {
    use crate::actors::state_tree::resolve_state_root;
    use crate::store::{CarSource, CarSourceOptions, Overlay};
    let car = CarSource::open(from, CarSourceOptions::default())?;
    let root = *car
        .roots()
        .first()
        .ok_or_else(|| Error::Synth(format!("{} has no root", from.display())))?;
    let state_root = resolve_state_root(&car, &root)?;
    with_scratch_store(out, |disk| {
        let overlay = Overlay {
            upper: disk,
            lower: &car,
        };
        let buf = BufferedBlockstore::new(
            &overlay,
            BufferOptions {
                budget_bytes,
                ..Default::default()
            },
        );
        let (new_root, stats) = super::churn::churn_state(&buf, &state_root, cfg)?;
        buf.flush(&new_root)?;
        let new_blocks = count_new_blocks(&overlay, &car, &new_root)?;
        let e = export_car(&overlay, &[new_root], out, &ExportOptions::for_path(out))?;
        Ok(ChurnSummary {
            state_root: new_root,
            stats,
            blocks: e.blocks,
            new_blocks,
            car_bytes: e.car_bytes,
        })
    })
}

/// Blocks reachable from `root` that `old` does not hold.
fn count_new_blocks(
    store: &impl fvm_ipld_blockstore::Blockstore,
    old: &crate::store::CarSource,
    root: &Cid,
) -> Result<u64> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![*root];
    let mut new = 0;
    while let Some(c) = stack.pop() {
        if !crate::ipld::cids::is_walkable(&c) || !seen.insert(c) || old.contains(&c)? {
            continue;
        }
        new += 1;
        let data = store
            .get(&c)
            .map_err(Error::from_blockstore)?
            .ok_or(Error::MissingBlock {
                cid: c,
                parent: None,
            })?;
        crate::ipld::links::scan_links(&c, &data, |l| stack.push(l))?;
    }
    Ok(new)
}
