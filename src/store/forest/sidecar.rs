//! Our index for a multi-frame zstd CAR that carries none (a `.forest.car.zst`
//! whose index was stripped, or any writer that cut frames on section
//! boundaries): built by one sequential pass that decompresses each frame
//! and files its blocks, then kept beside the file as `<file>.fmfidx` so the
//! next open is immediate. It holds the same table as the node's index,
//! after a header naming the file it describes; a stale or foreign sidecar
//! is rebuilt.
//!
//! A single-stream `.car.zst` (what most tools write) has one frame: there
//! is nothing to seek to, and the caller decompresses it once instead. So
//! does a file whose frames cut through sections.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use cid::Cid;

use super::format::{hash_of, is_skippable_magic, SKIP_HEADER_LEN};
use super::frames::{read_compressed, sections_of};
use super::index_build::{IndexBuilder, DEFAULT_MEMORY_ENTRIES};
use super::index_reader::IndexReader;
use super::reader::skip_segments;
use crate::error::{Error, Result};
use crate::store::fingerprint::Fingerprint;

/// Version 2: the file named by a content [`Fingerprint`], the table by a
/// checksum (a flipped byte in version 1's table sent lookups astray).
const MAGIC: &[u8; 8] = b"FMFZIX02";
/// Magic, the file's fingerprint, where its frames end, the table's XXH3-128.
const PREFIX_LEN: u64 = 8 + 32 + 8 + 16;
/// Largest frame we consider "a frame of a framed CAR": a bigger one means
/// a single stream (or frames too big to serve blocks from).
const MAX_FIRST_FRAME: usize = 4 << 20;

/// Why a zstd file cannot be served by frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFramed {
    /// One zstd stream (or a first frame over 4 MiB).
    SingleStream,
    /// A frame ends inside a CAR section (at this frame's offset).
    SectionsCrossFrames(u64),
}

/// The sidecar's path beside `path`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    crate::store::side_file::beside(path, ".fmfidx")
}

/// Loads the sidecar of `path` if it describes this very file.
pub fn load(path: &Path, identity: &Fingerprint) -> Result<Option<(IndexReader, u64)>> {
    let sc = sidecar_path(path);
    let file = match File::open(&sc) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&sc, e)),
    };
    let len = file.metadata().map_err(|e| Error::io(&sc, e))?.len();
    let mut prefix = [0u8; PREFIX_LEN as usize];
    if len < PREFIX_LEN || file.read_exact_at(&mut prefix, 0).is_err() {
        return Ok(None);
    }
    if &prefix[..8] != MAGIC || prefix[8..40] != identity.to_bytes() {
        return Ok(None);
    }
    let frames_end = u64::from_le_bytes(prefix[40..48].try_into().expect("8 bytes"));
    if table_digest(&file, &sc, len)? != prefix[48..64] {
        tracing::warn!(
            "{}: its table does not match its checksum: rebuilding it",
            sc.display()
        );
        return Ok(None);
    }
    let segments = match skip_segments(&file, &sc, PREFIX_LEN, len) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("ignoring damaged sidecar index ({e}); rebuilding it");
            return Ok(None);
        }
    };
    match IndexReader::open(&sc, file, segments) {
        Ok(index) => Ok(Some((index, frames_end))),
        Err(e) => {
            tracing::warn!("ignoring damaged sidecar index ({e}); rebuilding it");
            Ok(None)
        }
    }
}

/// Scans `path` and writes its sidecar; `Ok(Err(_))` if the file is not a
/// framed CAR (the caller decompresses it once instead).
pub fn build(
    path: &Path,
    identity: &Fingerprint,
) -> Result<std::result::Result<(IndexReader, u64), NotFramed>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = identity.file_len();
    let sc = sidecar_path(path);
    let dir = crate::store::side_file::dir_of(&sc);
    let mut builder = IndexBuilder::new(dir, DEFAULT_MEMORY_ENTRIES);
    let mut offset = 0u64;
    while offset < len {
        let mut magic = [0u8; 8];
        let n = (len - offset).min(8) as usize;
        file.read_exact_at(&mut magic[..n], offset)
            .map_err(|e| Error::io(path, e))?;
        if n == 8 && is_skippable_magic(&magic) {
            let skip = u32::from_le_bytes(magic[4..].try_into().expect("4 bytes"));
            offset += SKIP_HEADER_LEN + u64::from(skip);
            continue;
        }
        let Some((data, size)) = read_compressed(&file, path, offset, len, MAX_FIRST_FRAME)? else {
            return Ok(Err(NotFramed::SingleStream));
        };
        if offset == 0 {
            if size == len {
                return Ok(Err(NotFramed::SingleStream));
            }
            tracing::info!(
                "{}: multi-frame zstd CAR without an index: indexing its frames once into {}",
                path.display(),
                sc.display()
            );
        }
        let Ok(sections) = sections_of(&data, offset == 0) else {
            return Ok(Err(NotFramed::SectionsCrossFrames(offset)));
        };
        for (s, _) in sections {
            let cid = Cid::read_bytes(&data[s as usize..]).map_err(|e| Error::Framed {
                path: path.to_path_buf(),
                what: "zstd frame",
                offset,
                reason: format!("section at byte {s} of the frame: invalid CID: {e}"),
            })?;
            builder.push(hash_of(&cid), offset)?;
        }
        offset += size;
    }
    let io = |e| Error::io(&sc, e);
    let tmp = crate::store::side_file::temp_in(dir, ".fil-migrate-")?;
    let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone().map_err(io)?);
    w.write_all(MAGIC).map_err(io)?;
    w.write_all(&identity.to_bytes()).map_err(io)?;
    w.write_all(&len.to_le_bytes()).map_err(io)?;
    w.write_all(&[0u8; 16]).map_err(io)?;
    builder.write_frames(&mut w, &sc)?;
    w.flush().map_err(io)?;
    drop(w);
    let sc_len = tmp.as_file().metadata().map_err(io)?.len();
    let digest = table_digest(tmp.as_file(), tmp.path(), sc_len)?;
    tmp.as_file().write_all_at(&digest, 48).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&sc).map_err(|e| io(e.error))?;
    match load(path, identity)? {
        Some(opened) => Ok(Ok(opened)),
        None => Err(Error::Framed {
            path: sc,
            what: "index",
            offset: 0,
            reason: "the sidecar just written does not load".into(),
        }),
    }
}

/// XXH3-128 of a sidecar's table (everything after its prefix).
fn table_digest(file: &File, path: &Path, len: u64) -> Result<[u8; 16]> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = PREFIX_LEN;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Error::io(path, e))?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h.digest128().to_le_bytes())
}
