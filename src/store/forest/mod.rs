//! The Rust node's `.forest.car.zst`, read in place and written: a CARv1 cut
//! into independent zstd frames (the header alone in the first, then
//! sections, none crossing a frame), followed by an index in skippable
//! frames and a 16-byte footer frame that points at it:
//!
//! ```text
//! [zstd: varint+header] [zstd: sections…] … [skip: index…] [skip: footer]
//! ```
//!
//! The index is an open-addressed hash table of `(u64 hash, u64 frame
//! offset)` slots (see [`mod@format`]), so a lookup reads a few slots and one
//! frame; nothing is decompressed up front and no decompressed copy is
//! written. Any zstd tool still reads the file as an ordinary `.car.zst`.

pub mod format;
pub mod frames;
pub mod index_build;
pub mod index_reader;
pub mod reader;
pub mod sidecar;
pub mod writer;

pub use frames::FrameStats;
pub use reader::{FramedCar, FramedIndex};
pub use writer::{ForestCarWriter, DEFAULT_FRAME_BYTES};

/// The file name suffix that selects this format for output.
pub const EXTENSION: &str = ".forest.car.zst";

/// Whether a path names a `.forest.car.zst`.
pub fn is_forest_path(path: &std::path::Path) -> bool {
    path.to_str().is_some_and(|s| s.ends_with(EXTENSION))
}
