//! Suite scenario 7: nv22 on a market of many deals (10M at standard
//! scale), the engine against the typed reference, each in a process of
//! its own so that each peak RSS is its own; the roots must agree. nv22
//! rewrites every deal state and builds `ProviderSectors` from every
//! miner's sectors: the upgrade where the market, not the miners, is the
//! work.

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::bench_harness::{memory_cap, mib, Row, Suite};

/// The generated market's shape.
pub(super) struct MarketSizes {
    pub miners: u64,
    pub sectors_per_miner: u64,
    /// `gen --deals-per-sector`: about sectors × (1 + this) / 6 deals.
    pub deals_per_sector: u64,
}

pub(super) fn run(suite: &mut Suite, m: &MarketSizes) -> anyhow::Result<()> {
    let (miners, sectors, dps) = (
        m.miners.to_string(),
        m.sectors_per_miner.to_string(),
        m.deals_per_sector.to_string(),
    );
    let state = suite.state(
        &format!("nv22-market-{miners}x{sectors}-d{dps}.car"),
        &[
            "--miners",
            &miners,
            "--sectors",
            &sectors,
            "--deals-per-sector",
            &dps,
            "--then",
            "nv21",
        ],
    )?;
    let shape = suite.run(&["inspect", &state, "--json"])?;
    let shape: Value = serde_json::from_str(&shape.stdout).context("inspect --json")?;
    let deals = shape["deal_states"].as_u64().unwrap_or(0);
    let engine = suite.bench_upgrade(&state, "nv22", "engine", "0")?;
    let e = &engine["engine"];
    let esecs = e["secs"].as_f64().unwrap_or(0.0);
    suite.rows.push(Row {
        scenario: format!(
            "7. nv22, {deals} deal states, {} sectors (engine)",
            m.miners * m.sectors_per_miner
        ),
        secs: esecs,
        rate: format!("{:.2}M deals/s", deals as f64 / esecs.max(1e-9) / 1e6),
        peak_rss_mib: mib(&engine["peak_rss_bytes"]),
        vs_bound: None,
        note: format!("root {}; phases {}", e["root"], e["phases"]),
        json: json!({ "engine": engine, "state": shape }),
    });
    // The typed reference keeps whole trees in memory: at 10M deals it
    // outgrows this machine, so it runs capped and may not finish.
    let cap = memory_cap();
    let row = match suite.try_bench_upgrade(&state, "nv22", "reference", "0", Some(cap))? {
        Ok(reference) => {
            let r = &reference["reference"];
            if e["root"] != r["root"] {
                bail!(
                    "nv22: the engine's root {} differs from the reference's {}",
                    e["root"],
                    r["root"]
                );
            }
            let rsecs = r["secs"].as_f64().unwrap_or(0.0);
            Row {
                scenario: "7. same, typed reference path (one thread)".into(),
                secs: rsecs,
                rate: format!("{:.2}M deals/s", deals as f64 / rsecs.max(1e-9) / 1e6),
                peak_rss_mib: mib(&reference["peak_rss_bytes"]),
                vs_bound: None,
                note: format!("engine {:.1}x faster; roots agree", rsecs / esecs.max(1e-9)),
                json: reference,
            }
        }
        Err(failed) => Row {
            scenario: "7. same, typed reference path (one thread)".into(),
            secs: failed.secs,
            rate: "-".into(),
            peak_rss_mib: None,
            vs_bound: None,
            note: format!(
                "did not finish within a {} MiB address space: {}",
                cap >> 20,
                failed.reason.lines().next().unwrap_or("")
            ),
            json: json!({ "failed": failed.reason, "secs": failed.secs, "cap_bytes": cap }),
        },
    };
    suite.rows.push(row);
    Ok(())
}
