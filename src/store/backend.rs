//! The seam under [`super::DiskStore`]: the few storage operations it needs
//! (atomic ordered batches, a durability point, bulk ingestion, scans) and the
//! directory operations garbage collection needs (rename, remove, sync).
//!
//! In production both are fjall and `std::fs` ([`super::fjall_backend`]). A
//! test puts [`super::fault::SimFs`] in their place to fail the Nth write,
//! sync or rename, fill the disk, or cut the power at an exact instant, which
//! killing a process at wall-clock moments cannot reach.

use std::path::Path;

use crate::error::Result;

/// How a new store keeps its blocks. An existing store keeps the engine it
/// was made with (its layout says which); garbage collection rewrites a
/// store with the engine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreEngine {
    /// fjall, an LSM tree with key-value separation: blocks and metadata
    /// in one database. It wins only warm random reads of single blocks
    /// (docs/design.md §9).
    Fjall,
    /// Blocks appended to CARv1 segment files, indexed (CID → segment,
    /// offset, length, checksum) in a fjall database that also holds the
    /// metadata (the `block_log` module). The default: faster puts,
    /// flushes, opens, premigrations and finals.
    #[default]
    BlockLog,
}

/// The store's two keyspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    /// Blocks by CID bytes.
    Blocks,
    /// Metadata: the scope, cache entries.
    Meta,
}

impl Space {
    /// Index of the keyspace, for backends holding them in an array.
    pub fn index(self) -> usize {
        match self {
            Space::Blocks => 0,
            Space::Meta => 1,
        }
    }
}

/// One operation of an atomic batch.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// Insert or overwrite a value.
    Put(Space, &'a [u8], &'a [u8]),
    /// Remove a key (absent is not an error).
    Remove(Space, &'a [u8]),
}

/// Sorted `(key, value)` pairs for [`StoreBackend::ingest`].
pub type SortedPairs<'k> = dyn Iterator<Item = Result<(&'k [u8], Vec<u8>)>> + 'k;

/// A store's storage engine. Writes are journaled in commit order and become
/// durable at [`persist`](Self::persist): after a crash a prefix of the
/// committed batches survives, each whole or not at all.
pub trait StoreBackend: Send + Sync {
    /// Reads a value.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Whether a key is present.
    fn contains(&self, space: Space, key: &[u8]) -> Result<bool>;
    /// Applies `ops` as one atomic batch, after every earlier batch.
    fn commit(&self, ops: &mut dyn Iterator<Item = Op<'_>>) -> Result<()>;
    /// The durability point: everything committed before it is on disk.
    fn persist(&self) -> Result<()>;
    /// Moves the journal into tables and waits (no change in content).
    fn settle(&self) -> Result<()>;
    /// Settles and merges the block tables (no change in content).
    fn compact(&self) -> Result<()>;
    /// Bulk-loads blocks given in ascending key order; durable and visible,
    /// all of them, once it returns, none if it fails.
    fn ingest(&self, sorted: &mut SortedPairs<'_>) -> Result<()>;
    /// Calls `f` with every key of `space`, in order.
    fn for_each_key(&self, space: Space, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>;
    /// Every `(key, value)` of `space` whose key starts with `prefix`.
    fn with_prefix(&self, space: Space, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Bytes the store occupies on disk.
    fn disk_space(&self) -> Result<u64>;
    /// The engine this store was made with (what a rewrite keeps).
    fn engine(&self) -> StoreEngine;
    /// The store is about to be deleted: closing it need not make anything
    /// durable (a temporary store's last index flush was 5.6 % of a small
    /// uncached run's instructions). Reads and writes still work.
    fn abandon(&self) {}
}

/// Where stores live: opens them and moves whole store directories.
pub trait StoreFs: Send + Sync {
    /// Opens (or creates) the store in `dir`.
    fn open(
        &self,
        dir: &Path,
        opts: &super::DiskStoreOptions,
    ) -> Result<std::sync::Arc<dyn StoreBackend>>;
    /// Whether `dir` exists.
    fn exists(&self, dir: &Path) -> bool;
    /// Renames a (closed) store directory.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a (closed) store directory; absent is not an error.
    fn remove_dir(&self, dir: &Path) -> Result<()>;
    /// Makes the renames in `dir`'s parent durable.
    fn sync_parent(&self, dir: &Path) -> Result<()>;
    /// Bytes a directory occupies on disk.
    fn disk_usage(&self, dir: &Path) -> Result<u64>;
    /// Claims the store directory `dir` (see [`super::claim`]) for as long
    /// as the claim is held. A simulated filesystem claims nothing.
    fn claim(&self, _dir: &Path) -> Result<super::claim::StoreClaim> {
        Ok(super::claim::StoreClaim::none())
    }
}
