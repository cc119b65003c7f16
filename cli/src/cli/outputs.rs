//! The files a command writes (`--out`, `--report`): checked before any
//! work, and the migrated state exported. The checks are made
//! before any work: a migration of minutes must not end in "cannot write
//! the output", and a typo must not replace the input or a device.
//!
//! The rules: the path is a regular file or does not exist yet; its
//! directory exists and takes a new file (tried with a temporary one); it
//! is not one of the command's inputs (compared by device and inode, so a
//! second name for the input is caught too). A symlink is written
//! through: the file it points to is replaced, the link stays (a dangling
//! one is refused). Files are created with the process's umask.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cid::Cid;
use fil_migrate::store::{export_car, ExportOptions};

/// The file `flag`'s `path` will be written as (resolved through a
/// symlink), once checked against the rules above; `inputs` are the files
/// the command reads.
pub fn checked_output(path: &Path, flag: &str, inputs: &[&Path]) -> anyhow::Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let t = std::fs::canonicalize(path).with_context(|| {
                format!(
                    "{flag} {}: a symlink to nothing (a symlink is written through, to the file it names)",
                    path.display()
                )
            })?;
            tracing::info!(
                "{flag} {} is a symlink: writing through it to {}",
                path.display(),
                t.display()
            );
            t
        }
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() => bail!(
            "{flag} {}: {}, not a regular file: refusing to replace it",
            target.display(),
            kind_of(&m)
        ),
        Ok(m) => {
            for input in inputs {
                if let Ok(i) = std::fs::metadata(input) {
                    if i.dev() == m.dev() && i.ino() == m.ino() {
                        bail!(
                            "{flag} {} is the input {}: refusing to overwrite it",
                            path.display(),
                            input.display()
                        );
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("{flag} {}: {e}", target.display()),
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "{flag} {}: its directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    tempfile::Builder::new()
        .prefix(".fil-migrate-probe-")
        .tempfile_in(&dir)
        .with_context(|| {
            format!(
                "{flag} {}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
    Ok(target)
}

fn kind_of(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_block_device() || t.is_char_device() {
        "a device node"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Writes the state at `root` as a snapshot CAR, in the format its name
/// asks for (`.forest.car.zst`, `.car.zst` or `.car`).
pub fn export_state(
    store: &impl fvm_ipld_blockstore::Blockstore,
    root: &Cid,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let opts = ExportOptions {
        cancel: Some(super::signals::cancel_token().flag()),
        ..ExportOptions::for_path(out)
    };
    let s = match export_car(store, &[*root], out, &opts) {
        Ok(s) => s,
        Err(fil_migrate::Error::Cancelled) => anyhow::bail!(
            "while writing {}: it was not written (its temporary file is removed); the migrated state root is {root}",
            out.display()
        ),
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "wrote {} ({} blocks, {} bytes)",
        out.display(),
        s.blocks,
        s.car_bytes
    );
    Ok(())
}
