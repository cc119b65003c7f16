//! Suite scenario 6: the mainnet preset (`gen --preset mainnet`, 3.8M actors
//! at standard scale) from scratch against the lower bound of the same run,
//! then premigration + final migration after 180 epochs of the preset's
//! churn against the uncached migration of the same successor; every root
//! must agree.

use anyhow::bail;
use serde_json::json;

use super::bench_harness::{
    final_lower_bound, lower_bound, mib, total_secs, Row, Suite, FINAL_RUNS,
};

pub(super) fn run(suite: &mut Suite, scale: f64, threads: usize) -> anyhow::Result<()> {
    let sc = scale.to_string();
    let s0 = suite.state(
        &format!("mainnet-preset-{sc}.car"),
        &["--preset", "mainnet", "--scale", &sc],
    )?;
    let s1 = suite.state(&format!("mainnet-preset-{sc}-180ep.car"), &["--from", &s0])?;

    let (scratch, scratch_r) = suite.migrate("migrate", &["--snapshot", &s0])?;
    let actors = scratch_r["actors"].as_f64().unwrap_or(0.0);
    let secs = total_secs(&scratch_r);
    let (read, hash) = lower_bound(
        &s0,
        scratch_r["bytes_written"].as_u64().unwrap_or(0),
        threads,
    )?;
    let bound = read + hash;
    suite.rows.push(Row {
        scenario: format!("6. mainnet preset ×{sc}: {actors} actors from scratch"),
        secs,
        rate: format!("{:.0}k actors/s", actors / secs / 1e3),
        peak_rss_mib: mib(&scratch_r["peak_rss_bytes"]),
        vs_bound: Some(secs / bound),
        note: format!(
            "process {:.2}s; bound: read {read:.3}s + hash {hash:.3}s on {threads} threads",
            scratch.secs
        ),
        json: json!({ "report": scratch_r, "wall_secs": scratch.secs, "bound_secs": bound }),
    });

    let f = suite.finals(&s0, &s1, &format!("store-mainnet-preset-{sc}"))?;
    let ((pre, _), (fin, fin_r), (unc, unc_r)) = (&f.pre, &f.fin, &f.unc);
    if pre.stdout != scratch.stdout {
        bail!(
            "premigration {} differs from the from-scratch run {}",
            pre.stdout,
            scratch.stdout
        );
    }
    let (tf, tu) = (total_secs(fin_r), total_secs(unc_r));
    let (read, hash) = final_lower_bound(&s1, fin_r, threads)?;
    suite.rows.push(Row {
        scenario: "6. final migration after 180 epochs of the preset's churn".to_string(),
        secs: tf,
        rate: format!(
            "{} actors migrated, {} subtrees reused",
            fin_r["actors"], fin_r["actor_subtrees_reused"]
        ),
        peak_rss_mib: mib(&fin_r["peak_rss_bytes"]),
        vs_bound: Some(tf / (read + hash)),
        note: format!(
            "median of {FINAL_RUNS}: {:.1}x faster than uncached ({tu:.2}s); process {:.2}s vs {:.2}s; premigration {:.2}s; bound: read {read:.3}s ({} MB) + hash {hash:.3}s ({} MB)",
            tu / tf,
            fin.secs,
            unc.secs,
            pre.secs,
            fin_r["bytes_read"].as_u64().unwrap_or(0) / 1_000_000,
            fin_r["bytes_written"].as_u64().unwrap_or(0) / 1_000_000
        ),
        json: f.json(),
    });
    Ok(())
}
