//! The files under a [`super::block_log::BlockLog`]: numbered segments that
//! blocks are appended to, each a valid CARv1 (its header, then sections
//! `varint(len) cid data`), so a store at rest is readable by any CAR tool.
//!
//! [`SegmentDir`] is the seam the block log writes through: the real
//! filesystem in production ([`super::segment_files::SegmentFiles`]), the
//! simulated disk ([`super::SimFs`]) in crash tests, which fails or cuts the
//! power at any of these operations.

use std::path::PathBuf;

use cid::multihash::Multihash;
use cid::Cid;

use super::car_format::write_header;
use crate::error::Result;

/// A segment's number (its file name is [`file_name`]).
pub type SegmentId = u32;

/// A directory of segment files.
pub trait SegmentDir: Send + Sync {
    /// Every segment present, with its length in bytes, in number order.
    fn list(&self) -> Result<Vec<(SegmentId, u64)>>;
    /// Creates an empty segment (absent before).
    fn create(&self, seg: SegmentId) -> Result<()>;
    /// Writes `bytes` at `offset` (the segment's end: segments only grow).
    fn write_at(&self, seg: SegmentId, offset: u64, bytes: &[u8]) -> Result<()>;
    /// Fills `buf` from `offset`; an `UnexpectedEof` I/O error if the
    /// segment ends first.
    fn read_at(&self, seg: SegmentId, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// The durability point of one segment: its bytes so far, and its
    /// directory entry, survive a crash once this returns.
    fn sync(&self, seg: SegmentId) -> Result<()>;
    /// Cuts a segment back to `len` bytes (a torn tail after a crash).
    fn truncate(&self, seg: SegmentId, len: u64) -> Result<()>;
    /// Removes a segment.
    fn remove(&self, seg: SegmentId) -> Result<()>;
    /// Where a segment is, for messages.
    fn path(&self, seg: SegmentId) -> PathBuf;
    /// Bytes the segments occupy on disk.
    fn disk_usage(&self) -> Result<u64>;
}

/// A segment's file name: its number, zero-padded so names sort in order.
pub fn file_name(seg: SegmentId) -> String {
    format!("{seg:08}.car")
}

/// The segment number a file name gives, if it is one.
pub fn parse_file_name(name: &str) -> Option<SegmentId> {
    let digits = name.strip_suffix(".car")?;
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The CARv1 header a segment starts with. CARv1 readers want a root; a
/// segment has no single one, so its root is an identity CID naming the
/// segment (it points at no block, as CAR tools allow).
pub fn header(seg: SegmentId) -> Vec<u8> {
    let name = format!("fil-migrate segment {seg}");
    let digest = Multihash::wrap(crate::ipld::cids::IDENTITY, name.as_bytes())
        .expect("a short name fits an identity multihash");
    let root = Cid::new_v1(crate::ipld::cids::RAW, digest);
    let mut out = Vec::with_capacity(64);
    write_header(&mut out, &[root]).expect("writing to a Vec");
    out
}

/// Where a block's bytes are: segment, offset of its data, data length, and
/// a checksum of the data. Stored as the index's value, 24 bytes
/// little-endian.
///
/// The checksum (XXH3-64, about 20 times cheaper than the Blake2b of the
/// CID) is what every read compares: a block whose bytes changed after they
/// were written fails it with odds of 2⁻⁶⁴ of passing, the same guarantee a
/// table checksum gives, at a fraction of the cost of hashing per read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment.
    pub seg: SegmentId,
    /// Offset of the block's data (after its section's varint and CID).
    pub offset: u64,
    /// Length of the block's data.
    pub len: u32,
    /// XXH3-64 of the block's data.
    pub check: u64,
}

impl Location {
    /// The index value's size.
    pub const ENCODED_LEN: usize = 24;

    /// The location of `data` written at `offset` of `seg`.
    pub fn of(seg: SegmentId, offset: u64, data: &[u8]) -> Self {
        Location {
            seg,
            offset,
            len: data.len() as u32,
            check: checksum(data),
        }
    }

    /// The index value.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..4].copy_from_slice(&self.seg.to_le_bytes());
        out[4..12].copy_from_slice(&self.offset.to_le_bytes());
        out[12..16].copy_from_slice(&self.len.to_le_bytes());
        out[16..].copy_from_slice(&self.check.to_le_bytes());
        out
    }

    /// Reads an index value; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        Some(Location {
            seg: u32::from_le_bytes(bytes[..4].try_into().ok()?),
            offset: u64::from_le_bytes(bytes[4..12].try_into().ok()?),
            len: u32::from_le_bytes(bytes[12..16].try_into().ok()?),
            check: u64::from_le_bytes(bytes[16..].try_into().ok()?),
        })
    }
}

/// The checksum a [`Location`] keeps of a block's data.
pub fn checksum(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_header_is_a_carv1_header_with_one_root() {
        let h = header(7);
        let mut r = &h[..];
        let super::super::car_format::Varint::Value(len, n) =
            super::super::car_format::read_varint(&mut r).unwrap()
        else {
            panic!("no varint");
        };
        assert_eq!(n as u64 + len, h.len() as u64);
        let parsed: super::super::car_format::CarHeader =
            fvm_ipld_encoding::from_slice(&h[n..]).unwrap();
        assert_eq!(parsed.version, 1);
        let roots = parsed.roots.unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].hash().digest(), b"fil-migrate segment 7");
    }

    #[test]
    fn locations_and_file_names_round_trip() {
        let loc = Location {
            seg: 3,
            offset: 1 << 40,
            len: 9000,
            check: u64::MAX - 5,
        };
        assert_eq!(Location::decode(&loc.encode()), Some(loc));
        assert_eq!(Location::decode(&[0u8; 23]), None);
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("00000042.car.tmp"), None);
        assert_eq!(parse_file_name("0000042.car"), None);
    }
}
