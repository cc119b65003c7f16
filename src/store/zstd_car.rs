//! `.car.zst` support. A zstd stream cannot be read at random offsets, and
//! migration reads blocks in tree order, not file order; so the CAR is
//! decompressed once into a copy of ours beside it (`<file>.fmcar`, never
//! a name a user's file may have) and served from there. The copy is
//! written to a temporary name and renamed when complete, so a crash never
//! leaves a truncated CAR that looks finished; it is reused only while its
//! provenance record names the compressed file and the copy by content.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::fingerprint::{Fingerprint, FingerprintReader, FingerprintWriter};
use super::side_file::{beside, dir_of, temp_in, write_atomically};
use crate::error::{Error, Result};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether a file starts with the zstd frame magic.
pub fn is_zstd(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut magic[n..]).map_err(|e| Error::io(path, e))? {
            0 => return Ok(false),
            k => n += k,
        }
    }
    Ok(magic == ZSTD_MAGIC)
}

/// The path of our decompressed copy of a zstd CAR: never the sibling
/// without `.zst`, which may be a file of the user's with other content.
pub fn copy_path(path: &Path) -> PathBuf {
    beside(path, ".fmcar")
}

/// Where the copy's provenance is recorded: the source's and the copy's
/// fingerprints.
fn provenance_path(path: &Path) -> PathBuf {
    beside(&copy_path(path), ".src")
}

const PROVENANCE_MAGIC: &[u8; 8] = b"FMZSRC01";

/// The plain CAR serving `path`: `path` itself, or for a zstd file our
/// decompressed copy ([`copy_path`]), made anew unless its provenance
/// names this very source and this very copy by content (a rewrite of the
/// source, `cp -p` of another file over it, or a copy replaced or damaged
/// since, all mean a new copy). For a copy, also its fingerprint (the
/// caller's index is checked against it without hashing it again).
pub fn plain_car(path: &Path) -> Result<(PathBuf, Option<Fingerprint>)> {
    if !is_zstd(path)? {
        return Ok((path.to_path_buf(), None));
    }
    let target = copy_path(path);
    let source = Fingerprint::of(path)?;
    if let Some(copy) = reusable_copy(path, &target, &source)? {
        return Ok((target, Some(copy)));
    }
    tracing::info!("decompressing {} to {}", path.display(), target.display());
    let dir = dir_of(&target);
    let tmp = temp_in(dir, ".fil-migrate-copy-")?;
    // The source is fingerprinted as it is read, so a change during the
    // decompression shows without reading it a third time.
    let input = FingerprintReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    let mut dec =
        zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 20, input))
            .map_err(|e| Error::io(path, e))?;
    let out = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let mut w = FingerprintWriter::new(BufWriter::with_capacity(1 << 20, out));
    std::io::copy(&mut dec, &mut w).map_err(|e| Error::Car {
        path: path.to_path_buf(),
        offset: 0,
        reason: format!("zstd decompression failed: {e}"),
    })?;
    let (copy, mut out) = w.finish();
    out.flush().map_err(|e| Error::io(tmp.path(), e))?;
    drop(out);
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    // Whatever follows the last frame is part of the source too.
    let read = dec
        .finish()
        .into_inner()
        .finish()
        .map_err(|e| Error::io(path, e))?;
    if read != source {
        return Err(Error::Car {
            path: path.to_path_buf(),
            offset: 0,
            reason: "the file changed while it was being decompressed".into(),
        });
    }
    tmp.persist(&target)
        .map_err(|e| Error::io(&target, e.error))?;
    write_provenance(path, &source, &copy)?;
    Ok((target, Some(copy)))
}

/// The copy's fingerprint if `target` is the copy of the source whose
/// fingerprint is `source`, as its provenance says and its content shows.
fn reusable_copy(path: &Path, target: &Path, source: &Fingerprint) -> Result<Option<Fingerprint>> {
    let rec = provenance_path(path);
    let bytes = match std::fs::read(&rec) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&rec, e)),
    };
    if bytes.len() != 8 + 64 + 16
        || &bytes[..8] != PROVENANCE_MAGIC
        || xxhash_rust::xxh3::xxh3_128(&bytes[..72]).to_le_bytes() != bytes[72..]
    {
        tracing::warn!("{}: damaged: decompressing again", rec.display());
        return Ok(None);
    }
    if bytes[8..40] != source.to_bytes() {
        tracing::info!(
            "{} was made from another {}: decompressing again",
            target.display(),
            path.display()
        );
        return Ok(None);
    }
    let copy = match Fingerprint::of(target) {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    if bytes[40..72] != copy.to_bytes() {
        tracing::info!(
            "{} changed since it was made: decompressing again",
            target.display()
        );
        return Ok(None);
    }
    Ok(Some(copy))
}

fn write_provenance(path: &Path, source: &Fingerprint, copy: &Fingerprint) -> Result<()> {
    let rec = provenance_path(path);
    let mut bytes = Vec::with_capacity(88);
    bytes.extend_from_slice(PROVENANCE_MAGIC);
    bytes.extend_from_slice(&source.to_bytes());
    bytes.extend_from_slice(&copy.to_bytes());
    let sum = xxhash_rust::xxh3::xxh3_128(&bytes).to_le_bytes();
    bytes.extend_from_slice(&sum);
    write_atomically(&rec, &bytes)
}
