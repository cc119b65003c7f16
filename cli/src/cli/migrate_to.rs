//! `migrate --to`: several upgrades in turn on one snapshot, in one
//! temporary store, each one's output root printed and the next one's input.

use std::time::Instant;

use anyhow::Context;
use cid::Cid;
use fil_migrate::chain::StateSource;
use fil_migrate::migration::verify::verify;
use fil_migrate::migration::{
    default_memory_budget, migrate_state, MemoryCache, MigrationOptions, Upgrade,
};
use fil_migrate::store::{CarSource, DiskStore, DiskStoreOptions, LowerFirst, Overlay};

use super::migrate_args::MigrateArgs;

/// Runs `specs` in turn from `input_root`; prints `<upgrade> <root>` per
/// step and the last root alone on the last line.
pub fn run_chain(
    a: &MigrateArgs,
    car: &CarSource,
    input_root: Cid,
    specs: &[Upgrade],
    source: &StateSource,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let disk = DiskStore::open(tmp.path().join("store"), DiskStoreOptions::default())?;
    disk.abandon();
    let backing = LowerFirst(Overlay {
        upper: disk.clone(),
        lower: car,
    });
    let opts = MigrationOptions {
        threads: a.threads,
        memory_budget: a.memory_budget.unwrap_or_else(default_memory_budget),
        progress: true,
        cancel: super::signals::cancel_token(),
        ..Default::default()
    };
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    eprintln!("upgrades: {}", names.join(" → "));
    let total = Instant::now();
    let mut root = input_root;
    let mut reports = Vec::with_capacity(specs.len());
    for spec in specs {
        eprintln!(
            "upgrade {} on {} at epoch {}: {}",
            spec.name, spec.network, spec.height, spec.description
        );
        let t = Instant::now();
        let outcome = migrate_state(&backing, &root, spec, &MemoryCache::default(), &opts)
            .with_context(|| format!("upgrade {}", spec.name))?;
        let mut report = outcome.report;
        report.source = Some(source.clone());
        if a.verify {
            let v = verify(&backing, &root, &outcome.state_root, spec, &opts)
                .with_context(|| format!("verifying upgrade {}", spec.name))?;
            report.verified = Some(true);
            report.notes.push(format!(
                "verify: uncached from-scratch run and the typed reference path agree ({}){}",
                v.reference_root,
                v.output_check.map(|c| format!("; {c}")).unwrap_or_default()
            ));
            eprintln!("{}", report.notes.last().expect("just pushed"));
        }
        eprintln!(
            "{}: {} actors in {:.2}s, peak RSS {} MiB",
            spec.name,
            report.actors,
            t.elapsed().as_secs_f64(),
            report.peak_rss_bytes >> 20
        );
        println!("{} {}", spec.name, outcome.state_root);
        root = outcome.state_root;
        reports.push(report);
    }
    if let Some(out) = &a.out {
        super::outputs::export_state(&backing, &root, out)?;
    }
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&reports)?)
            .with_context(|| format!("writing report {}", path.display()))?;
    }
    eprintln!(
        "{} upgrades in {:.2}s",
        specs.len(),
        total.elapsed().as_secs_f64()
    );
    println!("{root}");
    Ok(())
}
