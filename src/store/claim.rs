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
use std::io::Write;
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
        match first_entry(dir)? {
            None => create_marker(dir)?,
            // Another run claiming the same new directory made it a store
            // meanwhile: the lock below decides which run has it.
            Some(_) if is_store(dir) => {}
            Some(first) => {
                return Err(Error::NotAStore {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "the directory is not empty (it holds {first:?}, and no {MARKER} \
                         marker): give a new or empty directory; a store of an earlier \
                         fil-migrate layout is not opened either (premigrate again into a \
                         new one)"
                    ),
                })
            }
        }
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

/// Creates the marker in `dir`, exclusively. It says only that the
/// directory is ours, which is true from the moment it exists, so it is not
/// written through a temporary file and a rename: a kill between those two
/// left the temporary file in a directory without a marker, which every
/// later run refused as "not empty" (suite `kill_9_at_random_moments…` in
/// CI; 5 kills in 200 at 1–40 ms). A marker a kill left empty or short still
/// marks the store (nothing reads its text), and a run that claims the same
/// new directory at the same moment finds it there and goes on to the lock.
fn create_marker(dir: &Path) -> Result<()> {
    let path = dir.join(MARKER);
    match File::options().write(true).create_new(true).open(&path) {
        Ok(mut f) => f
            .write_all(MARKER_TEXT)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The name of an entry of `dir`, if it has any.
fn first_entry(dir: &Path) -> Result<Option<std::ffi::OsString>> {
    match std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
    {
        Some(entry) => Ok(Some(entry.map_err(|e| Error::io(dir, e))?.file_name())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_a_killed_claim_left_empty_still_marks_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        // What a claim killed between creating the marker and writing it leaves.
        std::fs::write(store.join(MARKER), b"").unwrap();
        drop(claim(&store).unwrap());
        assert!(is_store(&store));
    }

    #[test]
    fn two_claims_of_one_new_directory_at_once_give_one_store_and_one_in_use() {
        for _ in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let start = std::sync::Barrier::new(2);
            let results: Vec<Result<StoreClaim>> = std::thread::scope(|s| {
                let claims: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            claim(&store)
                        })
                    })
                    .collect();
                claims.into_iter().map(|c| c.join().unwrap()).collect()
            });
            let held = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(held, 1, "{results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert!(matches!(e, Error::StoreLocked { .. }), "{e}");
                }
            }
            assert!(is_store(&store));
        }
    }

    #[test]
    fn a_directory_holding_another_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".fil-migrate-other"), b"mine").unwrap();
        let err = claim(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(!is_store(dir.path()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
