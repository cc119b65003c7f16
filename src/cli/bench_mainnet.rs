//! Suite scenario 6: the mainnet preset (`gen --preset mainnet`, 3.8M actors
//! at standard scale) from scratch against the lower bound of the same run,
//! then premigration + final migration after 180 epochs of the preset's
//! churn against the uncached migration of the same successor; every root
//! must agree.

use std::path::Path;

use anyhow::bail;
use serde_json::json;

use super::bench_suite::{copy_dir, lower_bound, mib, total_secs, Row, Suite, FINAL_RUNS};

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

    let store = suite.path(&format!("store-mainnet-preset-{sc}"));
    let _ = std::fs::remove_dir_all(&store);
    let (pre, pre_r) = suite.migrate("premigrate", &["--snapshot", &s0, "--store", &store])?;
    if pre.stdout != scratch.stdout {
        bail!(
            "premigration {} differs from the from-scratch run {}",
            pre.stdout,
            scratch.stdout
        );
    }
    let mut finals = Vec::new();
    for i in 0..FINAL_RUNS {
        let copy = suite.path(&format!("store-mainnet-final-{i}"));
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(Path::new(&store), Path::new(&copy))?;
        finals.push(suite.migrate("migrate", &["--snapshot", &s1, "--store", &copy])?);
        std::fs::remove_dir_all(&copy)?;
    }
    std::fs::remove_dir_all(&store)?;
    finals.sort_by(|a, b| total_secs(&a.1).total_cmp(&total_secs(&b.1)));
    let (fin, fin_r) = finals.swap_remove(FINAL_RUNS / 2);
    let (unc, unc_r) = suite.migrate("migrate", &["--snapshot", &s1])?;
    if fin.stdout != unc.stdout {
        bail!(
            "final migration {} differs from uncached {}",
            fin.stdout,
            unc.stdout
        );
    }
    let (tf, tu) = (total_secs(&fin_r), total_secs(&unc_r));
    suite.rows.push(Row {
        scenario: "6. final migration after 180 epochs of the preset's churn".to_string(),
        secs: tf,
        rate: format!(
            "{} actors migrated, {} subtrees reused",
            fin_r["actors"], fin_r["actor_subtrees_reused"]
        ),
        peak_rss_mib: mib(&fin_r["peak_rss_bytes"]),
        vs_bound: None,
        note: format!(
            "median of {FINAL_RUNS}: {:.1}x faster than uncached ({tu:.2}s); process {:.2}s vs {:.2}s; premigration {:.2}s",
            tu / tf,
            fin.secs,
            unc.secs,
            pre.secs
        ),
        json: json!({
            "premigration": pre_r, "premigration_wall_secs": pre.secs,
            "final": fin_r, "final_wall_secs": fin.secs,
            "uncached": unc_r, "uncached_wall_secs": unc.secs,
            "ratio": tu / tf, "wall_ratio": unc.secs / fin.secs,
        }),
    });
    Ok(())
}
