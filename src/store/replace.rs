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

use super::backend::StoreFs;
use crate::error::Result;

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
pub fn swap_in(fs: &dyn StoreFs, dir: &Path) -> Result<()> {
    let staged = staging_dir(dir);
    let retired = retired_dir(dir);
    fs.remove_dir(&retired)?;
    fs.rename(dir, &retired)?;
    fs.rename(&staged, dir)?;
    fs.sync_parent(dir)?;
    fs.remove_dir(&retired)
}

/// Whether `dir`, or a swap of it that a crash interrupted, exists.
pub fn exists_or_swapping(fs: &dyn StoreFs, dir: &Path) -> bool {
    fs.exists(dir) || fs.exists(&staging_dir(dir)) || fs.exists(&retired_dir(dir))
}

/// Finishes or undoes a swap a crash interrupted; a no-op otherwise.
pub fn recover(fs: &dyn StoreFs, dir: &Path) -> Result<()> {
    let staged = staging_dir(dir);
    let retired = retired_dir(dir);
    match (fs.exists(dir), fs.exists(&staged), fs.exists(&retired)) {
        // Crashed between the renames: the staged store was complete before
        // the first rename, so finish the swap.
        (false, true, true) => {
            tracing::warn!(
                "store {}: finishing a garbage collection a crash interrupted",
                dir.display()
            );
            fs.rename(&staged, dir)?;
            fs.sync_parent(dir)?;
            fs.remove_dir(&retired)
        }
        // Crashed before the swap began: the old store is intact and the
        // staged one may be partial.
        (true, true, _) => {
            tracing::warn!(
                "store {}: discarding an unfinished garbage collection",
                dir.display()
            );
            fs.remove_dir(&staged)?;
            fs.remove_dir(&retired)
        }
        // Crashed before removing the old store.
        (true, false, true) => fs.remove_dir(&retired),
        _ => Ok(()),
    }
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

    use crate::store::real_fs::RealFs;

    #[test]
    fn every_interrupted_step_recovers_to_one_complete_store() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("store");
        // Before the first rename: the old store stays.
        mark(&dir, "old");
        mark(&staging_dir(&dir), "new");
        recover(&RealFs, &dir).unwrap();
        assert_eq!(which(&dir), "old");
        assert!(!staging_dir(&dir).exists());
        // Between the renames: the new store is put in place.
        std::fs::rename(&dir, retired_dir(&dir)).unwrap();
        mark(&staging_dir(&dir), "new");
        recover(&RealFs, &dir).unwrap();
        assert_eq!(which(&dir), "new");
        assert!(!retired_dir(&dir).exists());
        // Before the old one is removed.
        mark(&retired_dir(&dir), "old");
        recover(&RealFs, &dir).unwrap();
        assert_eq!(which(&dir), "new");
        assert!(!retired_dir(&dir).exists());
        // A whole swap.
        mark(&staging_dir(&dir), "newer");
        swap_in(&RealFs, &dir).unwrap();
        assert_eq!(which(&dir), "newer");
        assert!(!retired_dir(&dir).exists() && !staging_dir(&dir).exists());
    }
}
