//! Replacing a store directory with a rewritten one (garbage collection
//! writes the live blocks into a fresh store beside the old one), so that a
//! crash at any moment leaves one complete store under the original name.
//!
//! The swap is two renames: `DIR → DIR.gc-old`, then `DIR.gc-new → DIR`, and
//! the old one is removed last. The new store is synced before the first
//! rename, so whichever step a crash interrupts, [`recover`] (run by every
//! [`super::DiskStore::open`]) finds either the old store or the new one
//! complete and finishes or undoes the swap.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a rewrite of `dir` is built.
pub fn staging_dir(dir: &Path) -> PathBuf {
    sibling(dir, "gc-new")
}

fn retired_dir(dir: &Path) -> PathBuf {
    sibling(dir, "gc-old")
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

/// Puts the (closed, synced) store in [`staging_dir`] in place of `dir`.
pub fn swap_in(dir: &Path) -> Result<()> {
    let staged = staging_dir(dir);
    let retired = retired_dir(dir);
    remove_if_present(&retired)?;
    std::fs::rename(dir, &retired).map_err(|e| Error::io(dir, e))?;
    std::fs::rename(&staged, dir).map_err(|e| Error::io(&staged, e))?;
    sync_parent(dir)?;
    remove_if_present(&retired)
}

/// Finishes or undoes a swap a crash interrupted; a no-op otherwise.
pub fn recover(dir: &Path) -> Result<()> {
    let staged = staging_dir(dir);
    let retired = retired_dir(dir);
    match (dir.exists(), staged.exists(), retired.exists()) {
        // Crashed between the renames: the staged store was complete before
        // the first rename, so finish the swap.
        (false, true, true) => {
            tracing::warn!(
                "store {}: finishing a garbage collection a crash interrupted",
                dir.display()
            );
            std::fs::rename(&staged, dir).map_err(|e| Error::io(&staged, e))?;
            sync_parent(dir)?;
            remove_if_present(&retired)
        }
        // Crashed before the swap began: the old store is intact and the
        // staged one may be partial.
        (true, true, _) => {
            tracing::warn!(
                "store {}: discarding an unfinished garbage collection",
                dir.display()
            );
            remove_if_present(&staged)?;
            remove_if_present(&retired)
        }
        // Crashed before removing the old store.
        (true, false, true) => remove_if_present(&retired),
        _ => Ok(()),
    }
}

/// Bytes a directory tree occupies on disk (allocated blocks, so sparse
/// preallocated journal files count for what they hold, not their length).
pub fn disk_usage(dir: &Path) -> Result<u64> {
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

fn remove_if_present(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

fn sync_parent(dir: &Path) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(parent, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(dir: &Path, what: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("which"), what).unwrap();
    }

    fn which(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("which")).unwrap()
    }

    #[test]
    fn every_interrupted_step_recovers_to_one_complete_store() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("store");
        // Before the first rename: the old store stays.
        mark(&dir, "old");
        mark(&staging_dir(&dir), "new");
        recover(&dir).unwrap();
        assert_eq!(which(&dir), "old");
        assert!(!staging_dir(&dir).exists());
        // Between the renames: the new store is put in place.
        std::fs::rename(&dir, retired_dir(&dir)).unwrap();
        mark(&staging_dir(&dir), "new");
        recover(&dir).unwrap();
        assert_eq!(which(&dir), "new");
        assert!(!retired_dir(&dir).exists());
        // Before the old one is removed.
        mark(&retired_dir(&dir), "old");
        recover(&dir).unwrap();
        assert_eq!(which(&dir), "new");
        assert!(!retired_dir(&dir).exists());
        // A whole swap.
        mark(&staging_dir(&dir), "newer");
        swap_in(&dir).unwrap();
        assert_eq!(which(&dir), "newer");
        assert!(!retired_dir(&dir).exists() && !staging_dir(&dir).exists());
    }
}
