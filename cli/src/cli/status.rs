//! `fil-migrate status`: what a store holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use fil_migrate::migration::StoreCache;
use fil_migrate::store::{DiskStore, DiskStoreOptions};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
}

pub fn run(a: StatusArgs) -> anyhow::Result<()> {
    // A read: a directory that is not a store yet is not made one.
    anyhow::ensure!(
        fil_migrate::store::claim::is_store(&a.store),
        "{} is not a fil-migrate store (no {} marker)",
        a.store.display(),
        fil_migrate::store::claim::MARKER
    );
    let disk = DiskStore::open(&a.store, DiskStoreOptions::default())?;
    let scope = StoreCache::scope_of(&disk)?;
    let entries = StoreCache::durable_entries(&disk)?;
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, _) in &entries {
        let kind = if k.starts_with("sectorsAmt-") {
            "migrated sectors AMTs (sectorsAmt-)"
        } else if k.starts_with("prevSectorsIn-") {
            "miners with a diff base (prevSectorsIn-)"
        } else if k.starts_with("prevSectorsOut-") {
            "miners with a previous output (prevSectorsOut-)"
        } else if k.starts_with("actorsTree-") {
            "migrated actors trees (actorsTree-)"
        } else if k.starts_with("prevActors") {
            "state-tree diff base (prevActorsIn/Out)"
        } else if k.contains("-head-") {
            "migrated miner heads (<addr>-head-)"
        } else {
            "other"
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!("store:       {}", a.store.display());
    println!("migration:   {}", scope.as_deref().unwrap_or("(none yet)"));
    println!("cache:       {} entries", entries.len());
    for (k, n) in kinds {
        println!("  {k:<50} {n}");
    }
    drop(disk);
    println!(
        "disk space:  {} bytes",
        fil_migrate::store::StoreFs::disk_usage(&fil_migrate::store::RealFs, &a.store)?
    );
    Ok(())
}
