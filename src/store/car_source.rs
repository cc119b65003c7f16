//! A read-only `Blockstore` served straight from a CARv1 file at rest, as the
//! dagstore serves CAR shards: the file is never loaded into memory; each
//! `get` is one positioned read located through a [`CarIndex`].

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::car_index::{CarIdentity, CarIndex};
use crate::error::{Error, Result};
use crate::ipld::cids;

/// How the index was obtained when the CAR was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Loaded from the persisted `.fmidx` file.
    Loaded,
    /// Built by scanning the CAR (missing, stale or foreign index file).
    Built,
}

/// Options for [`CarSource::open`].
#[derive(Debug, Clone)]
pub struct CarSourceOptions {
    /// Check every block's hash against its CID on read.
    pub verify_hashes: bool,
    /// Write the index beside the CAR for the next open.
    pub persist_index: bool,
}

impl Default for CarSourceOptions {
    fn default() -> Self {
        CarSourceOptions {
            verify_hashes: true,
            persist_index: true,
        }
    }
}

/// Read counters.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Blocks returned.
    pub blocks: AtomicU64,
    /// Bytes returned.
    pub bytes: AtomicU64,
}

/// A CARv1 file opened as a read-only blockstore.
#[derive(Debug)]
pub struct CarSource {
    path: PathBuf,
    file: File,
    index: CarIndex,
    origin: IndexOrigin,
    verify: AtomicBool,
    stats: ReadStats,
}

impl CarSource {
    /// Opens a CAR (or a zstd-compressed CAR, which is first decompressed once
    /// into a sibling file), loading or building its index.
    pub fn open(path: impl AsRef<Path>, opts: CarSourceOptions) -> Result<Self> {
        let path = super::zstd_car::plain_car_path(path.as_ref())?;
        let identity = CarIdentity::of(&path)?;
        let index_path = CarIndex::path_for(&path);
        let (index, origin) = match CarIndex::load(&index_path, &identity)? {
            Some(index) => (index, IndexOrigin::Loaded),
            None => {
                let index = CarIndex::build(&path)?;
                if opts.persist_index {
                    if let Err(e) = index.save(&index_path, &identity) {
                        tracing::warn!(
                            "could not persist CAR index ({e}); it will be rebuilt next time"
                        );
                    }
                }
                (index, IndexOrigin::Built)
            }
        };
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(CarSource {
            path,
            file,
            index,
            origin,
            verify: AtomicBool::new(opts.verify_hashes),
            stats: ReadStats::default(),
        })
    }

    /// The CAR's header roots.
    pub fn roots(&self) -> &[Cid] {
        &self.index.roots
    }

    /// The (decompressed) CAR file being served.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the index was loaded or built.
    pub fn index_origin(&self) -> IndexOrigin {
        self.origin
    }

    /// The index.
    pub fn index(&self) -> &CarIndex {
        &self.index
    }

    /// Turns hash verification on or off.
    pub fn set_verify_hashes(&self, on: bool) {
        self.verify.store(on, Ordering::Relaxed);
    }

    /// Read counters.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Reads a block, verifying its hash if enabled.
    pub fn read(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        let want = cid.to_bytes();
        for loc in self.index.candidates(&want) {
            let mut buf = vec![0u8; loc.len as usize];
            self.file
                .read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::Car {
                    path: self.path.clone(),
                    offset: loc.offset,
                    reason: format!("cannot read indexed section ({e}); was the CAR truncated since it was indexed?"),
                })?;
            if !buf.starts_with(&want) {
                continue;
            }
            buf.drain(..want.len());
            if self.verify.load(Ordering::Relaxed) {
                cids::verify(cid, &buf, Some(loc.offset))?;
            }
            self.stats.blocks.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            return Ok(Some(buf));
        }
        Ok(None)
    }

    /// Whether the CAR holds a block (no read of its data).
    pub fn contains(&self, cid: &Cid) -> Result<bool> {
        let want = cid.to_bytes();
        for loc in self.index.candidates(&want) {
            let mut buf = vec![0u8; want.len().min(loc.len as usize)];
            self.file
                .read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::io(&self.path, e))?;
            if buf == want {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads every block in file order and checks its hash; returns the count.
    pub fn verify_all(&self) -> Result<u64> {
        let mut locs: Vec<_> = self.index.sections().collect();
        locs.sort_unstable_by_key(|l| l.offset);
        let mut buf = Vec::new();
        for loc in &locs {
            buf.resize(loc.len as usize, 0);
            self.file
                .read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::io(&self.path, e))?;
            let cid = Cid::read_bytes(&buf[..]).map_err(|e| Error::Car {
                path: self.path.clone(),
                offset: loc.offset,
                reason: format!("invalid CID: {e}"),
            })?;
            cids::verify(&cid, &buf[cid.encoded_len()..], Some(loc.offset))?;
        }
        Ok(locs.len() as u64)
    }
}

impl Blockstore for CarSource {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.read(k)?)
    }

    fn put_keyed(&self, k: &Cid, _block: &[u8]) -> anyhow::Result<()> {
        Err(Error::Invalid(format!(
            "cannot write block {k}: the CAR source {} is read-only",
            self.path.display()
        ))
        .into())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.contains(k)?)
    }
}
