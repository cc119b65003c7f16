//! `fil-migrate bench suite`: generates the standard states and runs the
//! standard scenarios, each measured step in its own child process (this same
//! binary) so its peak RSS is its own. Prints a table and writes JSON.
//!
//! Scenarios (issue #7): (1) from-scratch nv21 of one 1M-sector miner, with
//! the typed reference path and the ratio; (2) one 10M-sector miner under a
//! 256 MiB budget; (3) premigration then final migration after 180 epochs of
//! mainnet-like churn and at 0.1 %, 1 %, 10 % changed sectors, against an
//! uncached run; (4) a mainnet-shaped state; (5) 1 vs 2 threads; (6) the
//! mainnet preset, from scratch and final; (7) nv22 on a 10M-deal market,
//! engine against the typed reference. A lower bound
//! measured in the same run (read every input byte, Blake2b every output
//! byte) puts each from-scratch figure in proportion.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use super::bench_harness::{lower_bound, mib, total_secs, Row, Suite, FINAL_RUNS};
use super::bench_market::MarketSizes;

/// How big the standard states are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// The sizes the issue names (1M and 10M sectors; thousands of miners).
    Standard,
    /// A tenth of those, for a quick look.
    Small,
    /// Seconds in all: what CI runs.
    Tiny,
}

struct Sizes {
    one_miner: u64,
    big_miner: u64,
    mainnet_miners: u64,
    mainnet_sectors: u64,
    mainnet_accounts: u64,
    /// `--scale` of scenario 6's `gen --preset mainnet`.
    preset_scale: f64,
    /// Scenario 7's market.
    market: MarketSizes,
}

impl Scale {
    fn sizes(self) -> Sizes {
        match self {
            Scale::Standard => Sizes {
                one_miner: 1_000_000,
                big_miner: 10_000_000,
                mainnet_miners: 3_000,
                mainnet_sectors: 5_000_000,
                mainnet_accounts: 300_000,
                preset_scale: 1.0,
                // 6M sectors listing about 10M deals.
                market: MarketSizes {
                    miners: 10,
                    sectors_per_miner: 600_000,
                    deals_per_sector: 9,
                },
            },
            Scale::Small => Sizes {
                one_miner: 100_000,
                big_miner: 1_000_000,
                mainnet_miners: 300,
                mainnet_sectors: 500_000,
                mainnet_accounts: 30_000,
                preset_scale: 0.1,
                market: MarketSizes {
                    miners: 10,
                    sectors_per_miner: 60_000,
                    deals_per_sector: 9,
                },
            },
            Scale::Tiny => Sizes {
                one_miner: 3_000,
                big_miner: 12_000,
                mainnet_miners: 12,
                mainnet_sectors: 6_000,
                mainnet_accounts: 300,
                preset_scale: 0.002,
                market: MarketSizes {
                    miners: 3,
                    sectors_per_miner: 1_000,
                    deals_per_sector: 5,
                },
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// Directory for the generated states and stores (reused by later runs:
    /// a state already generated with the same sizes is not generated again).
    #[arg(long, default_value = "bench-data")]
    dir: PathBuf,
    /// Sizes of the standard states.
    #[arg(long, value_enum, default_value = "standard")]
    scale: Scale,
    /// Write every figure as JSON here (default: DIR/suite-<scale>.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Skip the 10M-sector scenario (the longest: a 1.3 GB state).
    #[arg(long)]
    skip_big: bool,
    /// Run only these scenarios (e.g. `--only 6` or `--only 3,6`; 5 runs with 1).
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
}

pub fn run(a: SuiteArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.dir)?;
    let s = a.scale.sizes();
    let mut suite = Suite {
        exe: std::env::current_exe()?,
        dir: a.dir.clone(),
        rows: Vec::new(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wants =
        |n: u32| a.only.is_empty() || a.only.contains(&n) || (n == 5 && a.only.contains(&1));

    // (1) and (5): one miner from scratch, engine vs reference, 1 vs all threads.
    let n1 = s.one_miner.to_string();
    let one = suite.state(
        &format!("one-miner-{n1}.car"),
        &["--miners", "1", "--sectors", &n1],
    )?;
    if wants(1) {
        let engine = suite.bench_nv21(&one, "engine", "0")?;
        let reference = suite.bench_nv21(&one, "reference", "0")?;
        let single = suite.bench_nv21(&one, "engine", "1")?;
        for (r, what) in [(&reference, "reference"), (&single, "1-thread engine")] {
            let theirs = if what == "reference" {
                &r["reference"]["root"]
            } else {
                &r["engine"]["root"]
            };
            if theirs != &engine["engine"]["root"] {
                bail!(
                    "the {what} root differs from the engine's: {theirs} vs {}",
                    engine["engine"]["root"]
                );
            }
        }
        let e = &engine["engine"];
        let (esecs, sectors) = (
            e["secs"].as_f64().unwrap_or(0.0),
            e["sectors"].as_u64().unwrap_or(0),
        );
        let rsecs = reference["reference"]["secs"].as_f64().unwrap_or(0.0);
        let ssecs = single["engine"]["secs"].as_f64().unwrap_or(0.0);
        let in_mb = e["bytes_read"].as_u64().unwrap_or(0) as f64 / 1e6;
        let (read, hash) = lower_bound(&one, e["bytes_written"].as_u64().unwrap_or(0), threads)?;
        let bound = read + hash;
        suite.rows.push(Row {
            scenario: format!("1. from scratch, 1 miner × {n1} sectors (engine)"),
            secs: esecs,
            rate: format!(
                "{:.2}M sectors/s, {:.0} MB/s",
                sectors as f64 / esecs / 1e6,
                in_mb / esecs
            ),
            peak_rss_mib: mib(&engine["peak_rss_bytes"]),
            vs_bound: Some(esecs / bound),
            note: format!("{:.2}x the reference", rsecs / esecs),
            json: json!({ "engine": engine, "reference": reference, "ratio": rsecs / esecs }),
        });
        suite.rows.push(Row {
            scenario: "1. same, typed reference path (fvm_ipld_amt)".into(),
            secs: rsecs,
            rate: format!("{:.2}M sectors/s", sectors as f64 / rsecs / 1e6),
            peak_rss_mib: mib(&reference["peak_rss_bytes"]),
            vs_bound: Some(rsecs / bound),
            note: "same root".into(),
            json: reference.clone(),
        });
        suite.rows.push(Row {
            scenario: "   lower bound: read input + Blake2b output".into(),
            secs: bound,
            rate: format!("read {read:.3}s + hash {hash:.3}s on {threads} threads"),
            peak_rss_mib: None,
            vs_bound: Some(1.0),
            note: String::new(),
            json: json!({ "read_secs": read, "hash_secs": hash, "threads": threads }),
        });
        suite.rows.push(Row {
            scenario: format!("5. 1 vs {} threads (same miner)", e["threads"]),
            secs: ssecs,
            rate: format!("1 thread {ssecs:.3}s, {} threads {esecs:.3}s", e["threads"]),
            peak_rss_mib: mib(&single["peak_rss_bytes"]),
            vs_bound: None,
            note: format!(
                "speed-up {:.2}x, parallel efficiency {:.0}%",
                ssecs / esecs,
                100.0 * ssecs / esecs / e["threads"].as_f64().unwrap_or(1.0)
            ),
            json: json!({ "one_thread": single, "all_threads": engine }),
        });
    }
    if wants(2) {
        // (2) one very large miner under a 256 MiB budget.
        if !a.skip_big {
            let nb = s.big_miner.to_string();
            let big = suite.state(
                &format!("big-miner-{nb}.car"),
                &["--miners", "1", "--sectors", &nb],
            )?;
            let budget = if a.scale == Scale::Tiny {
                "1MiB"
            } else {
                "256MiB"
            };
            let (child, r) =
                suite.migrate("migrate", &["--snapshot", &big, "--memory-budget", budget])?;
            suite.rows.push(Row {
                scenario: format!("2. 1 miner × {nb} sectors, --memory-budget {budget}"),
                secs: child.secs,
                rate: format!(
                    "{:.2}M sectors/s",
                    r["sectors_from_scratch"].as_f64().unwrap_or(0.0) / total_secs(&r) / 1e6
                ),
                peak_rss_mib: mib(&r["peak_rss_bytes"]),
                vs_bound: None,
                note: format!("root {}", child.stdout),
                json: r,
            });
        }
    }
    if wants(3) {
        // (3) premigration, then the final migration of a successor.
        for (label, churn) in [
            ("180 epochs mainnet-like", None),
            ("0.1%", Some("0.001")),
            ("1%", Some("0.01")),
            ("10%", Some("0.1")),
        ] {
            let name = format!("one-miner-{n1}-churn-{}.car", churn.unwrap_or("180ep"));
            let mut args = vec!["--from", one.as_str()];
            if let Some(f) = churn {
                args.extend_from_slice(&["--change-fraction", f]);
            }
            let next = suite.state(&name, &args)?;
            let f = suite.finals(&one, &next, &format!("store-{}", churn.unwrap_or("180ep")))?;
            let ((pre, _), (fin, fin_r), (unc, unc_r)) = (&f.pre, &f.fin, &f.unc);
            let (tf, tu) = (total_secs(fin_r), total_secs(unc_r));
            let transformed = |r: &Value| -> anyhow::Result<f64> {
                let r: fil_migrate::migration::MigrationReport = serde_json::from_value(r.clone())?;
                Ok(r.sectors_transformed() as f64)
            };
            let work_ratio = transformed(unc_r)? / transformed(fin_r)?.max(1.0);
            let mut details = f.json();
            details["work_ratio"] = json!(work_ratio);
            suite.rows.push(Row {
            scenario: format!("3. final migration after {label} churn"),
            secs: tf,
            rate: format!(
                "{} sectors via diff, {} from scratch",
                fin_r["sectors_via_diff"], fin_r["sectors_from_scratch"]
            ),
            peak_rss_mib: mib(&fin_r["peak_rss_bytes"]),
            vs_bound: None,
            note: format!(
                "median of {FINAL_RUNS}: {:.1}x faster than uncached ({tu:.3}s), which transforms {work_ratio:.1}x the sector infos; process {:.2}s vs {:.2}s; premigration {:.2}s",
                tu / tf,
                fin.secs,
                unc.secs,
                pre.secs
            ),
            json: details,
        });
        }
    }
    if wants(4) {
        // (4) a mainnet-shaped state.
        let (m, t, acc) = (
            s.mainnet_miners.to_string(),
            s.mainnet_sectors.to_string(),
            s.mainnet_accounts.to_string(),
        );
        let shaped = suite.state(
            &format!("mainnet-shaped-{m}-{t}-{acc}.car"),
            &["--miners", &m, "--total-sectors", &t, "--accounts", &acc],
        )?;
        let (child, r) = suite.migrate("migrate", &["--snapshot", &shaped])?;
        suite.rows.push(Row {
            scenario: format!(
                "4. mainnet-shaped: {m} miners (power law), {t} sectors, {acc} accounts"
            ),
            secs: child.secs,
            rate: format!(
                "{} actors, {:.2}M sectors/s",
                r["actors"],
                r["sectors_from_scratch"].as_f64().unwrap_or(0.0) / total_secs(&r) / 1e6
            ),
            peak_rss_mib: mib(&r["peak_rss_bytes"]),
            vs_bound: None,
            note: format!("root {}", child.stdout),
            json: r,
        });
    }
    if wants(6) {
        super::bench_mainnet::run(&mut suite, s.preset_scale, threads)?;
    }
    if wants(7) {
        super::bench_market::run(&mut suite, &s.market)?;
    }
    print_table(&suite.rows);
    let out = a.json.unwrap_or_else(|| {
        a.dir
            .join(format!("suite-{:?}.json", a.scale).to_lowercase())
    });
    let doc = json!({
        "scale": format!("{:?}", a.scale).to_lowercase(),
        "threads": threads,
        "scenarios": suite.rows.iter().map(|r| json!({
            "scenario": r.scenario, "secs": r.secs, "rate": r.rate,
            "peak_rss_mib": r.peak_rss_mib, "x_lower_bound": r.vs_bound,
            "note": r.note, "details": r.json,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(&out, serde_json::to_vec_pretty(&doc)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<72} {:>9} {:>9} {:>8}  rate / note",
        "scenario", "time (s)", "peak MiB", "x bound"
    );
    for r in rows {
        println!(
            "{:<72} {:>9.3} {:>9} {:>8}  {}{}{}",
            r.scenario,
            r.secs,
            r.peak_rss_mib.map_or("-".into(), |m| m.to_string()),
            r.vs_bound.map_or("-".into(), |b| format!("{b:.2}")),
            r.rate,
            if r.note.is_empty() { "" } else { "; " },
            r.note
        );
    }
}
