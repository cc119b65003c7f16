//! `bench bound`: the lower bound of a run already made, from its report:
//! no migration can take less than reading its input and hashing its
//! output. Any upgrade's uncached run (read the whole snapshot) or final
//! (read as many bytes as the report says it read) is measured against it
//! the way suite scenario 6 measures nv21's.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::bench_harness::{final_lower_bound, lower_bound, total_secs};

#[derive(Debug, Args)]
pub struct BoundArgs {
    /// The snapshot the run read.
    #[arg(long)]
    snapshot: PathBuf,
    /// The run's report (`migrate --report`).
    #[arg(long)]
    report: PathBuf,
    /// The run was a final against a store: read only as many bytes as it
    /// read (its `bytes_read`), not the whole snapshot.
    #[arg(long)]
    r#final: bool,
    /// Threads hashing (default: the run's own).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: BoundArgs) -> anyhow::Result<()> {
    let report: Value = serde_json::from_slice(
        &std::fs::read(&a.report).with_context(|| format!("reading {}", a.report.display()))?,
    )
    .with_context(|| format!("{} is not a JSON report", a.report.display()))?;
    let threads = a
        .threads
        .or_else(|| report["threads"].as_u64().map(|t| t as usize))
        .unwrap_or(1);
    let snapshot = a.snapshot.to_string_lossy();
    let (read, hash) = if a.r#final {
        final_lower_bound(&snapshot, &report, threads)?
    } else {
        lower_bound(
            &snapshot,
            report["bytes_written"].as_u64().unwrap_or(0),
            threads,
        )?
    };
    let total = total_secs(&report);
    let bound = read + hash;
    println!(
        "{}: read {read:.3} s + hash {hash:.3} s ({} MB written, {threads} threads) = {bound:.3} s; the run's total {total:.3} s is {:.1}x its bound",
        report["upgrade"].as_str().unwrap_or("run"),
        report["bytes_written"].as_u64().unwrap_or(0) / 1_000_000,
        total / bound
    );
    Ok(())
}
