//! A record that a file's full content check passed, and of the file's
//! identity then (device, inode, length, modification and change times),
//! kept beside it (`<car>.fmidx.ok`). A later open whose file has that
//! identity, and whose index names the fingerprint the check found, skips
//! hashing the whole file again: on a mainnet CARv1 that is tens of GB read
//! beside the migration's own reads, and on this machine an eighth of a
//! small final's instructions (callgrind, README: Performance).
//!
//! Why the identity proves the content unchanged: every write to a file
//! sets its change time (`ctime`) to the kernel's clock, and no call sets
//! it to anything else (`cp -p` and `touch -d` set `mtime` only). The one
//! gap is a write within the same clock tick as the stamp's `ctime`, which
//! is why a stamp is made only when that `ctime` is older than the check's
//! start by [`RACY_SECS`] and the identity did not move while the file was
//! hashed (git's "racily clean" rule). A clock stepped backwards past the
//! stamp could in principle defeat it, as it can git.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::fingerprint::Fingerprint;
use super::side_file::{beside, write_atomically};
use crate::error::Result;

/// Seconds a file's `ctime` must precede a check for the check to be
/// stamped: a write after the check then has a later `ctime`.
pub const RACY_SECS: i64 = 2;

const MAGIC: &[u8; 16] = b"fil-migrate-ok-1";
/// u64s a [`FileIdentity`] is written as.
const IDENTITY_WORDS: usize = 7;
const ENCODED_LEN: usize = MAGIC.len() + 8 * IDENTITY_WORDS + 32;

/// What `stat` says of a file, every field a write or a replacement moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// The identity as the stamp writes it.
    fn words(&self) -> [u64; IDENTITY_WORDS] {
        [
            self.dev,
            self.ino,
            self.len,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ]
    }

    /// The identity a stamp wrote as `w`.
    fn from_words(w: [u64; IDENTITY_WORDS]) -> Self {
        FileIdentity {
            dev: w[0],
            ino: w[1],
            len: w[2],
            mtime: (w[3] as i64, w[4] as i64),
            ctime: (w[5] as i64, w[6] as i64),
        }
    }

    /// Whether the file last changed at least [`RACY_SECS`] before `start`
    /// (seconds since the epoch).
    fn settled_before(&self, start: i64) -> bool {
        self.ctime.0 + RACY_SECS <= start
    }
}

/// Waits until `path` last changed [`RACY_SECS`] ago, so that a check
/// begun now can be stamped (at most that long, and only for a file
/// written just before); returns the time waited.
pub fn wait_until_settled(path: &Path) -> std::time::Duration {
    let Some(identity) = FileIdentity::of(path) else {
        return std::time::Duration::ZERO;
    };
    let settled_at = identity.ctime.0 + RACY_SECS + 1;
    let now = now_secs();
    if settled_at <= now {
        return std::time::Duration::ZERO;
    }
    let wait = std::time::Duration::from_secs((settled_at - now).min(RACY_SECS + 1) as u64);
    std::thread::sleep(wait);
    wait
}

/// Whether `path` has a stamp that vouches for it as it is now, whatever
/// fingerprint it names (for reports; opening checks the fingerprint too).
pub fn is_current(path: &Path) -> bool {
    read(path).is_some_and(|(stamped, _)| FileIdentity::of(path) == Some(stamped))
}

/// The stamp file of `car`.
pub fn path_for(car: &Path) -> PathBuf {
    beside(car, ".fmidx.ok")
}

/// Seconds since the epoch, now.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A content check's evidence: the identity before hashing began, and the
/// time it began, to be compared with the identity after.
#[derive(Debug, Clone, Copy)]
pub struct CheckStart {
    identity: Option<FileIdentity>,
    at: i64,
}

impl CheckStart {
    /// Taken just before hashing `path`.
    pub fn now(path: &Path) -> Self {
        CheckStart {
            identity: FileIdentity::of(path),
            at: now_secs(),
        }
    }
}

/// Records that `path` hashed to `found`, if the file stood still through
/// the hash and had settled before it (else nothing: the next open hashes
/// again). A stamp that cannot be written is only a missed shortcut.
pub fn record(path: &Path, start: CheckStart, found: &Fingerprint) -> Result<bool> {
    let (Some(before), Some(after)) = (start.identity, FileIdentity::of(path)) else {
        return Ok(false);
    };
    if before != after || !before.settled_before(start.at) || after.len != found.file_len() {
        return Ok(false);
    }
    let mut bytes = Vec::with_capacity(ENCODED_LEN);
    bytes.extend_from_slice(MAGIC);
    for v in before.words() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&found.to_bytes());
    write_atomically(&path_for(path), &bytes)?;
    Ok(true)
}

/// Whether `path`'s stamp says its content is `named` (the fingerprint its
/// index was built from) and the file has not changed since.
pub fn vouches(path: &Path, named: &Fingerprint) -> bool {
    read(path).is_some_and(|(stamped, fingerprint)| {
        fingerprint == *named && FileIdentity::of(path) == Some(stamped)
    })
}

/// The identity and fingerprint `path`'s stamp records, if it has a whole
/// one.
fn read(path: &Path) -> Option<(FileIdentity, Fingerprint)> {
    let bytes = std::fs::read(path_for(path)).ok()?;
    if bytes.len() != ENCODED_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (words, fingerprint) = bytes[MAGIC.len()..].split_at(8 * IDENTITY_WORDS);
    let word = |i: usize| u64::from_le_bytes(words[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    Some((
        FileIdentity::from_words(std::array::from_fn(word)),
        Fingerprint::from_bytes(fingerprint)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled_file(dir: &Path, content: &[u8]) -> PathBuf {
        let p = dir.join("x.car");
        std::fs::write(&p, content).unwrap();
        p
    }

    /// A start as if the check began `secs` after the file's last change.
    fn start_after(path: &Path, secs: i64) -> CheckStart {
        let identity = FileIdentity::of(path);
        CheckStart {
            at: identity.unwrap().ctime.0 + secs,
            identity,
        }
    }

    #[test]
    fn a_stamp_vouches_for_the_unchanged_file_and_its_fingerprint_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = settled_file(dir.path(), b"abcdef");
        let f = Fingerprint::of(&p).unwrap();
        assert!(record(&p, start_after(&p, RACY_SECS), &f).unwrap());
        assert!(vouches(&p, &f));
        let other = Fingerprint::of(&dir.path().join("x.car.fmidx.ok")).unwrap();
        assert!(!vouches(&p, &other), "another fingerprint");
        // A write of the same length moves ctime (and mtime).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"abcdeX").unwrap();
        assert!(!vouches(&p, &f), "the file was rewritten");
    }

    #[test]
    fn a_check_of_a_file_changed_just_before_it_is_not_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let p = settled_file(dir.path(), b"abcdef");
        let f = Fingerprint::of(&p).unwrap();
        assert!(!record(&p, start_after(&p, RACY_SECS - 1), &f).unwrap());
        assert!(!path_for(&p).exists());
        assert!(!vouches(&p, &f));
    }

    #[test]
    fn a_file_that_moved_during_the_check_is_not_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let p = settled_file(dir.path(), b"abcdef");
        let start = start_after(&p, RACY_SECS);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"abcdefgh").unwrap();
        let f = Fingerprint::of(&p).unwrap();
        assert!(!record(&p, start, &f).unwrap());
    }

    #[test]
    fn waiting_lets_a_fresh_file_settle_and_costs_nothing_for_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = settled_file(dir.path(), b"abcdef");
        let waited = wait_until_settled(&p);
        assert!(waited > std::time::Duration::ZERO);
        let f = Fingerprint::of(&p).unwrap();
        assert!(record(&p, CheckStart::now(&p), &f).unwrap());
        assert!(is_current(&p));
        assert_eq!(wait_until_settled(&p), std::time::Duration::ZERO);
    }

    #[test]
    fn a_damaged_stamp_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = settled_file(dir.path(), b"abcdef");
        let f = Fingerprint::of(&p).unwrap();
        assert!(record(&p, start_after(&p, RACY_SECS), &f).unwrap());
        let mut bytes = std::fs::read(path_for(&p)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path_for(&p), &bytes).unwrap();
        assert!(!vouches(&p, &f));
        std::fs::write(path_for(&p), b"short").unwrap();
        assert!(!vouches(&p, &f));
    }
}
