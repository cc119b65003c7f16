//! Segments as files on the real filesystem: positioned reads and writes
//! (`pread`/`pwrite`, no seek, no lock between readers), one open handle
//! per segment, and the directory synced the first time a new segment is.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::segment::{file_name, parse_file_name, SegmentDir, SegmentId};
use crate::error::{Error, Result};

/// The segment files of one directory.
pub struct SegmentFiles {
    dir: PathBuf,
    handles: RwLock<HashMap<SegmentId, Arc<File>>>,
    /// Segments created since the directory was last synced.
    unsynced_entries: Mutex<HashSet<SegmentId>>,
}

impl SegmentFiles {
    /// The segments in `dir` (created if absent).
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(SegmentFiles {
            dir: dir.to_path_buf(),
            handles: RwLock::new(HashMap::new()),
            unsynced_entries: Mutex::new(HashSet::new()),
        })
    }

    fn handle(&self, seg: SegmentId) -> Result<Arc<File>> {
        if let Some(f) = self.handles.read().get(&seg) {
            return Ok(f.clone());
        }
        let path = self.path(seg);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let file = Arc::new(file);
        self.handles.write().insert(seg, file.clone());
        Ok(file)
    }
}

impl SegmentDir for SegmentFiles {
    fn list(&self) -> Result<Vec<(SegmentId, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let Some(seg) = entry.file_name().to_str().and_then(parse_file_name) else {
                continue;
            };
            let len = entry
                .metadata()
                .map_err(|e| Error::io(entry.path(), e))?
                .len();
            out.push((seg, len));
        }
        out.sort_unstable();
        Ok(out)
    }

    fn create(&self, seg: SegmentId) -> Result<()> {
        let path = self.path(seg);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        self.unsynced_entries.lock().insert(seg);
        self.handles.write().insert(seg, Arc::new(file));
        Ok(())
    }

    fn write_at(&self, seg: SegmentId, offset: u64, bytes: &[u8]) -> Result<()> {
        self.handle(seg)?
            .write_all_at(bytes, offset)
            .map_err(|e| Error::io(self.path(seg), e))
    }

    fn read_at(&self, seg: SegmentId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.handle(seg)?
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(self.path(seg), e))
    }

    fn sync(&self, seg: SegmentId) -> Result<()> {
        self.handle(seg)?
            .sync_data()
            .map_err(|e| Error::io(self.path(seg), e))?;
        if self.unsynced_entries.lock().remove(&seg) {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }

    fn truncate(&self, seg: SegmentId, len: u64) -> Result<()> {
        let f = self.handle(seg)?;
        f.set_len(len)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(self.path(seg), e))
    }

    fn remove(&self, seg: SegmentId) -> Result<()> {
        self.handles.write().remove(&seg);
        let path = self.path(seg);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))
    }

    fn path(&self, seg: SegmentId) -> PathBuf {
        self.dir.join(file_name(seg))
    }

    fn disk_usage(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let mut total = 0;
        for (seg, _) in self.list()? {
            let path = self.path(seg);
            total += std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .blocks()
                * 512;
        }
        Ok(total)
    }
}
