//! A migration cache persisted in a fil-migrate store directory, so a
//! premigration's work survives the process (a node restart, a crash).
//!
//! Durability rule (docs/design.md §4): an entry is written durable only after every
//! block reachable from its root is durable. `put` stages entries in memory
//! (visible to `get` at once); [`StoreCache::checkpoint`] flushes every staged
//! root through the write buffer, syncs the block store, then writes the
//! entries and syncs again. A crash at any point leaves either the previous
//! entries or the new ones, each naming a root whose blocks are on disk.
//!
//! A store belongs to one upgrade on one network; opening it for another is
//! an error rather than a source of wrong roots. A durable entry whose root
//! is missing from the store (a damaged store) is ignored and the result is
//! recomputed; the fallbacks are counted for the report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use parking_lot::{Mutex, RwLock};

use super::cache::{is_diff_base, names_input, MigrationCache};
use crate::actors::manifest::Network;
use crate::error::{Error, Result};
use crate::store::DiskStore;

const SCOPE_KEY: &[u8] = b"store/scope";
/// Prefix of cache entries in the store's meta keyspace.
pub(crate) const ENTRY_PREFIX: &str = "cache/";

/// The persisted cache of one store directory.
pub struct StoreCache {
    disk: DiskStore,
    staged: RwLock<HashMap<String, Cid>>,
    checkpoint_lock: Mutex<()>,
    fallbacks: AtomicU64,
    committed: AtomicU64,
    keep_diff_bases: bool,
}

impl StoreCache {
    /// Opens the cache of `disk` for `upgrade` on `network`, claiming the
    /// store for them if it is new.
    pub fn open(disk: &DiskStore, upgrade: &str, network: Network) -> Result<Self> {
        let scope = format!("{upgrade}/{network}");
        match disk.get_meta(SCOPE_KEY)? {
            Some(s) if s != scope.as_bytes() => {
                return Err(Error::Config(format!(
                    "store {} holds a {} migration, not {scope}; use another --store",
                    disk.path().display(),
                    String::from_utf8_lossy(&s)
                )))
            }
            Some(_) => {}
            None => {
                disk.put_meta(SCOPE_KEY, scope.as_bytes())?;
                disk.sync()?;
            }
        }
        Ok(StoreCache {
            disk: disk.clone(),
            staged: RwLock::new(HashMap::new()),
            checkpoint_lock: Mutex::new(()),
            fallbacks: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            keep_diff_bases: true,
        })
    }

    /// Whether the `prevSectorsIn/Out` and `prevActorsIn/Out` pairs (the base of the next run's
    /// diff) are made durable; on by default. Their input roots live outside
    /// this store (in the node's blockstore, or in the snapshot when the run
    /// also copies them here). A run whose input trees will be gone
    /// afterwards (a final migration from a snapshot that keeps no copy)
    /// turns it off, so no durable entry names a root that will not be
    /// there; its pairs then serve only the run itself, and the store keeps
    /// the previous durable pair.
    pub fn keep_diff_bases(mut self, keep: bool) -> Self {
        self.keep_diff_bases = keep;
        self
    }

    /// The scope (`upgrade/network`) recorded in a store, if any.
    pub fn scope_of(disk: &DiskStore) -> Result<Option<String>> {
        Ok(disk
            .get_meta(SCOPE_KEY)?
            .map(|s| String::from_utf8_lossy(&s).into_owned()))
    }

    /// Durable entries of a store.
    pub fn durable_entries(disk: &DiskStore) -> Result<Vec<(String, Cid)>> {
        let mut out = Vec::new();
        for (k, v) in disk.meta_with_prefix(ENTRY_PREFIX.as_bytes())? {
            let key = String::from_utf8_lossy(&k[ENTRY_PREFIX.len()..]).into_owned();
            match Cid::try_from(&v[..]) {
                Ok(c) => out.push((key, c)),
                Err(_) => tracing::warn!(
                    "store {}: ignoring corrupt cache entry {key}",
                    disk.path().display()
                ),
            }
        }
        Ok(out)
    }

    /// Entries ignored because their root was missing from the store.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Entries made durable so far by this process.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Makes every staged entry durable: flushes its root with `flush`
    /// (children before parents), syncs the blocks, then writes and syncs the
    /// entries.
    pub fn checkpoint(&self, flush: &dyn Fn(&Cid) -> Result<()>) -> Result<usize> {
        let _one_at_a_time = self.checkpoint_lock.lock();
        let batch: Vec<(String, Cid)> = self
            .staged
            .read()
            .iter()
            .filter(|(k, _)| self.keep_diff_bases || !is_diff_base(k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        for (_, root) in &batch {
            flush(root)?;
        }
        self.disk.sync()?;
        // One atomic batch: a crash leaves all of a checkpoint's entries or
        // none, never a diff base's input without its output.
        self.disk.put_meta_batch(
            batch
                .iter()
                .map(|(k, v)| (format!("{ENTRY_PREFIX}{k}"), v.to_bytes())),
        )?;
        self.disk.sync()?;
        let mut staged = self.staged.write();
        for (k, v) in &batch {
            if staged.get(k) == Some(v) {
                staged.remove(k);
            }
        }
        self.committed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(batch.len())
    }
}

impl MigrationCache for StoreCache {
    fn get(&self, key: &str) -> Result<Option<Cid>> {
        if let Some(c) = self.staged.read().get(key) {
            return Ok(Some(*c));
        }
        let Some(v) = self
            .disk
            .get_meta(format!("{ENTRY_PREFIX}{key}").as_bytes())?
        else {
            return Ok(None);
        };
        let cid = match Cid::try_from(&v[..]) {
            Ok(c) => c,
            Err(_) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        };
        // Output roots must be in the store; an input root (prevSectorsIn-,
        // prevActorsIn) may live in the snapshot instead, and the migrator
        // checks it can read it before diffing.
        if !names_input(key) && !self.disk.has_block(&cid)? {
            tracing::warn!(
                "cache entry {key} names {cid}, which the store does not hold: recomputing"
            );
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(cid))
    }

    fn put(&self, key: &str, value: Cid) -> Result<()> {
        self.staged.write().insert(key.to_string(), value);
        Ok(())
    }

    fn put_many(&self, entries: &[(&str, Cid)]) -> Result<()> {
        // One lock: a checkpoint's snapshot of `staged` is taken under the
        // same lock, so it never holds half of a pair.
        let mut staged = self.staged.write();
        for (k, v) in entries {
            staged.insert(k.to_string(), *v);
        }
        Ok(())
    }

    fn checkpoint(&self, flush: &dyn Fn(&Cid) -> Result<()>) -> Result<()> {
        StoreCache::checkpoint(self, flush).map(|_| ())
    }
}
