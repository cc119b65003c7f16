//! `fil-migrate bench …`: measurements that compare the engine with the
//! typed reference-style path in one run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use fil_migrate::actors::manifest::Network;
use fil_migrate::chain::default_state_root;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::report::peak_rss_bytes;
use fil_migrate::migration::{migrate_state, MigrationOptions, ScratchCache, Upgrade};
use fil_migrate::store::{CarSource, CarSourceOptions, MemStore, Overlay};

use super::args::parse_bytes;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// From-scratch migration of a snapshot (any upgrade with a typed
    /// reference path; `bench nv21` is the same command): the engine and/or
    /// the typed reference path.
    #[command(name = "upgrade", alias = "nv21")]
    Upgrade(UpgradeArgs),
    /// Build an AMT of N ~200-byte values into a discarding store (one
    /// implementation per process, so `/usr/bin/time -v` shows its peak RSS).
    AmtBuild(AmtBuildArgs),
    /// Generate the standard states and run the standard scenarios (from
    /// scratch vs reference, a 10M-sector miner under 256 MiB, premigration at
    /// several churn rates, a mainnet-shaped state, 1 vs all threads) with a
    /// lower bound; prints a table and writes JSON.
    Suite(super::bench_suite::SuiteArgs),
    /// Premigration then final migration in one process, as a node embedding
    /// the library runs them: in-memory blockstore and cache, against an
    /// uncached migration of the same state.
    Final(FinalArgs),
    /// The lower bound of a run already made, from its report: read its
    /// input (the whole snapshot, or with `--final` as many bytes as it
    /// read) and Blake2b-hash what it wrote; prints the run's multiple of it.
    Bound(super::bench_bound::BoundArgs),
}

#[derive(Debug, Args)]
pub struct FinalArgs {
    /// The earlier snapshot (premigrated).
    #[arg(long)]
    before: PathBuf,
    /// The later snapshot (migrated at the "upgrade").
    #[arg(long)]
    after: PathBuf,
    #[arg(long, default_value = "mainnet")]
    network: Network,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the final and the uncached migration this many times each (every
    /// final starts from the premigration's cache) and compare medians: a
    /// final takes tens of milliseconds, within this machine's noise.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
}

/// Median and minimum of some timings.
fn median_min(mut secs: Vec<f64>) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    (secs[secs.len() / 2], secs[0])
}

/// A node-like run: the node's blockstore is in memory over both snapshots.
fn final_in_process(a: FinalArgs) -> anyhow::Result<()> {
    use fil_migrate::migration::{MemoryCache, MigrationCache};
    let open = |p: &PathBuf| {
        CarSource::open(
            p,
            CarSourceOptions {
                verify_hashes: false,
                ..Default::default()
            },
        )
    };
    let (car0, car1) = (open(&a.before)?, open(&a.after)?);
    let r0 = default_state_root(&car0, car0.roots())?;
    let r1 = default_state_root(&car1, car1.roots())?;
    let spec = Upgrade::load("nv21", a.network)?;
    let opts = MigrationOptions::default();
    let node_store = || Overlay {
        upper: MemStore::new(),
        lower: Overlay {
            upper: &car1,
            lower: &car0,
        },
    };
    let secs = |t: Instant| t.elapsed().as_secs_f64();
    let (store, cache) = (node_store(), MemoryCache::default());
    let t = Instant::now();
    migrate_state(&store, &r0, &spec, &cache, &opts)?;
    let pre = secs(t);
    let premigrated = cache.entries();
    // Each run starts from the premigration's cache; the first one's report is shown.
    let (mut fin, mut finals) = (None, Vec::new());
    for _ in 0..a.repeat {
        let cache = MemoryCache::default();
        for (k, v) in &premigrated {
            cache.put(k, *v)?;
        }
        let t = Instant::now();
        let out = migrate_state(&store, &r1, &spec, &cache, &opts)?;
        finals.push(secs(t));
        fin.get_or_insert(out);
    }
    let fin = fin.context("--repeat is at least 1")?;
    let (mut uncached, mut unc_report) = (Vec::new(), Default::default());
    for _ in 0..a.repeat {
        let t = Instant::now();
        let unc = migrate_state(&node_store(), &r1, &spec, &MemoryCache::default(), &opts)?;
        uncached.push(secs(t));
        unc_report = unc.report;
        anyhow::ensure!(
            unc.state_root == fin.state_root,
            "final {} differs from uncached {}",
            fin.state_root,
            unc.state_root
        );
    }
    let ((fin_secs, fin_min), (unc_secs, unc_min)) = (median_min(finals), median_min(uncached));
    let phases: Vec<String> = fin
        .report
        .phases
        .iter()
        .map(|(p, s)| format!("{p} {s:.4}"))
        .collect();
    let work_ratio =
        unc_report.sectors_transformed() as f64 / fin.report.sectors_transformed().max(1) as f64;
    let runs = if a.repeat > 1 {
        format!(
            " (medians of {} runs; minimums {fin_min:.4}s and {unc_min:.3}s)",
            a.repeat
        )
    } else {
        String::new()
    };
    println!(
        "premigration {pre:.3}s; final {fin_secs:.4}s ({}; {} sectors via diff); uncached {unc_secs:.3}s, which transforms {work_ratio:.1}x the sector infos; {:.1}x{runs}; roots agree: {}",
        phases.join(", "),
        fin.report.sectors_via_diff,
        unc_secs / fin_secs,
        fin.state_root
    );
    if let Some(p) = &a.json {
        let j = serde_json::json!({
            "premigration_secs": pre, "final_secs": fin_secs, "uncached_secs": unc_secs,
            "ratio": unc_secs / fin_secs, "root": fin.state_root.to_string(),
            "repeat": a.repeat, "work_ratio": work_ratio, "final_min_secs": fin_min, "uncached_min_secs": unc_min,
            "sectors_via_diff": fin.report.sectors_via_diff,
        });
        std::fs::write(p, serde_json::to_vec_pretty(&j)?)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AmtImpl {
    /// fil-migrate's bottom-up builder.
    Ours,
    /// `fvm_ipld_amt` set loop + flush.
    Fvm,
}

#[derive(Debug, Args)]
pub struct AmtBuildArgs {
    /// Which builder.
    #[arg(long = "impl", value_enum)]
    which: AmtImpl,
    /// Number of values.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
}

fn amt_build(a: AmtBuildArgs) -> anyhow::Result<()> {
    use fil_migrate::ipld::amt::AmtBuilder;
    use fil_migrate::store::Sink;
    use fvm_ipld_encoding::RawBytes;
    let value = |i: u64| {
        let mut v = vec![7u8; 200];
        v[..8].copy_from_slice(&i.to_be_bytes());
        RawBytes::new(v)
    };
    let sink = Sink::default();
    let t = Instant::now();
    let root = match a.which {
        AmtImpl::Ours => {
            let mut b = AmtBuilder::new(&sink, 5)?;
            for i in 0..a.entries {
                b.push(i, &fvm_ipld_encoding::to_vec(&value(i))?)?;
            }
            b.finish()?
        }
        AmtImpl::Fvm => {
            let mut amt = fvm_ipld_amt::Amt::new_with_bit_width(&sink, 5);
            for i in 0..a.entries {
                amt.set(i, value(i))?;
            }
            amt.flush()?
        }
    };
    let (blocks, bytes) = sink.totals();
    println!(
        "{:?}: {root} in {:.3}s, {blocks} blocks / {bytes} bytes written, peak RSS {} MiB",
        a.which,
        t.elapsed().as_secs_f64(),
        peak_rss_bytes() >> 20
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Both,
    Engine,
    Reference,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Input snapshot CAR.
    #[arg(long)]
    snapshot: PathBuf,
    /// Upgrade, or `auto`: the one that starts from the state's bundle.
    #[arg(long, default_value = "auto")]
    upgrade: String,
    /// Network (default: the state's; given, it must match).
    #[arg(long)]
    network: Option<Network>,
    /// Which implementation(s) to run (one per process to measure peak RSS).
    #[arg(long = "impl", value_enum, default_value = "both")]
    which: Which,
    /// Engine worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Engine memory budget.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    memory_budget: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Upgrade(a) => upgrade(a),
        BenchCommand::AmtBuild(a) => amt_build(a),
        BenchCommand::Suite(a) => super::bench_suite::run(a),
        BenchCommand::Final(a) => final_in_process(a),
        BenchCommand::Bound(a) => super::bench_bound::run(a),
    }
}

fn upgrade(a: UpgradeArgs) -> anyhow::Result<()> {
    let car = CarSource::open(
        &a.snapshot,
        CarSourceOptions {
            verify_hashes: false,
            ..Default::default()
        },
    )?;
    let root = default_state_root(&car, car.roots())?;
    let spec = super::migrate::choose_upgrade(&car, &root, &a.upgrade, a.network)?;
    let mut engine = None;
    let mut json = serde_json::Map::new();
    if a.which != Which::Reference {
        let store = Overlay {
            upper: MemStore::new(),
            lower: &car,
        };
        let t = Instant::now();
        let out = migrate_state(
            &store,
            &root,
            &spec,
            &ScratchCache::default(),
            &MigrationOptions {
                threads: a.threads,
                memory_budget: a.memory_budget,
                ..Default::default()
            },
        )?;
        let secs = t.elapsed().as_secs_f64();
        let sectors = out.report.sectors_from_scratch;
        println!(
            "engine:    {} {} in {secs:.3}s, {} actors, {sectors} sectors transformed, {} threads, {} MiB peak",
            spec.name,
            out.state_root,
            out.report.actors,
            out.report.threads,
            peak_rss_bytes() >> 20
        );
        engine = Some((out.state_root, secs));
        json.insert(
            "engine".into(),
            serde_json::json!({
                "root": out.state_root.to_string(),
                "secs": secs,
                "sectors": sectors,
                "threads": out.report.threads,
                "bytes_read": out.report.bytes_read,
                "bytes_written": out.report.bytes_written,
                "phases": out.report.phases,
            }),
        );
    }
    if a.which != Which::Engine {
        let store = Overlay {
            upper: MemStore::new(),
            lower: &car,
        };
        let t = Instant::now();
        let r = reference_root(&store, &root, &spec)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "reference: {r} in {secs:.3}s (typed actor state types + fvm_ipld_amt/hamt, one thread)"
        );
        json.insert(
            "reference".into(),
            serde_json::json!({ "root": r.to_string(), "secs": secs }),
        );
        if let Some((e, esecs)) = engine {
            anyhow::ensure!(e == r, "engine and reference disagree: {e} vs {r}");
            println!(
                "ratio:     engine is {:.2}x faster; roots agree",
                secs / esecs
            );
        }
    }
    println!("peak RSS:  {} MiB", peak_rss_bytes() >> 20);
    if let Some(p) = &a.json {
        json.insert("peak_rss_bytes".into(), peak_rss_bytes().into());
        std::fs::write(p, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
