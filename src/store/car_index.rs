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
use super::side_file::beside;
use crate::error::{Error, Result};

pub(super) const LEN_BITS: u32 = 24;
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

/// The index of one CAR file.
#[derive(Debug)]
pub struct CarIndex {
    /// Header roots.
    pub roots: Vec<Cid>,
    /// Number of payload bytes (CIDs + data) indexed.
    pub payload_bytes: u64,
    /// The entries and their radix table, built here or mapped from the
    /// persisted file.
    pub(super) table: Table,
}

/// An entry: the key, and `offset << 24 | len` (offset is where the
/// section's CID starts).
pub(super) type Entry = [u64; 2];

/// Sorted entries, and where each range of keys starts among them by their
/// top [`radix_bits`] bits: a lookup searches a handful of entries instead
/// of binary-searching tens of megabytes, whose last steps each miss the
/// CPU caches (one lookup per block read or link checked).
#[derive(Debug)]
pub(super) enum Table {
    /// Built by a scan of the CAR.
    Built {
        entries: Vec<Entry>,
        radix: Vec<u32>,
    },
    /// The persisted index's pages, mapped: opening reads nothing but what
    /// its checks touch, and allocates nothing.
    Mapped {
        map: memmap2::Mmap,
        entries: std::ops::Range<usize>,
        radix: std::ops::Range<usize>,
    },
}

impl Table {
    pub(super) fn entries(&self) -> &[Entry] {
        match self {
            Table::Built { entries, .. } => entries,
            Table::Mapped { map, entries, .. } => bytemuck::cast_slice(&map[entries.clone()]),
        }
    }

    pub(super) fn radix(&self) -> &[u32] {
        match self {
            Table::Built { radix, .. } => radix,
            Table::Mapped { map, radix, .. } => bytemuck::cast_slice(&map[radix.clone()]),
        }
    }
}

/// Bits of the key that pick a [`CarIndex`] radix bucket: about two
/// entries a bucket, 4 bytes a bucket.
pub(super) fn radix_bits(entries: usize) -> u32 {
    (usize::BITS - (entries / 2).max(1).leading_zeros()).min(28)
}

/// The radix table of sorted `entries` (see [`Table`]).
fn radix_of(entries: &[Entry]) -> Vec<u32> {
    let bits = radix_bits(entries.len());
    let buckets = 1usize << bits;
    let mut radix = Vec::with_capacity(buckets + 1);
    let mut i = 0usize;
    for b in 0..buckets {
        while i < entries.len() && ((entries[i][0] >> (64 - bits)) as usize) < b {
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
        self.table.entries().len()
    }

    /// Whether the CAR has no blocks.
    pub fn is_empty(&self) -> bool {
        self.table.entries().is_empty()
    }

    /// Heap bytes used by the index (none when it is mapped).
    pub fn memory_bytes(&self) -> usize {
        match &self.table {
            Table::Built { entries, radix } => entries.capacity() * 16 + radix.capacity() * 4,
            Table::Mapped { .. } => 0,
        }
    }

    /// Whether the index is the persisted file, mapped.
    pub fn is_mapped(&self) -> bool {
        matches!(self.table, Table::Mapped { .. })
    }

    /// Candidate sections for a CID (same key hash), in file order.
    pub fn candidates(&self, cid_bytes: &[u8]) -> impl Iterator<Item = SectionLoc> + '_ {
        let key = key_of(cid_bytes);
        let (entries, radix) = (self.table.entries(), self.table.radix());
        let bits = radix_bits(entries.len());
        let b = (key >> (64 - bits)) as usize;
        let (lo, hi) = (radix[b] as usize, radix[b + 1] as usize);
        let start = lo + entries[lo..hi].partition_point(|e| e[0] < key);
        entries[start..]
            .iter()
            .take_while(move |e| e[0] == key)
            .map(loc_of)
    }

    /// Every section, in key order (not file order).
    pub fn sections(&self) -> impl Iterator<Item = SectionLoc> + '_ {
        self.table.entries().iter().map(loc_of)
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
            entries.push([key_of(&buf[..cid_len]), (offset << LEN_BITS) | len]);
            payload_bytes += len;
            offset += len;
        }
        entries.sort_unstable();
        entries.shrink_to_fit();
        let fingerprint = r.into_inner().finish().map_err(|e| Error::io(path, e))?;
        let index = CarIndex {
            roots,
            payload_bytes,
            table: Table::Built {
                radix: radix_of(&entries),
                entries,
            },
        };
        Ok((index, fingerprint))
    }

    /// Path of the persisted index beside a CAR.
    pub fn path_for(car: &Path) -> PathBuf {
        beside(car, ".fmidx")
    }
}

/// An entry's section.
fn loc_of(e: &Entry) -> SectionLoc {
    SectionLoc {
        offset: e[1] >> LEN_BITS,
        len: (e[1] & MAX_SECTION_LEN) as u32,
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
