//! Small files kept beside another (a CAR's index, a sidecar, a store's
//! marker, a copy's provenance): named by a suffix on the file they
//! describe, and written whole or not at all (a temporary file in the same
//! directory, synced, then renamed), so a crash never leaves one half
//! written that looks done.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `path` with `suffix` appended to its name (`s.car` + `.fmidx`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory `path` is in (`.` for a bare name).
pub fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A temporary file in `dir` that becomes a file of the user's by a rename:
/// created 0o666 under the umask, as any new file (tempfile's own 0o600
/// would stay with it, and nobody else could read an index of a shared
/// snapshot).
pub fn temp_in(dir: &Path, prefix: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` as the file `path`, atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dir_of(path);
    let mut tmp = temp_in(dir, ".fil-migrate-")?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
