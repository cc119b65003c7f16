//! HAMT (v3 format, as `fvm_ipld_hamt` 0.10) over raw key and value bytes:
//! a streaming [`walk`] that caches nothing, a [`builder`] that writes a
//! canonical tree from entries sorted by key hash, a streaming [`mod@diff`], and
//! the structure-preserving [`map`] (every value) and [`remap`] (only what
//! changed since an earlier map) that migrate the actors tree.
//!
//! The format: a node is `[bitfield, [pointer…]]`; the bitfield is the
//! node's 2^bw-bit occupancy map as a big-endian integer with leading zero
//! bytes stripped; a pointer is a CID (child node) or a bucket
//! `[[key, value]…]` of at most 3 entries sorted by key bytes. Slot `i` at
//! depth `d` is bits `[d·bw, (d+1)·bw)` of SHA-256(key), most significant
//! first. The tree is canonical: a slot whose subtree holds at most 3 keys is
//! a bucket, otherwise a child node.

pub mod builder;
pub mod diff;
pub mod map;
pub mod node;
pub mod point;
pub mod remap;
pub mod shape;
pub mod walk;

pub use builder::HamtBuilder;
pub use diff::{diff, HamtChange};
pub use map::map_entries;
pub use node::{HamtNode, Pointer};
pub use point::{get_value, replace_value};
pub use remap::remap_entries;
pub use shape::HamtMapped;
pub use walk::for_each_entry;

/// Bit width of the actors HAMT and every builtin-actor HAMT.
pub const DEFAULT_BIT_WIDTH: u32 = 5;
/// Entries per bucket before a bucket is pushed down into a child node.
pub const MAX_BUCKET: usize = 3;

/// SHA-256 of a key: its position in the tree.
pub fn key_hash(key: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key).into()
}

/// The slot of a hash at `depth`: bits `[depth·bw, depth·bw + bw)`, MSB first
/// (fewer bits at the very end of the hash, as `fvm_ipld_hamt` does).
pub fn slot_at(hash: &[u8; 32], depth: u32, bit_width: u32) -> Option<usize> {
    let start = depth * bit_width;
    if start >= 256 {
        return None;
    }
    let n = bit_width.min(256 - start);
    let mut out = 0usize;
    for k in 0..n {
        let bit = start + k;
        let b = (hash[(bit / 8) as usize] >> (7 - bit % 8)) & 1;
        out = (out << 1) | b as usize;
    }
    Some(out)
}
