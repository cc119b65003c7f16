//! `fil-migrate bench suite`: generates the standard states and runs the
//! standard scenarios, each measured step in its own child process (this same
//! binary) so its peak RSS is its own. Prints a table and writes JSON.
//!
//! Scenarios (issue #7): (1) from-scratch nv21 of one 1M-sector miner, with
//! the typed reference path and the ratio; (2) one 10M-sector miner under a
//! 256 MiB budget; (3) premigration then final migration after 180 epochs of
//! mainnet-like churn and at 0.1 %, 1 %, 10 % changed sectors, against an
//! uncached run; (4) a mainnet-shaped state; (5) 1 vs 2 threads. A lower bound
//! measured in the same run (read every input byte, Blake2b every output
//! byte) puts each from-scratch figure in proportion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

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
            },
            Scale::Small => Sizes {
                one_miner: 100_000,
                big_miner: 1_000_000,
                mainnet_miners: 300,
                mainnet_sectors: 500_000,
                mainnet_accounts: 30_000,
                preset_scale: 0.1,
            },
            Scale::Tiny => Sizes {
                one_miner: 3_000,
                big_miner: 12_000,
                mainnet_miners: 12,
                mainnet_sectors: 6_000,
                mainnet_accounts: 300,
                preset_scale: 0.002,
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

/// A child run of this binary: its wall time and standard output.
pub(super) struct Child {
    pub secs: f64,
    pub stdout: String,
}

pub(super) struct Suite {
    exe: PathBuf,
    dir: PathBuf,
    pub rows: Vec<Row>,
}

/// One line of the table.
pub(super) struct Row {
    pub scenario: String,
    pub secs: f64,
    pub rate: String,
    pub peak_rss_mib: Option<u64>,
    pub vs_bound: Option<f64>,
    pub note: String,
    pub json: Value,
}

impl Suite {
    fn run(&self, args: &[&str]) -> anyhow::Result<Child> {
        let t = Instant::now();
        let out = Command::new(&self.exe)
            .args(args)
            .output()
            .with_context(|| format!("running {args:?}"))?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "fil-migrate {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Child {
            secs,
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    pub(super) fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Generates `name` with `args` unless it is already there.
    pub(super) fn state(&self, name: &str, args: &[&str]) -> anyhow::Result<String> {
        let path = self.path(name);
        if !Path::new(&path).exists() {
            eprintln!("generating {name} …");
            let mut a = vec!["gen", "--out", &path];
            a.extend_from_slice(args);
            self.run(&a)?;
        }
        Ok(path)
    }

    /// A `migrate`/`premigrate` run with its report.
    pub(super) fn migrate(&self, cmd: &str, args: &[&str]) -> anyhow::Result<(Child, Value)> {
        let report = self.path("report.json");
        let mut a = vec![cmd, "--report", &report];
        a.extend_from_slice(args);
        let child = self.run(&a)?;
        let r: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
        Ok((child, r))
    }

    /// Premigrates `before` into a fresh store, then runs the final
    /// migration of `after` [`FINAL_RUNS`] times, each on a synced copy of
    /// that store, keeps the median (by report total), and runs `after`
    /// uncached; the roots must agree. A final migration takes tens of
    /// milliseconds on small states, within this machine's noise.
    pub(super) fn finals(&self, before: &str, after: &str, store: &str) -> anyhow::Result<Finals> {
        let store = self.path(store);
        let _ = std::fs::remove_dir_all(&store);
        let pre = self.migrate("premigrate", &["--snapshot", before, "--store", &store])?;
        let mut finals = Vec::new();
        for i in 0..FINAL_RUNS {
            let copy = self.path(&format!("store-final-{i}"));
            let _ = std::fs::remove_dir_all(&copy);
            copy_dir(Path::new(&store), Path::new(&copy))?;
            finals.push(self.migrate("migrate", &["--snapshot", after, "--store", &copy])?);
            std::fs::remove_dir_all(&copy)?;
        }
        std::fs::remove_dir_all(&store)?;
        finals.sort_by(|a, b| total_secs(&a.1).total_cmp(&total_secs(&b.1)));
        let fin = finals.swap_remove(FINAL_RUNS / 2);
        let unc = self.migrate("migrate", &["--snapshot", after])?;
        if fin.0.stdout != unc.0.stdout {
            bail!(
                "final migration {} differs from uncached {}",
                fin.0.stdout,
                unc.0.stdout
            );
        }
        Ok(Finals { pre, fin, unc })
    }

    fn bench_nv21(&self, snapshot: &str, which: &str, threads: &str) -> anyhow::Result<Value> {
        let json = self.path("nv21.json");
        self.run(&[
            "bench",
            "nv21",
            "--snapshot",
            snapshot,
            "--impl",
            which,
            "--threads",
            threads,
            "--json",
            &json,
        ])?;
        Ok(serde_json::from_slice(&std::fs::read(&json)?)?)
    }
}

/// A premigration, the median final migration after it, and the uncached
/// migration of the same state: each a child run and its report.
pub(super) struct Finals {
    pub pre: (Child, Value),
    pub fin: (Child, Value),
    pub unc: (Child, Value),
}

impl Finals {
    /// The three runs' reports and times, for a row's JSON.
    pub fn json(&self) -> Value {
        let (tf, tu) = (total_secs(&self.fin.1), total_secs(&self.unc.1));
        json!({
            "premigration": self.pre.1, "premigration_wall_secs": self.pre.0.secs,
            "final": self.fin.1, "final_wall_secs": self.fin.0.secs,
            "uncached": self.unc.1, "uncached_wall_secs": self.unc.0.secs,
            "ratio": tu / tf, "wall_ratio": self.unc.0.secs / self.fin.0.secs,
        })
    }
}

/// Final migrations per churn level in scenario 3 (the median is reported).
pub(super) const FINAL_RUNS: usize = 3;

/// Copies a store directory and syncs every file, so the copy's write-back
/// does not compete with the migration measured on it next.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

pub(super) fn total_secs(report: &Value) -> f64 {
    report["phases"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p[1].as_f64())
        .unwrap_or(0.0)
}

pub(super) fn mib(v: &Value) -> Option<u64> {
    v.as_u64().map(|b| b >> 20)
}

/// Seconds to read every byte of `file` and to Blake2b-hash `hashed` bytes
/// in 8 KiB blocks on `threads` threads: no migration can beat their sum.
pub(super) fn lower_bound(file: &str, hashed: u64, threads: usize) -> anyhow::Result<(f64, f64)> {
    use std::io::Read;
    let t = Instant::now();
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    let read = t.elapsed().as_secs_f64();
    let block = vec![0x5au8; 8192];
    let per_thread = hashed / threads.max(1) as u64 / block.len() as u64 + 1;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                for i in 0..per_thread {
                    let mut b = block.clone();
                    b[..8].copy_from_slice(&i.to_le_bytes());
                    std::hint::black_box(fil_migrate::ipld::cids::cbor_cid(&b));
                }
            });
        }
    });
    Ok((read, t.elapsed().as_secs_f64()))
}

pub fn run(a: SuiteArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.dir)?;
    let s = Sizes { ..a.scale.sizes() };
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
