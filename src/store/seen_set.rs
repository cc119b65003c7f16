//! An exact set of visited CIDs with bounded memory, for walks over tens of
//! millions of blocks (export, gc). CIDs are reduced to 128-bit fingerprints
//! (a collision needs ~2^64 blocks); up to `memory_entries` of them live in a
//! hash set, beyond that all of them move to a temporary store, opened
//! through the storage seam ([`super::backend`]) like any other.

use std::collections::HashSet;
use std::sync::Arc;

use cid::Cid;

use super::backend::{Op, Space, StoreBackend, StoreFs};
use super::{DiskStoreOptions, RealFs};
use crate::error::{Error, Result};
use crate::ipld::cids::fingerprint;

/// Default number of fingerprints kept in memory (~20 bytes each: 320 MB).
pub const DEFAULT_MEMORY_ENTRIES: usize = 16_000_000;

/// A set of CIDs that spills to disk past a memory bound.
pub struct SeenSet {
    memory: HashSet<u128>,
    limit: usize,
    disk: Option<(tempfile::TempDir, Arc<dyn StoreBackend>)>,
    len: u64,
}

impl SeenSet {
    /// A set keeping at most `memory_entries` fingerprints in memory.
    pub fn new(memory_entries: usize) -> Self {
        SeenSet {
            memory: HashSet::new(),
            limit: memory_entries,
            disk: None,
            len: 0,
        }
    }

    /// Whether the set has spilled to disk.
    pub fn spilled(&self) -> bool {
        self.disk.is_some()
    }

    /// Inserts `cid`; returns true if it was not present.
    pub fn insert(&mut self, cid: &Cid) -> Result<bool> {
        let fp = fingerprint(cid);
        let fresh = match &self.disk {
            None => {
                let fresh = self.memory.insert(fp);
                if self.memory.len() > self.limit {
                    self.spill()?;
                }
                fresh
            }
            Some((_, store)) => {
                let key = fp.to_le_bytes();
                if store.contains(Space::Meta, &key)? {
                    false
                } else {
                    store.commit(&mut std::iter::once(Op::Put(Space::Meta, &key, &[])))?;
                    true
                }
            }
        };
        self.len += u64::from(fresh);
        Ok(fresh)
    }

    fn spill(&mut self) -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let store = RealFs.open(dir.path(), &DiskStoreOptions::default())?;
        let keys: Vec<[u8; 16]> = self.memory.drain().map(u128::to_le_bytes).collect();
        store.commit(&mut keys.iter().map(|k| Op::Put(Space::Meta, k, &[])))?;
        self.memory = HashSet::new();
        tracing::info!("seen-set spilled to disk after {} entries", self.len);
        self.disk = Some((dir, store));
        Ok(())
    }
}
