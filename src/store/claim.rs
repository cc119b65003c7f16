//! A store directory is claimed before it is opened: it must be ours (it
//! carries the [`MARKER`] file) or empty or new (then it becomes ours), and
//! one process at a time holds its lock file for as long as it has the
//! store open.
//!
//! The database lives in the subdirectory [`DB`], the marker and the lock
//! beside it. Garbage collection swaps that subdirectory for a rewritten
//! one while the lock stays where it is, held: so no other run can open
//! the store mid-swap (and "recover" the swap by deleting the new copy),
//! no file of the user's in the directory is ever touched, and a store
//! reached through a symlink or a relative path (`.`) is swapped in place.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file that marks a directory as a fil-migrate store.
pub const MARKER: &str = "FIL-MIGRATE-STORE";
/// The lock file, held (`flock`) by the process that has the store open.
pub const LOCK: &str = "fil-migrate.lock";
/// The subdirectory holding the database.
pub const DB: &str = "db";

const MARKER_TEXT: &[u8] =
    b"fil-migrate store, layout 2: the database is in db/; fil-migrate.lock is held while in use\n";

/// The database directory of the store in `dir`.
pub fn db_dir(dir: &Path) -> PathBuf {
    dir.join(DB)
}

/// A held claim on a store directory; released when dropped.
#[derive(Debug)]
pub struct StoreClaim {
    _lock: Option<File>,
}

impl StoreClaim {
    /// A claim that holds nothing (a simulated filesystem's stores).
    pub fn none() -> Self {
        StoreClaim { _lock: None }
    }
}

/// Whether `dir` is a marked store (it may be in use).
pub fn is_store(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// Claims the store in `dir` on the real filesystem: creates it in a new
/// or empty directory, refuses a non-empty directory that is not one, and
/// takes its lock (refused while another process holds it).
pub fn claim(dir: &Path) -> Result<StoreClaim> {
    let io = |p: &Path, e| Error::io(p, e);
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: "it is not a directory".into(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        Err(e) => return Err(io(dir, e)),
    }
    if !is_store(dir) {
        let mut entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
        if let Some(first) = entries.next() {
            let first = first.map_err(|e| io(dir, e))?;
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: format!(
                    "the directory is not empty (it holds {:?}, and no {MARKER} marker): \
                     give a new or empty directory; a store of an earlier fil-migrate \
                     layout is not opened either (premigrate again into a new one)",
                    first.file_name()
                ),
            });
        }
        write_marker(dir)?;
    }
    let lock_path = dir.join(LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io(&lock_path, e))?;
    // A lock just released can look held for a moment: a process that
    // forks (to run a child) shares its descriptors until the child execs.
    // A store in use stays held past this grace.
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(StoreClaim { _lock: Some(lock) }),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::StoreLocked {
                    path: dir.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path, e)),
        }
    }
}

/// How long a held lock is waited for before the store is called in use.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

fn write_marker(dir: &Path) -> Result<()> {
    super::side_file::write_atomically(&dir.join(MARKER), MARKER_TEXT)
}
