//! [`RealFs`]: store directories on the real filesystem, each either a
//! fjall database or a block log (segment files and a fjall index).

use std::path::Path;
use std::sync::Arc;

use super::backend::{StoreBackend, StoreEngine, StoreFs};
use super::block_log::BlockLog;
use super::fjall_backend::{FjallBackend, Values};
use super::segment_files::SegmentFiles;
use super::DiskStoreOptions;
use crate::error::{Error, Result};

/// The block log's segments, inside the store's database directory.
pub const SEGMENTS_DIR: &str = "segments";
/// The block log's index and metadata (a fjall database) beside them.
pub const INDEX_DIR: &str = "index";

/// The engine of the database directory `db`, if it holds one: a segments
/// directory says a block log (it is made first), anything else fjall.
pub fn engine_in(db: &Path) -> Option<StoreEngine> {
    if db.join(SEGMENTS_DIR).is_dir() {
        Some(StoreEngine::BlockLog)
    } else if std::fs::read_dir(db).is_ok_and(|mut d| d.next().is_some()) {
        Some(StoreEngine::Fjall)
    } else {
        None
    }
}

/// Store directories on the real filesystem: a fjall database, or a block
/// log (segment files and a fjall index).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl StoreFs for RealFs {
    fn open(&self, dir: &Path, opts: &DiskStoreOptions) -> Result<Arc<dyn StoreBackend>> {
        let segments = dir.join(SEGMENTS_DIR);
        let engine = engine_in(dir).unwrap_or(opts.engine);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        match engine {
            StoreEngine::Fjall => Ok(Arc::new(FjallBackend::open(dir, opts)?)),
            StoreEngine::BlockLog => {
                // The segments directory first: its presence is what says
                // which engine a directory holds.
                let files = SegmentFiles::open(&segments)?;
                let index = FjallBackend::open_with(&dir.join(INDEX_DIR), opts, Values::Locations)?;
                Ok(Arc::new(BlockLog::open(
                    dir.to_path_buf(),
                    Arc::new(index),
                    Arc::new(files),
                    opts.index_ingest_from,
                )?))
            }
        }
    }

    fn exists(&self, dir: &Path) -> bool {
        dir.exists()
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io(from, e))
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(dir, e)),
        }
    }

    fn sync_parent(&self, dir: &Path) -> Result<()> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(parent, e))
    }

    fn claim(&self, dir: &Path) -> Result<super::claim::StoreClaim> {
        super::claim::claim(dir)
    }

    fn disk_usage(&self, dir: &Path) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let mut total = 0u64;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
                let entry = entry.map_err(|e| Error::io(&d, e))?;
                let meta = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
                if meta.is_dir() {
                    stack.push(entry.path());
                } else {
                    total += meta.blocks() * 512;
                }
            }
        }
        Ok(total)
    }
}
