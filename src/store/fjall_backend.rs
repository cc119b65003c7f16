//! The production [`StoreBackend`]: fjall (a pure-Rust LSM tree) with
//! key-value separation so that 6–9 KB AMT leaves go to blob files and the
//! index tree stays small. The block log's index is one too.

use std::path::{Path, PathBuf};

use fjall::config::{CompressionPolicy, HashRatioPolicy, PinningPolicy, RestartIntervalPolicy};
use fjall::{
    CompressionType, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode,
};

use super::backend::{Op, SortedPairs, Space, StoreBackend, StoreEngine};
use super::DiskStoreOptions;
use crate::error::{Error, Result, StoreFailure};

/// Values from this size on go to blob files, which compaction does not
/// rewrite; only their keys and handles stay in the tables. At fjall's
/// default (1 KiB) every miner state (~400 B) stayed in the tables and was
/// rewritten by each compaction: a multiple of the output went to disk.
const SEPARATION_THRESHOLD: u32 = 128;

/// What the block keyspace holds, which decides its layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Blocks themselves: values from 128 bytes on go to blob files.
    Blocks,
    /// A block log's 24-byte locations: kept in the tables, where a
    /// key-value separated tree would only add a check to every read.
    Locations,
}

/// A fjall database with the store's two keyspaces.
pub struct FjallBackend {
    path: PathBuf,
    db: Database,
    spaces: [Keyspace; 2],
    /// The first I/O error a write met. fjall poisons the database after a
    /// failed journal write, and every later call (often on another thread,
    /// and the one whose error is reported) says only `Poisoned`: the cause
    /// an operator can act on, a full disk say, would be lost.
    first_failure: parking_lot::Mutex<Option<(std::io::ErrorKind, String)>>,
}

impl FjallBackend {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path, opts: &DiskStoreOptions) -> Result<Self> {
        Self::open_with(path, opts, Values::Blocks)
    }

    /// Opens (or creates) the database in `path`, its block keyspace laid
    /// out for `values`.
    pub fn open_with(path: &Path, opts: &DiskStoreOptions, values: Values) -> Result<Self> {
        let wrap = |source| store_error(path, source);
        super::fjall_creation::clear_unfinished_creation(path)?;
        // One background worker: with two, fjall's worker 0 hands every
        // compaction request back to the queue and takes it again at once
        // (fjall 3.1 `worker_tick`), spinning a core for as long as a
        // compaction is pending, on a machine with two.
        let db = Database::builder(path)
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
                let opts = KeyspaceCreateOptions::default()
                    .max_memtable_size((opts.write_buffer_bytes / 4).max(1 << 20))
                    // Blocks are CBOR full of hashes and the tables' keys are
                    // CIDs: lz4 finds little to compress, at a cost in every
                    // flush and compaction.
                    .with_kv_separation((values == Values::Blocks).then(|| {
                        KvSeparationOptions::default()
                            .separation_threshold(SEPARATION_THRESHOLD)
                            .compression(CompressionType::None)
                    }))
                    .data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
                    .filter_block_pinning_policy(PinningPolicy::all(true))
                    .index_block_pinning_policy(PinningPolicy::all(true));
                match values {
                    Values::Blocks => opts,
                    // Locations are read one at a time, at random: a hash
                    // map in each data block finds the key without a
                    // binary search and a scan of prefix-coded keys (which
                    // share nothing past the CID prefix anyway).
                    Values::Locations => opts
                        .data_block_hash_ratio_policy(HashRatioPolicy::all(1.0))
                        .data_block_restart_interval_policy(RestartIntervalPolicy::all(1)),
                }
            })
            .map_err(wrap)?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(wrap)?;
        Ok(FjallBackend {
            path: path.to_path_buf(),
            db,
            spaces: [blocks, meta],
            first_failure: parking_lot::Mutex::new(None),
        })
    }

    fn wrap(&self, source: fjall::Error) -> Error {
        match &source {
            fjall::Error::Io(e) | fjall::Error::Storage(fjall::LsmError::Io(e)) => {
                self.first_failure
                    .lock()
                    .get_or_insert_with(|| (e.kind(), e.to_string()));
            }
            fjall::Error::Poisoned => {
                // fjall may poison itself on a failed journal write without
                // returning that error (it only logs it): ask the disk.
                let known = self.first_failure.lock().clone();
                if let Some((kind, msg)) = known.or_else(|| probe_write(&self.path)) {
                    return Error::io(
                        &self.path,
                        std::io::Error::new(
                            kind,
                            format!("the store stopped accepting writes after one failed: {msg}"),
                        ),
                    );
                }
            }
            _ => {}
        }
        store_error(&self.path, source)
    }

    fn space(&self, s: Space) -> &Keyspace {
        &self.spaces[s.index()]
    }
}

impl StoreBackend for FjallBackend {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let v = self.space(space).get(key).map_err(|e| self.wrap(e))?;
        Ok(v.map(|s| s.to_vec()))
    }

    fn contains(&self, space: Space, key: &[u8]) -> Result<bool> {
        self.space(space)
            .contains_key(key)
            .map_err(|e| self.wrap(e))
    }

    fn commit(&self, ops: &mut dyn Iterator<Item = Op<'_>>) -> Result<()> {
        let mut batch = self.db.batch();
        for op in ops {
            match op {
                Op::Put(s, k, v) => batch.insert(self.space(s), k, v),
                Op::Remove(s, k) => batch.remove(self.space(s), k),
            }
        }
        batch.commit().map_err(|e| self.wrap(e))
    }

    fn persist(&self) -> Result<()> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| self.wrap(e))
    }

    fn settle(&self) -> Result<()> {
        for ks in &self.spaces {
            ks.rotate_memtable_and_wait().map_err(|e| self.wrap(e))?;
        }
        self.persist()
    }

    fn compact(&self) -> Result<()> {
        self.settle()?;
        self.space(Space::Blocks)
            .major_compact()
            .map_err(|e| self.wrap(e))?;
        self.persist()
    }

    fn ingest(&self, sorted: &mut SortedPairs<'_>) -> Result<()> {
        let mut ingestion = self
            .space(Space::Blocks)
            .start_ingestion()
            .map_err(|e| self.wrap(e))?;
        for item in sorted {
            let (key, data) = item?;
            ingestion.write(key, data).map_err(|e| self.wrap(e))?;
        }
        ingestion.finish().map_err(|e| self.wrap(e))
    }

    fn for_each_key(&self, space: Space, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        for guard in self.space(space).iter() {
            let key = guard.key().map_err(|e| self.wrap(e))?;
            f(&key)?;
        }
        Ok(())
    }

    fn with_prefix(&self, space: Space, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for guard in self.space(space).prefix(prefix) {
            let (k, v) = guard.into_inner().map_err(|e| self.wrap(e))?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn disk_space(&self) -> Result<u64> {
        self.db.disk_space().map_err(|e| self.wrap(e))
    }

    fn engine(&self) -> StoreEngine {
        StoreEngine::Fjall
    }
}

/// Why the filesystem holding `dir` refuses writes, if it does: writes and
/// syncs 64 KiB beside the store, then removes it.
fn probe_write(dir: &Path) -> Option<(std::io::ErrorKind, String)> {
    use std::io::Write;
    let probe = dir.join(".write-probe");
    let result = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 64 << 10]).and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    result.err().map(|e| (e.kind(), e.to_string()))
}

/// A fjall error as the library's backend-neutral store error, classified
/// for the operator's advice (docs/design.md §9).
pub fn store_error(path: &Path, e: fjall::Error) -> Error {
    use fjall::{Error as F, LsmError as L};
    let failure = match &e {
        F::Io(io) | F::Storage(L::Io(io)) => StoreFailure::Io(io.kind()),
        F::Locked => StoreFailure::Locked,
        F::Storage(L::Utf8(_)) | F::Poisoned | F::KeyspaceDeleted => StoreFailure::Other,
        F::Storage(_) => StoreFailure::Damaged,
        _ => StoreFailure::Damaged,
    };
    Error::Store {
        path: path.to_path_buf(),
        failure,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fjall_creation::tests::cut_short;

    #[test]
    fn a_creation_cut_short_is_created_again_and_works() {
        for with_marker in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("index");
            cut_short(&dir, with_marker);
            let opts = DiskStoreOptions::default();
            let db = FjallBackend::open_with(&dir, &opts, Values::Locations).unwrap();
            db.commit(&mut [Op::Put(Space::Meta, b"k", b"v")].into_iter())
                .unwrap();
            db.persist().unwrap();
            drop(db);
            // A finished database is left as it is.
            let db = FjallBackend::open_with(&dir, &opts, Values::Locations).unwrap();
            assert_eq!(
                db.get(Space::Meta, b"k").unwrap().as_deref(),
                Some(&b"v"[..])
            );
        }
    }
}
