//! The embedded on-disk block store: content-addressed blocks and the cache's
//! metadata, over a [`StoreBackend`] (a block log or fjall in production,
//! [`super::fault::SimFs`] in crash tests).
//!
//! Durability model: writes (single or batched) are journaled in order but
//! not fsynced; [`DiskStore::sync`] is the durability point and returns only
//! after the journal is on disk. Because batches are journaled in the order
//! they are committed, a crash keeps a prefix of them: if a parent was written
//! in a later batch than its children, no recovered state has the parent
//! without the children.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::backend::{Op, Space, StoreBackend, StoreEngine, StoreFs};
use super::claim::{db_dir, StoreClaim};
use super::real_fs::RealFs;
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
    /// The engine of a new store (an existing one keeps its own).
    pub engine: StoreEngine,
    /// Block log: waiting index entries from which a durability point
    /// bulk-loads them into the index's tables rather than its journal
    /// (fewer, and the journal stays small to replay at the next open).
    pub index_ingest_from: usize,
}

impl Default for DiskStoreOptions {
    fn default() -> Self {
        DiskStoreOptions {
            cache_bytes: 8 << 20,
            write_buffer_bytes: 64 << 20,
            engine: StoreEngine::default(),
            index_ingest_from: 4096,
        }
    }
}

/// A durable content-addressed block store in a directory (its database
/// in the `db` subdirectory, see [`super::claim`]), claimed for as long as
/// any clone of it is alive.
#[derive(Clone)]
pub struct DiskStore {
    path: PathBuf,
    db: PathBuf,
    backend: Arc<dyn StoreBackend>,
    fs: Arc<dyn StoreFs>,
    claim: Arc<StoreClaim>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .finish()
    }
}

impl DiskStore {
    /// The engine of the store in `dir` on the real filesystem, if one is
    /// there: `gc` keeps it unless asked to convert.
    pub fn engine_of(dir: impl AsRef<Path>) -> Option<StoreEngine> {
        super::real_fs::engine_in(&db_dir(dir.as_ref()))
    }

    /// Opens (or creates) a store in `dir` on the real filesystem.
    pub fn open(dir: impl AsRef<Path>, opts: DiskStoreOptions) -> Result<Self> {
        Self::open_on(Arc::new(RealFs), dir, opts)
    }

    /// Opens (or creates) a store in `dir` of `fs`: claims it (a new or
    /// empty directory becomes a store, another is refused; one process at
    /// a time), then finishes or undoes a database swap a crash interrupted.
    pub fn open_on(
        fs: Arc<dyn StoreFs>,
        dir: impl AsRef<Path>,
        opts: DiskStoreOptions,
    ) -> Result<Self> {
        let path = dir.as_ref().to_path_buf();
        let claim = Arc::new(fs.claim(&path)?);
        let db = db_dir(&path);
        super::replace::recover(&*fs, &db)?;
        let backend = fs.open(&db, &opts)?;
        Ok(DiskStore {
            path,
            db,
            backend,
            fs,
            claim,
        })
    }

    /// A second database `db` inside this store's directory, under this
    /// store's claim (garbage collection's rewrite, swapped in for the
    /// store's own database while the claim is held).
    pub fn open_beside(&self, db: &Path, opts: DiskStoreOptions) -> Result<Self> {
        let backend = self.fs.open(db, &opts)?;
        Ok(DiskStore {
            path: db.to_path_buf(),
            db: db.to_path_buf(),
            backend,
            fs: self.fs.clone(),
            claim: self.claim.clone(),
        })
    }

    /// Marks a temporary store that is deleted after this run: its close
    /// then skips the work that would make its last writes durable.
    pub fn abandon(&self) {
        self.backend.abandon();
    }

    /// The engine the store was made with.
    pub fn engine(&self) -> StoreEngine {
        self.backend.engine()
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of the store's database.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The store's claim (its lock): held by whoever must keep other runs
    /// out after closing the store (garbage collection's swap).
    pub fn claim(&self) -> Arc<StoreClaim> {
        self.claim.clone()
    }

    /// The filesystem the store lives on (a rewrite goes beside it there).
    pub fn fs(&self) -> &Arc<dyn StoreFs> {
        &self.fs
    }

    /// Writes many blocks as one atomic, ordered batch.
    pub fn put_batch<'a>(
        &self,
        blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>,
    ) -> Result<()> {
        self.commit_blocks(blocks.into_iter().map(|(c, d)| (c.to_bytes(), d)).collect())
    }

    /// Commits `(CID bytes, block)` pairs as one batch.
    fn commit_blocks<D: AsRef<[u8]>>(&self, keyed: Vec<(Vec<u8>, D)>) -> Result<()> {
        self.backend.commit(
            &mut keyed
                .iter()
                .map(|(k, d)| Op::Put(Space::Blocks, k.as_slice(), d.as_ref())),
        )
    }

    /// The durability point: returns once everything written before the call is on disk.
    pub fn sync(&self) -> Result<()> {
        self.backend.persist()
    }

    /// Moves everything written so far out of the journal into the store's
    /// tables and waits for it. Call it when a run ends: a store left with a
    /// long journal makes the next open replay every block in it (a quarter
    /// of a final migration's time, measured), and its compaction then
    /// competes with that run.
    pub fn settle(&self) -> Result<()> {
        self.backend.settle()
    }

    /// [`settle`](Self::settle)s, then merges the block tables into one
    /// sorted run. A premigration ends with it: the final migration then
    /// reads the previous trees from few tables and no background
    /// compaction competes with it for the cores.
    pub fn compact(&self) -> Result<()> {
        self.backend.compact()
    }

    /// Reads a block.
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        self.backend.get(Space::Blocks, &cid.to_bytes())
    }

    /// Whether the store holds a block.
    pub fn has_block(&self, cid: &Cid) -> Result<bool> {
        self.backend.contains(Space::Blocks, &cid.to_bytes())
    }

    /// Bulk-loads blocks given in ascending key order (`Cid::to_bytes`) into
    /// a store's tables directly, bypassing the journal: the fast way to
    /// fill a fresh store, durable once this returns.
    pub fn ingest_blocks<'k>(
        &self,
        sorted: impl IntoIterator<Item = Result<(&'k [u8], Vec<u8>)>> + 'k,
    ) -> Result<()> {
        self.backend.ingest(&mut sorted.into_iter())
    }

    /// Removes blocks (used by garbage collection).
    pub fn remove_blocks<'a>(&self, cids: impl IntoIterator<Item = &'a Cid>) -> Result<()> {
        let keys: Vec<Vec<u8>> = cids.into_iter().map(|c| c.to_bytes()).collect();
        self.backend
            .commit(&mut keys.iter().map(|k| Op::Remove(Space::Blocks, k.as_slice())))
    }

    /// Iterates every stored block's CID.
    pub fn for_each_cid(&self, mut f: impl FnMut(Cid) -> Result<()>) -> Result<()> {
        self.backend.for_each_key(Space::Blocks, &mut |key| {
            let cid = Cid::try_from(key).map_err(|e| Error::Store {
                path: self.path.clone(),
                failure: crate::error::StoreFailure::Damaged,
                detail: format!("a block key that is not a CID: {e}"),
            })?;
            f(cid)
        })
    }

    /// Bytes used on disk by the whole store.
    pub fn disk_space(&self) -> Result<u64> {
        self.backend.disk_space()
    }

    /// Reads a metadata value (cache entries, checkpoints).
    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.backend.get(Space::Meta, key)
    }

    /// Writes a metadata value. Not durable until [`DiskStore::sync`].
    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.backend
            .commit(&mut std::iter::once(Op::Put(Space::Meta, key, value)))
    }

    /// Writes many metadata values as one atomic batch: after a crash the
    /// store holds all of them or none (a cache entry pair such as a diff
    /// base's input and output must never be half-written). Not durable until
    /// [`DiskStore::sync`].
    pub fn put_meta_batch<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let entries: Vec<(K, V)> = entries.into_iter().collect();
        self.backend.commit(
            &mut entries
                .iter()
                .map(|(k, v)| Op::Put(Space::Meta, k.as_ref(), v.as_ref())),
        )
    }

    /// Removes a metadata value.
    pub fn remove_meta(&self, key: &[u8]) -> Result<()> {
        self.backend
            .commit(&mut std::iter::once(Op::Remove(Space::Meta, key)))
    }

    /// All metadata entries whose key starts with `prefix`.
    pub fn meta_with_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.backend.with_prefix(Space::Meta, prefix)
    }
}

impl Blockstore for DiskStore {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.get_block(k)?)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        let key = k.to_bytes();
        Ok(self
            .backend
            .commit(&mut std::iter::once(Op::Put(Space::Blocks, &key, block)))?)
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
        // Keyed once: the flush of every budgeted write buffer comes here.
        Ok(self.commit_blocks(blocks.into_iter().map(|(c, d)| (c.to_bytes(), d)).collect())?)
    }
}
