//! The fingerprint of a source file that a derived file (a `.fmidx` index,
//! a `.fmfidx` frame index, the decompressed copy of a `.car.zst`) records
//! and is checked against before it is used.
//!
//! Length and mtime are not enough: a rewrite in place within one mtime
//! tick, or `cp -p` of another file of the same size, keeps both, and an
//! index of the old file then sends lookups to the wrong bytes (issue 23).
//! So the fingerprint is a hash of every byte: XXH3-128 of each 32 MiB
//! chunk, hashed together with the length. The chunks hash in parallel
//! (40–170 ms a GB from the page cache, measured in README, Reliability);
//! a writer computes the same value while it writes a file
//! ([`FingerprintWriter`]), so a copy is fingerprinted as it is made.
//! XXH3 is not a cryptographic hash: it guards against stale and foreign
//! files, not against someone forging a collision on purpose.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::error::{Error, Result};

/// Bytes per independently hashed chunk.
const CHUNK: u64 = 32 << 20;
/// Bytes read at a time within a chunk.
const READ: usize = 256 << 10;

/// A file's length and content hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    len: u64,
    digest: u128,
}

/// Version tag in the encoded form: a fingerprint of another definition
/// never equals this one's.
const VERSION: u64 = 1;

impl Fingerprint {
    /// Hashes the file at `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let io = |e| Error::io(path, e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let chunks = len.div_ceil(CHUNK);
        // Each chunk streams through a small buffer that stays in the CPU
        // cache (a fresh 32 MiB buffer per chunk spent more time in page
        // faults than in hashing).
        let digests: Vec<u128> = (0..chunks)
            .into_par_iter()
            .map_init(
                || vec![0u8; READ],
                |buf, i| {
                    let start = i * CHUNK;
                    let end = (start + CHUNK).min(len);
                    let mut h = Xxh3::new();
                    let mut at = start;
                    while at < end {
                        let n = (end - at).min(READ as u64) as usize;
                        file.read_exact_at(&mut buf[..n], at).map_err(io)?;
                        h.update(&buf[..n]);
                        at += n as u64;
                    }
                    Ok(h.digest128())
                },
            )
            .collect::<Result<_>>()?;
        Ok(Self::combine(len, &digests))
    }

    fn combine(len: u64, digests: &[u128]) -> Self {
        let mut all = Vec::with_capacity(16 + digests.len() * 16);
        all.extend_from_slice(&VERSION.to_le_bytes());
        all.extend_from_slice(&len.to_le_bytes());
        for d in digests {
            all.extend_from_slice(&d.to_le_bytes());
        }
        Fingerprint {
            len,
            digest: xxh3_128(&all),
        }
    }

    /// The fingerprint [`Self::to_bytes`] wrote, if `b` is one of this
    /// version.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let word = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        if b.len() != 32 || word(0)? != VERSION {
            return None;
        }
        Some(Fingerprint {
            len: word(8)?,
            digest: u128::from_le_bytes(b[16..32].try_into().ok()?),
        })
    }

    /// The file's length.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// The fingerprint as 32 bytes (version, length, digest), for the
    /// headers of derived files.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..].copy_from_slice(&self.digest.to_le_bytes());
        b
    }
}

/// Passes writes through to `inner` and fingerprints the bytes written, as
/// [`Fingerprint::of`] would hash the finished file.
pub struct FingerprintWriter<W> {
    inner: W,
    len: u64,
    in_chunk: u64,
    chunk: Xxh3,
    digests: Vec<u128>,
}

impl<W: Write> FingerprintWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        FingerprintWriter {
            inner,
            len: 0,
            in_chunk: 0,
            chunk: Xxh3::new(),
            digests: Vec::new(),
        }
    }

    /// The fingerprint of everything written, and the inner writer.
    pub fn finish(mut self) -> (Fingerprint, W) {
        if self.in_chunk > 0 {
            self.digests.push(self.chunk.digest128());
        }
        (Fingerprint::combine(self.len, &self.digests), self.inner)
    }
}

impl<W: Write> Write for FingerprintWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = (CHUNK - self.in_chunk) as usize;
        let n = self.inner.write(&buf[..buf.len().min(room)])?;
        self.chunk.update(&buf[..n]);
        self.len += n as u64;
        self.in_chunk += n as u64;
        if self.in_chunk == CHUNK {
            self.digests.push(self.chunk.digest128());
            self.chunk.reset();
            self.in_chunk = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Passes reads through and fingerprints the bytes read: a file read
/// whole anyway (an index scan, a decompression) is fingerprinted without a
/// second read.
pub struct FingerprintReader<R> {
    inner: R,
    seen: FingerprintWriter<std::io::Sink>,
}

impl<R: std::io::Read> FingerprintReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        FingerprintReader {
            inner,
            seen: FingerprintWriter::new(std::io::sink()),
        }
    }

    /// Reads what is left, then gives the fingerprint of everything read.
    pub fn finish(mut self) -> std::io::Result<Fingerprint> {
        std::io::copy(&mut self.inner, &mut self.seen)?;
        Ok(self.seen.finish().0)
    }
}

impl<R: std::io::Read> std::io::Read for FingerprintReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_and_the_file_hash_agree_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            CHUNK as usize - 1,
            CHUNK as usize,
            CHUNK as usize + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join("f");
            let mut w = FingerprintWriter::new(File::create(&p).unwrap());
            for piece in data.chunks(1 << 20 | 3) {
                w.write_all(piece).unwrap();
            }
            let (fp, _) = w.finish();
            assert_eq!(fp, Fingerprint::of(&p).unwrap(), "{len}");
            assert_eq!(fp.file_len(), len as u64);
        }
    }

    #[test]
    fn the_reader_agrees_with_the_file_hash() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK as usize + 99))
            .map(|i| (i % 253) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let mut r = FingerprintReader::new(File::open(&p).unwrap());
        let mut head = vec![0u8; 1000];
        r.read_exact(&mut head).unwrap();
        assert_eq!(r.finish().unwrap(), Fingerprint::of(&p).unwrap());
    }

    #[test]
    fn one_changed_byte_in_the_middle_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut data = vec![7u8; 3 << 20];
        std::fs::write(&p, &data).unwrap();
        let a = Fingerprint::of(&p).unwrap();
        data[3 << 19] ^= 1;
        std::fs::write(&p, &data).unwrap();
        assert_ne!(a, Fingerprint::of(&p).unwrap());
    }
}
