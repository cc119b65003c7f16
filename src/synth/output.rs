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
    let mut s = out.as_os_str().to_owned();
    s.push(".gen-store");
    PathBuf::from(s)
}

/// Generates the state of `cfg` and writes it to the CAR `out`, keeping at
/// most `budget_bytes` of unflushed blocks in memory.
pub fn generate_car(out: &Path, cfg: &GenConfig, budget_bytes: u64) -> Result<GenSummary> {
    let dir = scratch_dir(out);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let result = (|| {
        let disk = DiskStore::open(&dir, DiskStoreOptions::default())?;
        let buf = BufferedBlockstore::new(
            &disk,
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
        let e = export_car(&disk, &[root], out, &ExportOptions::default())?;
        Ok(GenSummary {
            state_root: root,
            stats,
            blocks: e.blocks,
            car_bytes: e.car_bytes,
            build_secs,
            export_secs: t.elapsed().as_secs_f64(),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
