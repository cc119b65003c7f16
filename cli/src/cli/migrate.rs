//! `fil-migrate migrate`: migrate a snapshot offline.

use std::time::Instant;

use anyhow::Context;
use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::chain::{given_state, snapshot_state};
use fil_migrate::migration::chain::upgrade_path_of;
use fil_migrate::migration::detect::{check_spec, next_upgrade, state_facts};
use fil_migrate::migration::report::SnapshotRead;
use fil_migrate::migration::store_run::{migrate_on_store, StoreRole};
use fil_migrate::migration::verify::verify;
use fil_migrate::migration::{
    default_memory_budget, migrate_state, MemoryCache, MigrationOptions, StoreCache, Upgrade,
};
use fil_migrate::store::{CarSource, CarSourceOptions, DiskStore, LowerFirst, Overlay};

use super::args::clamp_threads;
use super::migrate_args::MigrateArgs;
use super::outputs::{checked_output, export_state};

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
) -> anyhow::Result<Upgrade> {
    let facts = state_facts(store, state_root)?;
    let network = facts.resolve_network(network)?;
    let spec = if upgrade == "auto" {
        next_upgrade(&facts, network)?
    } else {
        Upgrade::load(upgrade, network)?
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
    // The snapshot opens on its index at once, its content checked against
    // the index beside the run (see `CarSourceOptions::defer_content_check`):
    // a stale index cannot change the root, but can fail the run, which is
    // then run again on an index rebuilt from the file.
    let (car, t_open) = open_snapshot(&a, true)?;
    match migrate_snapshot(&a, premigration, car.clone(), t_open) {
        Ok(()) => {
            // Not waited for: the run's result stands either way.
            if car.settle_index_if_done()? == Some(false) {
                eprintln!(
                    "note: {} changed since it was indexed; every block this run used was checked against its CID, and the index is rebuilt for the next run",
                    a.snapshot.display()
                );
            }
            Ok(())
        }
        Err(e) => {
            if car.settle_index()? {
                return Err(e);
            }
            eprintln!(
                "{} changed since it was indexed ({e:#}); its index is rebuilt: running again",
                a.snapshot.display()
            );
            drop(car);
            let (car, t_open) = open_snapshot(&a, false)?;
            migrate_snapshot(&a, premigration, car, t_open)
        }
    }
}

/// Opens the snapshot, its content checked against its index beside the
/// run (`deferred`) or before it returns.
fn open_snapshot(
    a: &MigrateArgs,
    deferred: bool,
) -> anyhow::Result<(std::sync::Arc<CarSource>, Instant)> {
    let t_open = Instant::now();
    let car = CarSource::open(
        &a.snapshot,
        CarSourceOptions {
            verify_hashes: !a.no_verify_reads,
            frame_cache_bytes: a.frame_cache as usize,
            defer_content_check: deferred,
            ..Default::default()
        },
    )?;
    Ok((std::sync::Arc::new(car), t_open))
}

/// The migration of the opened snapshot `car`, as `a` says.
fn migrate_snapshot(
    a: &MigrateArgs,
    premigration: bool,
    car: std::sync::Arc<CarSource>,
    t_open: Instant,
) -> anyhow::Result<()> {
    let open_secs = t_open.elapsed().as_secs_f64();
    let source = match &a.state_root {
        Some(s) => {
            let c =
                Cid::try_from(s.as_str()).with_context(|| format!("invalid --state-root {s:?}"))?;
            // Said up front, and plainly, if it is not a state root.
            match given_state(&*car, &c) {
                Ok(s) => s,
                Err(fil_migrate::Error::MissingBlock { .. }) => {
                    anyhow::bail!("--state-root {c} is not in {}", a.snapshot.display())
                }
                Err(e) => return Err(anyhow::Error::new(e).context("--state-root")),
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
        return super::migrate_to::run_chain(a, &car, input_root, &specs, &source);
    }
    let spec = choose_upgrade(&*car, &input_root, &a.upgrade, a.network)?;
    eprintln!(
        "upgrade {} on {} at epoch {}: {}",
        spec.name, spec.network, spec.height, spec.description
    );
    let tmp = tempfile::tempdir()?;
    let store_dir = a.store.clone().unwrap_or_else(|| tmp.path().join("store"));
    let disk = DiskStore::open(&store_dir, a.store_engine.store_options())?;
    if a.store.is_none() {
        disk.abandon();
    }
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
        report.notes.push(format!(
            "verify: uncached from-scratch run and the typed reference path agree ({}){}, in {:.2}s",
            v.reference_root,
            v.output_check.map(|c| format!("; {c}")).unwrap_or_default(),
            t.elapsed().as_secs_f64()
        ));
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
