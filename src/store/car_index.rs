//! The CID → section index of a CAR file, built once by a sequential scan and
//! persisted beside the CAR (`<car>.fmidx`) so the next open is a single read.
//!
//! Memory: 16 bytes per block (a 64-bit key hash and a packed
//! offset/length) and a radix table of about 2 more, so 10M blocks take
//! 180 MB. Full CIDs are not kept: a lookup
//! compares the CID bytes stored at the section's offset, which makes the
//! index exact despite the short keys.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use cid::Cid;

use super::car_format::{read_varint, CarHeader, Varint, MAX_HEADER_LEN};
use super::fingerprint::{Fingerprint, FingerprintReader};
use super::side_file::{beside, write_atomically};
use crate::error::{Error, Result};

/// Version 3: the body checked by XXH3-128 (version 2 by Blake2b, which
/// took 0.12 s of every open of a 5.5M-block index: the check is against
/// damage, not an adversary, and a wrong entry is caught anyway by the CID
/// compared at its offset). Version 2 named the CAR by a content
/// [`Fingerprint`] (version 1 by length, mtime and its first and last
/// 64 KiB, which a rewrite in place or `cp -p` kept).
const MAGIC: &[u8; 8] = b"FMCARIX3";

/// The checksum of an index body.
fn checksum(body: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(body).to_le_bytes()
}
const LEN_BITS: u32 = 24;
/// Largest section the packed index can address (CID + data).
pub const MAX_SECTION_LEN: u64 = (1 << LEN_BITS) - 1;
/// Largest CAR offset the packed index can address (1 TiB).
pub const MAX_OFFSET: u64 = (1 << (64 - LEN_BITS)) - 1;

/// A 64-bit hash of a CID's bytes (FNV-1a): short, fast, and only a hint.
pub fn key_of(cid_bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cid_bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The in-memory index of one CAR file.
#[derive(Debug)]
pub struct CarIndex {
    /// Header roots.
    pub roots: Vec<Cid>,
    /// Sorted (key, offset << 24 | len) pairs; offset is where the section's CID starts.
    entries: Vec<(u64, u64)>,
    /// Number of payload bytes (CIDs + data) indexed.
    pub payload_bytes: u64,
    /// Where each range of keys starts in `entries`, by their top
    /// [`Self::radix_bits`] bits: a lookup searches a handful of entries
    /// instead of binary-searching tens of megabytes, whose last steps each
    /// miss the CPU caches (one lookup per block read or link checked).
    radix: Vec<u32>,
}

/// Bits of the key that pick a [`CarIndex`] radix bucket: about two
/// entries a bucket, 4 bytes a bucket.
fn radix_bits(entries: usize) -> u32 {
    (usize::BITS - (entries / 2).max(1).leading_zeros()).min(28)
}

/// The radix table of sorted `entries` (see [`CarIndex`]).
fn radix_of(entries: &[(u64, u64)]) -> Vec<u32> {
    let bits = radix_bits(entries.len());
    let buckets = 1usize << bits;
    let mut radix = Vec::with_capacity(buckets + 1);
    let mut i = 0usize;
    for b in 0..buckets {
        while i < entries.len() && ((entries[i].0 >> (64 - bits)) as usize) < b {
            i += 1;
        }
        radix.push(i as u32);
    }
    radix.push(entries.len() as u32);
    radix
}

/// Where a section's CID and data live in the CAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionLoc {
    /// Offset of the section's CID.
    pub offset: u64,
    /// Length of CID + data.
    pub len: u32,
}

impl CarIndex {
    /// Number of indexed blocks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the CAR has no blocks.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes used by the index.
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * 16 + self.radix.capacity() * 4
    }

    /// Candidate sections for a CID (same key hash), in file order.
    pub fn candidates(&self, cid_bytes: &[u8]) -> impl Iterator<Item = SectionLoc> + '_ {
        let key = key_of(cid_bytes);
        let bits = radix_bits(self.entries.len());
        let b = (key >> (64 - bits)) as usize;
        let (lo, hi) = (self.radix[b] as usize, self.radix[b + 1] as usize);
        let start = lo + self.entries[lo..hi].partition_point(|e| e.0 < key);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 == key)
            .map(|e| SectionLoc {
                offset: e.1 >> LEN_BITS,
                len: (e.1 & MAX_SECTION_LEN) as u32,
            })
    }

    /// Every section, in key order (not file order).
    pub fn sections(&self) -> impl Iterator<Item = SectionLoc> + '_ {
        self.entries.iter().map(|e| SectionLoc {
            offset: e.1 >> LEN_BITS,
            len: (e.1 & MAX_SECTION_LEN) as u32,
        })
    }

    /// Builds the index by scanning the CAR sequentially.
    pub fn build(path: &Path) -> Result<Self> {
        Ok(Self::build_fingerprinted(path)?.0)
    }

    /// [`build`](Self::build), and the CAR's [`Fingerprint`] taken on the
    /// same read.
    pub fn build_fingerprinted(path: &Path) -> Result<(Self, Fingerprint)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut r = BufReader::with_capacity(4 << 20, FingerprintReader::new(file));
        let car_err = |offset: u64, reason: String| Error::Car {
            path: path.to_path_buf(),
            offset,
            reason,
        };
        let (roots, mut offset) = read_header(&mut r, path)?;
        let mut entries = Vec::new();
        let mut payload_bytes = 0u64;
        let mut buf = Vec::new();
        loop {
            let section_start = offset;
            let (len, vlen) = match read_varint(&mut r) {
                Ok(Varint::Eof) => break,
                Ok(Varint::Value(v, n)) => (v, n),
                Err(reason) => {
                    return Err(car_err(section_start, format!("section length: {reason}")))
                }
            };
            offset += vlen as u64;
            if len == 0 {
                return Err(car_err(section_start, "zero-length section".into()));
            }
            if len > MAX_SECTION_LEN {
                return Err(car_err(
                    section_start,
                    format!("section of {len} bytes exceeds the {MAX_SECTION_LEN}-byte limit"),
                ));
            }
            if offset > MAX_OFFSET {
                return Err(car_err(section_start, "CAR larger than 1 TiB".into()));
            }
            buf.resize(len as usize, 0);
            let got = read_full(&mut r, &mut buf).map_err(|e| Error::io(path, e))?;
            if got < buf.len() {
                return Err(car_err(
                    section_start,
                    format!("truncated section: {len} bytes announced, {got} present"),
                ));
            }
            let cid = Cid::read_bytes(&buf[..])
                .map_err(|e| car_err(offset, format!("invalid CID: {e}")))?;
            let cid_len = cid.encoded_len();
            entries.push((key_of(&buf[..cid_len]), (offset << LEN_BITS) | len));
            payload_bytes += len;
            offset += len;
        }
        entries.sort_unstable();
        entries.shrink_to_fit();
        let fingerprint = r.into_inner().finish().map_err(|e| Error::io(path, e))?;
        let index = CarIndex {
            roots,
            radix: radix_of(&entries),
            entries,
            payload_bytes,
        };
        Ok((index, fingerprint))
    }

    /// Path of the persisted index beside a CAR.
    pub fn path_for(car: &Path) -> PathBuf {
        beside(car, ".fmidx")
    }

    /// Loads a persisted index if it exists and was built from the file
    /// whose fingerprint is `identity`; `Ok(None)` means missing, stale,
    /// foreign or damaged (the caller rebuilds).
    pub fn load(index_path: &Path, identity: &Fingerprint) -> Result<Option<Self>> {
        let bytes = match std::fs::read(index_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(index_path, e)),
        };
        Ok(Self::decode(&bytes, identity))
    }

    fn decode(bytes: &[u8], identity: &Fingerprint) -> Option<Self> {
        if bytes.len() < 16 + 8 || &bytes[..8] != MAGIC {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 16);
        if checksum(body) != sum {
            return None;
        }
        let mut r = &body[8..];
        fn take<'b>(r: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
            let (h, t) = r.split_at_checked(n)?;
            *r = t;
            Some(h)
        }
        let u64_ = |r: &mut &[u8]| -> Option<u64> {
            Some(u64::from_le_bytes(take(r, 8)?.try_into().ok()?))
        };
        if take(&mut r, 32)? != identity.to_bytes() {
            return None;
        }
        let payload_bytes = u64_(&mut r)?;
        let nroots = u64_(&mut r)?;
        let mut roots = Vec::new();
        for _ in 0..nroots {
            let l = u64_(&mut r)? as usize;
            roots.push(Cid::try_from(take(&mut r, l)?).ok()?);
        }
        let n = u64_(&mut r)? as usize;
        if r.len() != n * 16 {
            return None;
        }
        let entries: Vec<(u64, u64)> = r
            .chunks_exact(16)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                    u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
                )
            })
            .collect();
        // Lookups search key ranges: an index out of order (which its
        // checksum should already have caught) is rebuilt, not used.
        if !entries.windows(2).all(|w| w[0].0 <= w[1].0) {
            return None;
        }
        Some(CarIndex {
            roots,
            radix: radix_of(&entries),
            entries,
            payload_bytes,
        })
    }

    /// Persists the index atomically (temporary file, fsync, rename).
    pub fn save(&self, index_path: &Path, identity: &Fingerprint) -> Result<()> {
        let mut out = Vec::with_capacity(128 + self.entries.len() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&identity.to_bytes());
        out.extend_from_slice(&self.payload_bytes.to_le_bytes());
        out.extend_from_slice(&(self.roots.len() as u64).to_le_bytes());
        for root in &self.roots {
            let b = root.to_bytes();
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (k, v) in &self.entries {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        write_atomically(index_path, &out)
    }
}

/// Reads and validates a CARv1 header, returning its roots and the offset of
/// the first section (where it leaves the reader).
pub fn read_header(r: &mut impl Read, path: &Path) -> Result<(Vec<Cid>, u64)> {
    let car_err = |offset: u64, reason: String| Error::Car {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let (len, vlen) = match read_varint(r) {
        Ok(Varint::Value(v, n)) => (v, n),
        Ok(Varint::Eof) => return Err(car_err(0, "empty file".into())),
        Err(reason) => return Err(car_err(0, format!("header length: {reason}"))),
    };
    if len == 0 || len > MAX_HEADER_LEN {
        return Err(car_err(
            0,
            format!("implausible header length {len}: not a CAR file"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    let got = read_full(r, &mut buf).map_err(|e| Error::io(path, e))?;
    if got < buf.len() {
        return Err(car_err(vlen as u64, "truncated header".into()));
    }
    let header: CarHeader = fvm_ipld_encoding::from_slice(&buf).map_err(|e| {
        car_err(
            vlen as u64,
            format!("header is not a DAG-CBOR CAR header: {e}"),
        )
    })?;
    match (header.version, header.roots) {
        (1, Some(roots)) => Ok((roots, vlen as u64 + len)),
        (1, None) => Err(car_err(vlen as u64, "CARv1 header without roots".into())),
        (2, _) => Err(car_err(
            0,
            "this is a CARv2 file; unwrap it to CARv1 first (e.g. `car extract` / go-car `car inspect`)".into(),
        )),
        (v, _) => Err(car_err(vlen as u64, format!("unsupported CAR version {v}"))),
    }
}
