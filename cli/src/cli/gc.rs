//! `fil-migrate gc`: drop what the kept state roots no longer need.

use std::path::PathBuf;

use anyhow::Context;
use cid::Cid;
use clap::Args;
use fil_migrate::migration::{collect_garbage, GcOptions};

use super::args::EngineArg;

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// State roots to keep (e.g. the migrated root `migrate` printed). Blocks
    /// they do not reach, and cache entries of older states, are removed.
    #[arg(long, num_args = 1.., required = true)]
    keep: Vec<String>,
    /// Also keep, per miner, the previous input/output pair and its input
    /// tree, so a later premigration on this store can diff against it. Only
    /// worth it between premigrations: it costs about the input trees' size.
    #[arg(long)]
    keep_diff_bases: bool,
    /// The engine of the rewritten store (default: the store's own): `gc`
    /// also converts a store from one engine to the other.
    #[arg(long, value_enum)]
    store_engine: Option<EngineArg>,
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn run(mut a: GcArgs) -> anyhow::Result<()> {
    a.report = a
        .report
        .map(|r| super::outputs::checked_output(&r, "--report", &[]))
        .transpose()?;
    let keep = a
        .keep
        .iter()
        .map(|s| Cid::try_from(s.as_str()).with_context(|| format!("invalid --keep {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let r = collect_garbage(
        &a.store,
        &keep,
        &GcOptions {
            keep_diff_bases: a.keep_diff_bases,
            convert_to: a.store_engine.map(EngineArg::engine),
            ..Default::default()
        },
    )?;
    println!(
        "kept {} blocks ({} bytes) reachable from {} root(s), {} diff-base blocks ({} bytes)",
        r.live_blocks,
        r.live_bytes,
        keep.len(),
        r.diff_base_blocks,
        r.diff_base_bytes
    );
    println!(
        "cache entries: {} kept, {} dropped as superseded",
        r.entries_kept, r.entries_dropped
    );
    println!(
        "disk space: {} -> {} bytes ({} reclaimed; {:.2}x the live output)",
        r.disk_bytes_before,
        r.disk_bytes_after,
        r.reclaimed_bytes(),
        r.disk_bytes_after as f64 / r.live_bytes.max(1) as f64
    );
    if let Some(p) = &a.report {
        std::fs::write(p, serde_json::to_vec_pretty(&r)?)
            .with_context(|| format!("writing report {}", p.display()))?;
    }
    Ok(())
}
