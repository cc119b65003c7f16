//! The embedded on-disk block store, on `fjall` (a pure-Rust LSM tree) with
//! key-value separation so that 6–9 KB AMT leaves go to blob files and the
//! index tree stays small.
//!
//! Durability model: writes (single or batched) are journaled in order but
//! not fsynced; [`DiskStore::sync`] is the durability point and returns only
//! after the journal is on disk. Because batches are journaled in the order
//! they are committed, a crash keeps a prefix of them: if a parent was written
//! in a later batch than its children, no recovered state has the parent
//! without the children.

use std::path::{Path, PathBuf};

use cid::Cid;
use fjall::config::{CompressionPolicy, PinningPolicy};
use fjall::{
    CompressionType, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode,
};
use fvm_ipld_blockstore::Blockstore;

use crate::error::{Error, Result};

/// Options for opening a [`DiskStore`].
#[derive(Debug, Clone)]
pub struct DiskStoreOptions {
    /// Bytes of fjall's block cache (bounded; it is the store's read cache).
    pub cache_bytes: u64,
    /// Bound on all in-memory write buffers (active and sealed memtables):
    /// blocks are held there until flushed to blob files, so without a bound
    /// a fast writer grows memory while the flush worker catches up.
    pub write_buffer_bytes: u64,
}

impl Default for DiskStoreOptions {
    fn default() -> Self {
        DiskStoreOptions {
            cache_bytes: 8 << 20,
            write_buffer_bytes: 64 << 20,
        }
    }
}

/// Values from this size on go to blob files, which compaction does not
/// rewrite; only their keys and handles stay in the tables. At fjall's
/// default (1 KiB) every miner state (~400 B) stayed in the tables and was
/// rewritten by each compaction: a multiple of the output went to disk.
const SEPARATION_THRESHOLD: u32 = 128;

/// A durable content-addressed block store in a directory.
#[derive(Clone)]
pub struct DiskStore {
    path: PathBuf,
    db: Database,
    blocks: Keyspace,
    meta: Keyspace,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .finish()
    }
}

impl DiskStore {
    /// Opens (or creates) a store in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: DiskStoreOptions) -> Result<Self> {
        let path = dir.as_ref().to_path_buf();
        super::replace::recover(&path)?;
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        let wrap = |source| Error::Store {
            path: path.clone(),
            source,
        };
        // One background worker: with two, fjall's worker 0 hands every
        // compaction request back to the queue and takes it again at once
        // (fjall 3.1 `worker_tick`), spinning a core for as long as a
        // compaction is pending, on a machine with two.
        let db = Database::builder(&path)
            .worker_threads(1)
            .cache_size(opts.cache_bytes)
            .manual_journal_persist(true)
            .open()
            .map_err(wrap)?;
        let blocks = db
            .keyspace("blocks", || {
                // Every table's filter and index stay in memory (about 1.5
                // bytes per block): by default only the first levels' are
                // pinned, and a point read in a deeper table loads its whole
                // filter (a megabyte for a 64 MiB table) through the small
                // block cache, for each of a final migration's reads of the
                // previous trees.
                KeyspaceCreateOptions::default()
                    .max_memtable_size((opts.write_buffer_bytes / 4).max(1 << 20))
                    // Blocks are CBOR full of hashes and the tables' keys are
                    // CIDs: lz4 finds little to compress, at a cost in every
                    // flush and compaction.
                    .with_kv_separation(Some(
                        KvSeparationOptions::default()
                            .separation_threshold(SEPARATION_THRESHOLD)
                            .compression(CompressionType::None),
                    ))
                    .data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
                    .filter_block_pinning_policy(PinningPolicy::all(true))
                    .index_block_pinning_policy(PinningPolicy::all(true))
            })
            .map_err(wrap)?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(wrap)?;
        Ok(DiskStore {
            path,
            db,
            blocks,
            meta,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn wrap(&self, source: fjall::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes many blocks as one atomic, ordered batch.
    pub fn put_batch<'a>(
        &self,
        blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>,
    ) -> Result<()> {
        self.commit_batch(
            &self.blocks,
            blocks.into_iter().map(|(c, d)| (c.to_bytes(), d)),
        )
    }

    /// Inserts `entries` into `keyspace` as one atomic fjall batch.
    fn commit_batch<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        keyspace: &Keyspace,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let mut batch = self.db.batch();
        for (k, v) in entries {
            batch.insert(keyspace, k.as_ref(), v.as_ref());
        }
        batch.commit().map_err(|e| self.wrap(e))
    }

    /// The durability point: returns once everything written before the call is on disk.
    pub fn sync(&self) -> Result<()> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| self.wrap(e))
    }

    /// Moves everything written so far out of the journal into the store's
    /// tables and waits for it. Call it when a run ends: a store left with a
    /// long journal makes the next open replay every block in it (a quarter
    /// of a final migration's time, measured), and its compaction then
    /// competes with that run.
    pub fn settle(&self) -> Result<()> {
        for ks in [&self.blocks, &self.meta] {
            ks.rotate_memtable_and_wait().map_err(|e| self.wrap(e))?;
        }
        self.sync()
    }

    /// [`settle`](Self::settle)s, then merges the block tables into one
    /// sorted run. A premigration ends with it: the final migration then
    /// reads the previous trees from few tables and no background
    /// compaction competes with it for the cores.
    pub fn compact(&self) -> Result<()> {
        self.settle()?;
        self.blocks.major_compact().map_err(|e| self.wrap(e))?;
        self.sync()
    }

    /// Reads a block.
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        let v = self.blocks.get(cid.to_bytes()).map_err(|e| self.wrap(e))?;
        Ok(v.map(|s| s.to_vec()))
    }

    /// Whether the store holds a block.
    pub fn has_block(&self, cid: &Cid) -> Result<bool> {
        self.blocks
            .contains_key(cid.to_bytes())
            .map_err(|e| self.wrap(e))
    }

    /// Bulk-loads blocks given in ascending key order (`Cid::to_bytes`) into
    /// a store's tables directly, bypassing the journal: the fast way to
    /// fill a fresh store, durable once this returns.
    pub fn ingest_blocks<'k>(
        &self,
        sorted: impl IntoIterator<Item = Result<(&'k [u8], Vec<u8>)>>,
    ) -> Result<()> {
        let mut ingestion = self.blocks.start_ingestion().map_err(|e| self.wrap(e))?;
        for item in sorted {
            let (key, data) = item?;
            ingestion.write(key, data).map_err(|e| self.wrap(e))?;
        }
        ingestion.finish().map_err(|e| self.wrap(e))
    }

    /// Removes blocks (used by garbage collection).
    pub fn remove_blocks<'a>(&self, cids: impl IntoIterator<Item = &'a Cid>) -> Result<()> {
        let mut batch = self.db.batch();
        for cid in cids {
            batch.remove(&self.blocks, cid.to_bytes());
        }
        batch.commit().map_err(|e| self.wrap(e))
    }

    /// Iterates every stored block's CID.
    pub fn for_each_cid(&self, mut f: impl FnMut(Cid) -> Result<()>) -> Result<()> {
        for guard in self.blocks.iter() {
            let key = guard.key().map_err(|e| self.wrap(e))?;
            let cid = Cid::try_from(&key[..]).map_err(|e| {
                Error::Invalid(format!("store {}: corrupt key: {e}", self.path.display()))
            })?;
            f(cid)?;
        }
        Ok(())
    }

    /// Bytes used on disk by the whole store.
    pub fn disk_space(&self) -> Result<u64> {
        self.db.disk_space().map_err(|e| self.wrap(e))
    }

    /// Reads a metadata value (cache entries, checkpoints).
    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let v = self.meta.get(key).map_err(|e| self.wrap(e))?;
        Ok(v.map(|s| s.to_vec()))
    }

    /// Writes a metadata value. Not durable until [`DiskStore::sync`].
    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.meta.insert(key, value).map_err(|e| self.wrap(e))
    }

    /// Writes many metadata values as one atomic batch: after a crash the
    /// store holds all of them or none (a cache entry pair such as a diff
    /// base's input and output must never be half-written). Not durable until
    /// [`DiskStore::sync`].
    pub fn put_meta_batch<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        self.commit_batch(&self.meta, entries)
    }

    /// Removes a metadata value.
    pub fn remove_meta(&self, key: &[u8]) -> Result<()> {
        self.meta.remove(key).map_err(|e| self.wrap(e))
    }

    /// All metadata entries whose key starts with `prefix`.
    pub fn meta_with_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for guard in self.meta.prefix(prefix) {
            let (k, v) = guard.into_inner().map_err(|e| self.wrap(e))?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

impl Blockstore for DiskStore {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.get_block(k)?)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.blocks
            .insert(k.to_bytes(), block)
            .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.has_block(k)?)
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        let blocks: Vec<(Cid, D)> = blocks.into_iter().collect();
        Ok(self.put_batch(blocks.iter().map(|(c, d)| (c, d.as_ref())))?)
    }
}
