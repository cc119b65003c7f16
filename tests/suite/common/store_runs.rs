//! nv21 migrations over a store directory, as `migrate --store` and a node
//! with a persisted cache run them, and the uncached root they must equal.

use std::path::Path;
use std::time::Duration;

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::{
    migrate_state, MigrationOptions, MigrationOutcome, NoCache, StoreCache, Upgrade,
};
use fil_migrate::store::{DiskStore, DiskStoreOptions, MemStore, Overlay};

/// Two threads, a 256 KiB buffer (many budget flushes on small states) and a
/// checkpoint at every completed actor (the most durability points).
pub fn opts() -> MigrationOptions {
    MigrationOptions {
        threads: 2,
        memory_budget: 256 << 10,
        checkpoint_every: Duration::ZERO,
        ..Default::default()
    }
}

fn spec() -> Upgrade {
    Upgrade::load("nv21", Network::Mainnet).expect("nv21 spec")
}

/// The nv21 root of `root` computed without any cache.
pub fn uncached_root(input: &MemStore, root: &Cid) -> Cid {
    migrate_state(input, root, &spec(), &NoCache, &opts())
        .expect("uncached migration")
        .state_root
}

/// A store directory opened with its migration cache.
pub struct StoreRun {
    pub disk: DiskStore,
    pub cache: StoreCache,
}

impl StoreRun {
    /// Opens the store in `dir`; `keep_diff_bases` as for `StoreCache`.
    pub fn open(dir: &Path, keep_diff_bases: bool) -> StoreRun {
        let disk = DiskStore::open(dir, DiskStoreOptions::default()).expect("open store");
        let cache = StoreCache::open(&disk, "nv21", Network::Mainnet)
            .expect("open cache")
            .keep_diff_bases(keep_diff_bases);
        StoreRun { disk, cache }
    }

    /// Migrates `root`, reading the store over `input` and writing to it.
    pub fn migrate(
        &self,
        input: &MemStore,
        root: &Cid,
        opts: &MigrationOptions,
    ) -> fil_migrate::Result<MigrationOutcome> {
        let backing = Overlay {
            upper: &self.disk,
            lower: input,
        };
        migrate_state(&backing, root, &spec(), &self.cache, opts)
    }
}
