//! Streaming AMT (v3 format, as `fvm_ipld_amt` 0.7) algorithms over raw value
//! bytes: a bottom-up [`builder`], a streaming [`mod@diff`], an ordered
//! [`patch`]er and an ordered [`walk`]. None of them keeps more than one
//! root-to-leaf path of nodes in memory, so their memory is O(height × width)
//! whatever the tree's size, and none decodes values: values are raw DAG-CBOR
//! byte ranges, which is what lets a migration rewrite only what it changes.
//!
//! Every tree they produce has exactly the shape, and so the root CID,
//! `fvm_ipld_amt::Amt` gives for the same contents: the AMT is canonical
//! (height is the least that holds the largest index, empty nodes are
//! removed, and only the root collapses).

pub mod builder;
pub mod diff;
pub mod map;
pub mod node;
pub mod par_build;
pub mod patch;
pub mod point;
pub mod remap;
pub mod root;
pub mod walk;

pub use builder::AmtBuilder;
pub use diff::{diff, Change, ChangeKind};
pub use node::{Node, Slot};
pub use par_build::par_build;
pub use patch::{AmtPatcher, Patch};
pub use point::get_value;
pub use root::AmtRoot;
pub use walk::{for_each_value, par_for_each_value};

use crate::error::{Error, Result};

/// Largest bit width supported (256 slots per node).
pub const MAX_BIT_WIDTH: u32 = 8;
/// Largest index an AMT can hold (`fvm_ipld_amt::MAX_INDEX`).
pub const MAX_INDEX: u64 = u64::MAX - 1;

/// Slots per node.
pub fn width(bit_width: u32) -> usize {
    1 << bit_width
}

/// Bitmap bytes per node: `max(1, 2^bw / 8)`.
pub fn bmap_len(bit_width: u32) -> usize {
    if bit_width <= 3 {
        1
    } else {
        1 << (bit_width - 3)
    }
}

/// Number of indices one slot of a node at `level` spans: `W^level`
/// (saturating at 2^64 as `u128`).
pub fn slot_span(bit_width: u32, level: u32) -> u128 {
    let shift = u64::from(bit_width) * u64::from(level);
    if shift >= 64 {
        1u128 << 64
    } else {
        1u128 << shift
    }
}

/// The least height whose root can hold `max_index`.
pub fn height_for(bit_width: u32, max_index: u64) -> u32 {
    let mut h = 0;
    while u128::from(max_index) >= slot_span(bit_width, h + 1) {
        h += 1;
    }
    h
}

/// Checks a bit width is one we support.
pub fn check_bit_width(bit_width: u32) -> Result<()> {
    if (1..=MAX_BIT_WIDTH).contains(&bit_width) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "AMT bit width {bit_width} is outside 1..={MAX_BIT_WIDTH}"
        )))
    }
}

pub(crate) use crate::ipld::load_block;
