//! A fjall database whose creation a crash cut short.
//!
//! fjall 3.1 creates a database as: the directory, its `lock` file, an
//! empty `keyspaces/` directory, the first journal `0.jnl`, and last the
//! `version` marker, the sign that creation finished. Opening a directory
//! without the marker creates it again, and that fails on the journal it
//! finds (`File exists`): a store killed in its first milliseconds (suite
//! `kill_9_at_random_moments…`, seen in CI) could never be opened again.
//! Nothing is written through a database before its marker exists, so a
//! directory holding only those creation files holds no data: it is
//! cleared and created anew. Anything else in an unmarked directory is not
//! fjall's to clear, and is refused. A marker is written in two writes
//! (magic, then version byte), so one holding part of the magic is no
//! marker either: fjall refuses it (`InvalidVersion(None)`) and never
//! rewrites it.

use std::path::Path;

use crate::error::{Error, Result, StoreFailure};

/// The marker fjall writes last when it creates a database.
const VERSION_MARKER: &str = "version";
/// What fjall's creation makes before the marker (and the marker itself,
/// created empty an instant before its header is written, in two writes).
const CREATION_FILES: [&str; 4] = ["lock", "keyspaces", "0.jnl", VERSION_MARKER];

/// Clears the fjall directory `path` if its creation never finished; does
/// nothing to a finished database or a directory that does not exist.
pub fn clear_unfinished_creation(path: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let marker = path.join(VERSION_MARKER);
    match std::fs::read(&marker) {
        Ok(bytes) if !is_torn_header(&bytes) => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&marker, e)),
    }
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let expected = CREATION_FILES.contains(&name.as_str())
            && (name != "keyspaces" || is_empty_dir(&entry.path()));
        if !expected {
            return Err(Error::Store {
                path: path.to_path_buf(),
                failure: StoreFailure::Damaged,
                detail: format!(
                    "the database has no version marker (its creation did not finish), \
                     yet holds {name:?}, which its creation does not make"
                ),
            });
        }
        found.push(entry.path());
    }
    if found.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        "{}: the database's creation was cut short (no version marker): creating it again",
        path.display()
    );
    for p in found {
        let removed = if p.is_dir() {
            std::fs::remove_dir(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// The magic the marker's header begins with; the format version byte
/// follows it.
const MARKER_MAGIC: &[u8; 3] = b"FJL";

/// Whether the marker's bytes are a header fjall had not finished writing:
/// it writes the magic and the version byte in two writes, so a kill can
/// leave nothing or a part of the magic or the magic alone (fjall then
/// refuses the database: `InvalidVersion(None)`, 2 kills in 1,500 at
/// 0.2–15 ms). Anything longer, or not a prefix of the magic, is a marker
/// fjall itself judges.
fn is_torn_header(bytes: &[u8]) -> bool {
    bytes.len() <= MARKER_MAGIC.len() && MARKER_MAGIC.starts_with(bytes)
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A creation cut short with `marker` as the version marker's bytes,
    /// then cleared: the directory is returned with its temporary parent.
    fn cleared_with_marker(marker: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        cut_short(&dir, false);
        std::fs::write(dir.join(VERSION_MARKER), marker).unwrap();
        clear_unfinished_creation(&dir).unwrap();
        (tmp, dir)
    }

    #[test]
    fn a_marker_holding_part_of_its_header_is_an_unfinished_creation() {
        for torn in [&b""[..], b"F", b"FJ", b"FJL"] {
            let (_tmp, dir) = cleared_with_marker(torn);
            assert!(
                is_empty_dir(&dir),
                "{torn:?}: the creation files are cleared"
            );
            drop(fjall::Database::builder(&dir).open().unwrap());
        }
        for judged_by_fjall in [&b"FJL\x03"[..], b"FJL\x09", b"XY"] {
            let (_tmp, dir) = cleared_with_marker(judged_by_fjall);
            assert!(
                dir.join("0.jnl").exists(),
                "{judged_by_fjall:?} is left alone"
            );
        }
    }

    /// The files fjall had made when a kill stopped its creation.
    pub(in crate::store) fn cut_short(dir: &Path, with_marker: bool) {
        std::fs::create_dir_all(dir.join("keyspaces")).unwrap();
        std::fs::write(dir.join("lock"), b"").unwrap();
        std::fs::write(dir.join("0.jnl"), b"").unwrap();
        if with_marker {
            std::fs::write(dir.join(VERSION_MARKER), b"").unwrap();
        }
    }

    #[test]
    fn an_unmarked_directory_with_other_files_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        cut_short(&dir, false);
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let err = clear_unfinished_creation(&dir).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("version marker"),
            "{err}"
        );
        assert!(dir.join("0.jnl").exists() && dir.join("notes.txt").exists());
        // A missing directory is nothing to clear.
        clear_unfinished_creation(&tmp.path().join("absent")).unwrap();
    }
}
