//! The on-disk constants and encodings of the Rust node's `.forest.car.zst`
//! (see [`super`] for the layout): the zstd skippable-frame header, the
//! 16-byte footer, and the index's version word, header and slots, all
//! little-endian. Kept in one place because the reader, the writer and our
//! sidecar index must agree on every byte with files the node wrote.

use cid::Cid;

/// The first skippable-frame magic (`0x184D2A50`), the one the node writes.
pub const SKIPPABLE_MAGIC: [u8; 4] = [0x50, 0x2A, 0x4D, 0x18];
/// A regular zstd frame's magic (`0xFD2FB528`).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Bytes of a skippable frame's header: magic and a u32 data length.
pub const SKIP_HEADER_LEN: u64 = 8;
/// Bytes of the footer frame.
pub const FOOTER_LEN: u64 = 16;
/// The index format version word the node writes (`0xdeadbeef + 1`).
pub const INDEX_V1: u64 = 0xdead_beef + 1;
/// The retired version word (`0xdeadbeef`), recognised to name it.
pub const INDEX_V0: u64 = 0xdead_beef;
/// Bytes of the version word and the V1 header before the slots.
pub const INDEX_PREFIX_LEN: u64 = 8 + 24;
/// Bytes of one slot: the hash and the frame offset.
pub const SLOT_LEN: u64 = 16;
/// The hash of an empty slot (and its frame offset).
pub const EMPTY: u64 = u64::MAX;
/// The node's load factor: buckets = entries / 0.8.
pub const LOAD_FACTOR: f64 = 0.8;
/// Largest skippable frame the node's writer emits when the index does not
/// fit one u32-length frame.
pub const MAX_SKIP_FRAME_DATA: u64 = 512 << 20;

/// Whether four bytes are any of the sixteen skippable-frame magics.
pub fn is_skippable_magic(b: &[u8]) -> bool {
    b.len() >= 4 && b[1..4] == SKIPPABLE_MAGIC[1..4] && (b[0] & 0xF0) == 0x50
}

/// The skippable-frame header for `len` data bytes.
pub fn skip_header(len: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&SKIPPABLE_MAGIC);
    h[4..].copy_from_slice(&len.to_le_bytes());
    h
}

/// The footer: a skippable frame of 8 bytes holding the file offset of the
/// index's data (the first index frame's start + 8).
pub fn footer(index_data_offset: u64) -> [u8; 16] {
    let mut f = [0u8; 16];
    f[..8].copy_from_slice(&skip_header(8));
    f[8..].copy_from_slice(&index_data_offset.to_le_bytes());
    f
}

/// Parses a footer; `None` if the bytes are not exactly one.
pub fn parse_footer(f: &[u8; 16]) -> Option<u64> {
    let offset = u64::from_le_bytes(f[8..].try_into().expect("8 bytes"));
    (*f == footer(offset)).then_some(offset)
}

/// The index's V1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    /// The farthest any entry sits after its ideal slot.
    pub longest_distance: u64,
    /// Entries sharing a hash with an earlier one (informational).
    pub collisions: u64,
    /// The bucket count lookups scale hashes by.
    pub initial_buckets: u64,
}

impl IndexHeader {
    /// The version word and header, as written before the slots.
    pub fn encode(&self) -> [u8; INDEX_PREFIX_LEN as usize] {
        let mut b = [0u8; INDEX_PREFIX_LEN as usize];
        b[..8].copy_from_slice(&INDEX_V1.to_le_bytes());
        b[8..16].copy_from_slice(&self.longest_distance.to_le_bytes());
        b[16..24].copy_from_slice(&self.collisions.to_le_bytes());
        b[24..32].copy_from_slice(&self.initial_buckets.to_le_bytes());
        b
    }

    /// Decodes the version word and header.
    pub fn decode(b: &[u8; INDEX_PREFIX_LEN as usize]) -> Result<Self, String> {
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        match word(0) {
            INDEX_V1 => Ok(IndexHeader {
                longest_distance: word(8),
                collisions: word(16),
                initial_buckets: word(24),
            }),
            INDEX_V0 => Err("index version 0 (0xdeadbeef), which no node writes any more".into()),
            v => Err(format!("unknown index version word {v:#x}")),
        }
    }
}

/// The 64-bit summary the index is keyed by: the codec, the multihash code
/// and every whole 8-byte word of the digest, XORed, then moved off
/// `u64::MAX` (which marks an empty slot).
pub fn hash_of(cid: &Cid) -> u64 {
    let mh = cid.hash();
    let folded = mh
        .digest()
        .chunks_exact(8)
        .fold(cid.codec() ^ mh.code(), |h, w| {
            h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))
        });
    folded.saturating_sub(1)
}

/// The bucket a hash belongs in: its position scaled to `buckets`.
pub fn ideal_slot(hash: u64, buckets: u64) -> u64 {
    ((u128::from(hash) * u128::from(buckets)) >> 64) as u64
}

/// The bucket count for `entries` distinct entries.
pub fn bucket_count(entries: u64) -> u64 {
    ((entries as f64 / LOAD_FACTOR) as u64).max(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trips_and_rejects_other_bytes() {
        let f = footer(123_456);
        assert_eq!(parse_footer(&f), Some(123_456));
        let mut g = f;
        g[4] = 9;
        assert_eq!(parse_footer(&g), None);
    }

    #[test]
    fn skippable_magics() {
        assert!(is_skippable_magic(&[0x50, 0x2A, 0x4D, 0x18]));
        assert!(is_skippable_magic(&[0x5F, 0x2A, 0x4D, 0x18]));
        assert!(!is_skippable_magic(&ZSTD_MAGIC));
    }

    #[test]
    fn ideal_slot_is_in_range() {
        for b in [1u64, 2, 7, 1000, u64::MAX] {
            for h in [0u64, 1, u64::MAX / 2, u64::MAX - 1] {
                assert!(ideal_slot(h, b) < b);
            }
        }
    }

    #[test]
    fn header_round_trips() {
        let h = IndexHeader {
            longest_distance: 3,
            collisions: 1,
            initial_buckets: 99,
        };
        assert_eq!(IndexHeader::decode(&h.encode()), Ok(h));
        let mut b = h.encode();
        b[0] ^= 1;
        assert!(IndexHeader::decode(&b)
            .unwrap_err()
            .contains("unknown index version"));
    }
}
