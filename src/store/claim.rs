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
    let mut attempt = 0;
    while !is_store(dir) {
        if let Some(first) = first_foreign_entry(dir)? {
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: format!(
                    "the directory is not empty (it holds {:?}, and no {MARKER} marker): \
                     give a new or empty directory; a store of an earlier fil-migrate \
                     layout is not opened either (premigrate again into a new one)",
                    first
                ),
            });
        }
        match write_marker(dir) {
            Ok(()) => break,
            // Another run claiming the same new directory at this moment
            // took our temporary file for a leftover and removed it: look
            // again. Its marker may be there by then, and the lock below
            // decides which run has the store.
            Err(_) if attempt < MARKER_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
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

/// The prefix of the marker's temporary file. A claim killed between
/// creating it and renaming it into the marker leaves it behind in a
/// directory that was new or empty when the claim began; nothing else
/// names a file so, so the next claim removes it and the directory counts
/// as empty again, as it was.
const MARKER_TEMP_PREFIX: &str = ".fil-migrate-store-marker-";

/// How many times a claim writes the marker again after a concurrent claim
/// of the same new directory removed its temporary file.
const MARKER_ATTEMPTS: u32 = 16;

fn write_marker(dir: &Path) -> Result<()> {
    super::side_file::write_atomically_via(&dir.join(MARKER), MARKER_TEXT, MARKER_TEMP_PREFIX)
}

/// The first entry of `dir` that is not a leftover of an interrupted
/// claim, after removing those leftovers; `None` for an empty directory.
fn first_foreign_entry(dir: &Path) -> Result<Option<std::ffi::OsString>> {
    let io = |p: &Path, e| Error::io(p, e);
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let ours = name
            .to_str()
            .is_some_and(|n| n.starts_with(MARKER_TEMP_PREFIX))
            && entry.file_type().map_err(|e| io(dir, e))?.is_file();
        if !ours {
            return Ok(Some(name));
        }
        leftovers.push(entry.path());
    }
    for path in leftovers {
        // A concurrent claim may have removed it first.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_half_written_by_a_killed_claim_does_not_block_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        // What a claim killed before its rename leaves.
        std::fs::write(store.join(format!("{MARKER_TEMP_PREFIX}a1B2c3")), b"fil").unwrap();
        let claimed = claim(&store).unwrap();
        assert!(is_store(&store));
        let names: Vec<_> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(MARKER_TEMP_PREFIX)),
            "{names:?}"
        );
        drop(claimed);
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
    fn any_other_file_beside_a_leftover_still_refuses_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(format!("{MARKER_TEMP_PREFIX}x"));
        std::fs::write(&leftover, b"").unwrap();
        std::fs::write(dir.path().join(".fil-migrate-other"), b"mine").unwrap();
        let err = claim(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(
            leftover.exists(),
            "nothing is removed from a refused directory"
        );
        assert!(!is_store(dir.path()));
    }
}
