//! `fil-migrate migrate`: migrate a snapshot offline.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cid::Cid;
use clap::Args;
use fil_migrate::actors::manifest::Network;
use fil_migrate::chain::{snapshot_state, StateSource};
use fil_migrate::migration::chain::upgrade_path_of;
use fil_migrate::migration::detect::{check_spec, next_upgrade, state_facts};
use fil_migrate::migration::report::SnapshotRead;
use fil_migrate::migration::store_run::{migrate_on_store, StoreRole};
use fil_migrate::migration::verify::verify;
use fil_migrate::migration::{
    default_memory_budget, migrate_state, MemoryCache, MigrationOptions, StoreCache, UpgradeSpec,
};
use fil_migrate::store::{
    export_car, CarSource, CarSourceOptions, DiskStore, DiskStoreOptions, ExportOptions,
    LowerFirst, Overlay,
};

use super::args::{clamp_threads, parse_bytes, parse_seconds};
use super::output_path::checked_output;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Input snapshot: a CARv1, a `.forest.car.zst` (served in place through
    /// its frame index) or a single-stream `.car.zst` (decompressed once).
    #[arg(long)]
    pub(super) snapshot: PathBuf,
    /// For a chain snapshot (block headers as roots): migrate the state of
    /// the tipset at this epoch (the last one before it if it was a null
    /// round), found by walking parents back from the head. Default: the
    /// head tipset's ParentStateRoot.
    #[arg(long, conflicts_with = "state_root")]
    pub(super) epoch: Option<i64>,
    /// Decompressed frames a framed snapshot keeps in memory.
    #[arg(long, value_parser = parse_bytes, default_value = "16MiB")]
    pub(super) frame_cache: u64,
    /// Upgrade to run (`nv21` … `nv29`, a fix upgrade such as `nv22fix`),
    /// or `auto`: the one that starts from the state's actors bundle (its
    /// system actor's manifest).
    #[arg(long, default_value = "auto")]
    pub(super) upgrade: String,
    /// Run every upgrade from the state's bundle up to this network version
    /// (`nv29`) or upgrade (`nv26fix`) in turn, each one's output the next
    /// one's input, printing each root. A rehearsal: no messages run in
    /// between, so it is not a chain's history.
    #[arg(long, conflicts_with_all = ["upgrade", "store", "keep_inputs"])]
    pub(super) to: Option<String>,
    /// Network (selects bundles and heights): mainnet (alias testnetnet) or
    /// calibnet (alias calibrationnet). Default: the state's own (its init
    /// actor's network name); given, it must match it. A state of another
    /// name (a devnet) needs it.
    #[arg(long)]
    pub(super) network: Option<Network>,
    /// State root to migrate (default: the CAR root, or its head tipset's ParentStateRoot).
    #[arg(long)]
    pub(super) state_root: Option<String>,
    /// Store directory: receives the output blocks and keeps the migration cache
    /// (a premigration's results are reused by the next run on the same store).
    /// Default: a temporary one, removed at exit.
    #[arg(long)]
    pub(super) store: Option<PathBuf>,
    /// Also write the migrated state as a snapshot: `.forest.car.zst` (framed
    /// and indexed, what the Rust node imports), `.car.zst` or `.car`. Its
    /// root is the state root.
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Memory for not-yet-written output blocks (default: a quarter of available memory).
    #[arg(long, value_parser = parse_bytes)]
    pub(super) memory_budget: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub(super) threads: usize,
    /// Re-run from scratch without cache, compare roots, decode every migrated sector.
    #[arg(long)]
    pub(super) verify: bool,
    /// Write a JSON report here.
    #[arg(long)]
    pub(super) report: Option<PathBuf>,
    /// Seconds between cache checkpoints (finished work made durable for
    /// resume), from 0 to a week.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub(super) checkpoint_every: f64,
    /// Skip hash verification of blocks read from the snapshot.
    #[arg(long)]
    pub(super) no_verify_reads: bool,
    /// With --store: also keep each miner's input sectors tree, so a later
    /// run on this store can diff against it (premigrate always does).
    #[arg(long)]
    pub(super) keep_inputs: bool,
}

pub fn run(a: MigrateArgs) -> anyhow::Result<()> {
    run_migration(a, false)
}

/// `premigrate`: the same run, into a store whose cache the final migration reuses.
pub fn run_premigrate(a: MigrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.store.is_some(),
        "premigrate needs --store DIR to keep its results"
    );
    run_migration(a, true)
}

/// The upgrade `--upgrade` / `--network` ask for, checked against the state.
pub fn choose_upgrade(
    store: &impl fvm_ipld_blockstore::Blockstore,
    state_root: &Cid,
    upgrade: &str,
    network: Option<Network>,
) -> anyhow::Result<UpgradeSpec> {
    let facts = state_facts(store, state_root)?;
    let network = facts.resolve_network(network)?;
    let spec = if upgrade == "auto" {
        next_upgrade(&facts, network)?
    } else {
        UpgradeSpec::load(upgrade, network)?
    };
    check_spec(&facts, &spec)?;
    Ok(spec)
}

fn run_migration(mut a: MigrateArgs, premigration: bool) -> anyhow::Result<()> {
    // Everything a long run would fail on at its end is checked first.
    a.threads = clamp_threads(a.threads);
    a.out = a
        .out
        .map(|o| checked_output(&o, "--out", &[&a.snapshot]))
        .transpose()?;
    a.report = a
        .report
        .map(|r| checked_output(&r, "--report", &[&a.snapshot]))
        .transpose()?;
    if let (Some(o), Some(r)) = (&a.out, &a.report) {
        anyhow::ensure!(
            o != r,
            "--out and --report name the same file {}",
            o.display()
        );
    }
    let t_open = Instant::now();
    let car = std::sync::Arc::new(CarSource::open(
        &a.snapshot,
        CarSourceOptions {
            verify_hashes: !a.no_verify_reads,
            frame_cache_bytes: a.frame_cache as usize,
            ..Default::default()
        },
    )?);
    let open_secs = t_open.elapsed().as_secs_f64();
    let source = match &a.state_root {
        Some(s) => {
            let c =
                Cid::try_from(s.as_str()).with_context(|| format!("invalid --state-root {s:?}"))?;
            // Said up front, and plainly, if it is not a state root.
            match fil_migrate::ipld::load_block(&*car, &c, None) {
                Ok(data) => anyhow::ensure!(
                    matches!(
                        fil_migrate::ipld::cbor::Cursor::new(&data).header(),
                        Ok((fil_migrate::ipld::cbor::major::ARRAY, 3))
                    ),
                    "--state-root {c} is not a state root ([version, actors, info]): the block is {}",
                    fil_migrate::ipld::cbor::shape_of(&data)
                ),
                Err(fil_migrate::Error::MissingBlock { .. }) => {
                    anyhow::bail!("--state-root {c} is not in {}", a.snapshot.display())
                }
                Err(e) => return Err(e.into()),
            }
            StateSource {
                state_root: c.to_string(),
                tipset_epoch: None,
                tipset: vec![],
                requested_epoch: None,
                head_epoch: None,
            }
        }
        None => match snapshot_state(&*car, car.roots(), a.epoch) {
            Ok(s) => s,
            Err(fil_migrate::Error::MissingBlock { cid, .. }) if car.roots().contains(&cid) => {
                anyhow::bail!(
                    "{}: its header names root {cid}, which the file does not hold (a damaged header, or a snapshot cut short)",
                    a.snapshot.display()
                )
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{}: finding the state to migrate",
                    a.snapshot.display()
                )))
            }
        },
    };
    let input_root = Cid::try_from(source.state_root.as_str())?;
    eprintln!(
        "input: {} ({}, opened in {open_secs:.2}s): {}",
        a.snapshot.display(),
        car.layout_name(),
        source.describe()
    );
    let snapshot_read = || SnapshotRead {
        layout: car.layout_name().to_string(),
        frames_decompressed: car
            .frame_stats()
            .map(|f| f.decompressed.load(std::sync::atomic::Ordering::Relaxed)),
        frame_cache_hits: car
            .frame_stats()
            .map(|f| f.hits.load(std::sync::atomic::Ordering::Relaxed)),
        open_secs,
    };
    if let Some(target) = &a.to {
        anyhow::ensure!(!premigration, "premigrate runs one upgrade: drop --to");
        let specs = upgrade_path_of(&*car, &input_root, a.network, target)?;
        return super::migrate_to::run_chain(&a, &car, input_root, &specs, &source);
    }
    let spec = choose_upgrade(&*car, &input_root, &a.upgrade, a.network)?;
    eprintln!(
        "upgrade {} on {} at epoch {}: {}",
        spec.name, spec.network, spec.height, spec.description
    );
    let tmp = tempfile::tempdir()?;
    let store_dir = a.store.clone().unwrap_or_else(|| tmp.path().join("store"));
    let disk = DiskStore::open(&store_dir, DiskStoreOptions::default())?;
    let backing = LowerFirst(Overlay {
        upper: disk.clone(),
        lower: &*car,
    });
    let opts = MigrationOptions {
        threads: a.threads,
        memory_budget: a.memory_budget.unwrap_or_else(default_memory_budget),
        progress: true,
        checkpoint_every: std::time::Duration::from_secs_f64(a.checkpoint_every.max(0.0)),
        cancel: super::signals::cancel_token(),
        ..Default::default()
    };
    let t = Instant::now();
    // With a store directory the cache persists there (premigration work
    // survives the process) and the input trees are kept for the next run.
    let outcome = if a.store.is_some() {
        let role = if premigration {
            StoreRole::Premigration
        } else {
            StoreRole::Final {
                keep_inputs: a.keep_inputs,
            }
        };
        migrate_on_store(car.clone(), &disk, &input_root, &spec, &opts, role)
    } else {
        migrate_state(&backing, &input_root, &spec, &MemoryCache::default(), &opts)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(fil_migrate::Error::Cancelled) => {
            return Err(interrupted(a.store.is_some().then_some(&disk)))
        }
        Err(e) if e.is_disk_full() => {
            let kept = match &a.store {
                Some(dir) => format!(
                    "the work made durable so far is kept in {} and the same command resumes from it",
                    dir.display()
                ),
                None => "nothing is kept: without --store the run's temporary store is removed".into(),
            };
            return Err(anyhow::Error::new(e).context(kept));
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = outcome.report;
    tracing::info!("migrated {} actors in {:.2?}", report.actors, t.elapsed());
    if let Some(first) = report.first_actor_secs {
        eprintln!(
            "first actor migrated {first:.2}s into the run, {:.2}s after opening the snapshot began",
            first + (t.duration_since(t_open)).as_secs_f64()
        );
    }
    report.source = Some(source.clone());
    report.snapshot = Some(snapshot_read());
    if a.verify {
        let t = Instant::now();
        let v = verify(&backing, &input_root, &outcome.state_root, &spec, &opts)?;
        report.verified = Some(true);
        report.notes.push(match &v.reference_root {
            Some(r) => format!(
                "verify: uncached from-scratch run and the typed reference path agree ({r}), in {:.2}s",
                t.elapsed().as_secs_f64()
            ),
            None => format!(
                "verify: uncached from-scratch run agrees ({}), {} sectors of {} miners decode as v12, in {:.2}s",
                v.from_scratch_root,
                v.sectors_decoded,
                v.miners,
                t.elapsed().as_secs_f64()
            ),
        });
        eprintln!("{}", report.notes.last().expect("just pushed"));
    }
    if let Some(out) = &a.out {
        export_state(&backing, &outcome.state_root, out)?;
    }
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing report {}", path.display()))?;
    }
    eprintln!(
        "{} actors, sectors: {} from scratch / {} via diff / {} from cache; peak RSS {} MiB; {:.2}s",
        report.actors,
        report.sectors_from_scratch,
        report.sectors_via_diff,
        report.sectors_from_cache,
        report.peak_rss_bytes >> 20,
        report.phases.last().map_or(0.0, |p| p.1)
    );
    if premigration {
        eprintln!(
            "premigration done: its results are cached in {}",
            store_dir.display()
        );
    }
    println!("{}", outcome.state_root);
    Ok(())
}

/// What an interrupted run kept: the line the process ends with.
fn interrupted(store: Option<&DiskStore>) -> anyhow::Error {
    match store {
        Some(disk) => match StoreCache::durable_entries(disk) {
            Ok(e) => anyhow::anyhow!(
                "{} cache entries are durable in {} (the finished work, checkpointed): the same command resumes from them",
                e.len(),
                disk.path().display()
            ),
            Err(e) => anyhow::anyhow!(
                "the store {} was checkpointed, but reading it back failed: {e}",
                disk.path().display()
            ),
        },
        None => anyhow::anyhow!(
            "nothing kept (no --store): the temporary store was removed and no output written"
        ),
    }
}

/// Writes the state at `root` as a snapshot CAR, in the format its name
/// asks for (`.forest.car.zst`, `.car.zst` or `.car`).
pub(super) fn export_state(
    store: &impl fvm_ipld_blockstore::Blockstore,
    root: &Cid,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let opts = ExportOptions {
        cancel: Some(super::signals::cancel_token().flag()),
        ..ExportOptions::for_path(out)
    };
    let s = match export_car(store, &[*root], out, &opts) {
        Ok(s) => s,
        Err(fil_migrate::Error::Cancelled) => anyhow::bail!(
            "while writing {}: it was not written (its temporary file is removed); the migrated state root is {root}",
            out.display()
        ),
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "wrote {} ({} blocks, {} bytes)",
        out.display(),
        s.blocks,
        s.car_bytes
    );
    Ok(())
}
