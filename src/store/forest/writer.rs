//! Writing a `.forest.car.zst`: the CAR header alone in the first zstd
//! frame, then sections packed into independent frames of about
//! `frame_bytes` uncompressed (no section crosses a frame), then the index
//! and the footer. Plain zstd tools decompress it as an ordinary `.car.zst`
//! (they skip the skippable frames); the node and our reader serve it in
//! place.

use std::io::Write;
use std::path::{Path, PathBuf};

use cid::Cid;

use super::format::{footer, hash_of, SKIP_HEADER_LEN};
use super::index_build::IndexBuilder;
use crate::error::{Error, Result};
use crate::store::car_format::{write_header, write_section};

/// Uncompressed bytes per frame before it is cut: small enough that a
/// random read decompresses little, large enough to compress well.
pub const DEFAULT_FRAME_BYTES: usize = 32 << 10;

/// Streams sections into a `.forest.car.zst`.
pub struct ForestCarWriter<W: Write> {
    out: W,
    path: PathBuf,
    offset: u64,
    frame: Vec<u8>,
    frame_hashes: Vec<u64>,
    frame_bytes: usize,
    compressor: zstd::bulk::Compressor<'static>,
    index: IndexBuilder,
    frames: u64,
    car_bytes: u64,
}

impl<W: Write> ForestCarWriter<W> {
    /// Writes the header frame; `spill_dir` takes index runs beyond
    /// `index_memory_entries`, `path` names the output in errors.
    pub fn new(
        mut out: W,
        path: &Path,
        roots: &[Cid],
        level: i32,
        frame_bytes: usize,
        spill_dir: &Path,
        index_memory_entries: usize,
    ) -> Result<Self> {
        let io = |e| Error::io(path, e);
        let mut compressor = zstd::bulk::Compressor::new(level).map_err(io)?;
        let mut header = Vec::new();
        write_header(&mut header, roots).map_err(io)?;
        let z = compressor.compress(&header).map_err(io)?;
        out.write_all(&z).map_err(io)?;
        Ok(ForestCarWriter {
            out,
            path: path.to_path_buf(),
            offset: z.len() as u64,
            car_bytes: header.len() as u64,
            frame: Vec::with_capacity(frame_bytes + (64 << 10)),
            frame_hashes: Vec::new(),
            frame_bytes: frame_bytes.max(1),
            compressor,
            index: IndexBuilder::new(spill_dir, index_memory_entries),
            frames: 1,
        })
    }

    /// Appends one block.
    pub fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<u64> {
        let n = write_section(&mut self.frame, cid, data).map_err(|e| Error::io(&self.path, e))?;
        self.frame_hashes.push(hash_of(cid));
        self.car_bytes += n;
        if self.frame.len() >= self.frame_bytes {
            self.cut()?;
        }
        Ok(n)
    }

    /// Uncompressed CAR bytes so far (header and sections).
    pub fn car_bytes(&self) -> u64 {
        self.car_bytes
    }

    /// Compresses the pending sections into one frame.
    fn cut(&mut self) -> Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        let io = |e| Error::io(&self.path, e);
        let z = self.compressor.compress(&self.frame).map_err(io)?;
        for h in self.frame_hashes.drain(..) {
            self.index.push(h, self.offset)?;
        }
        self.out.write_all(&z).map_err(io)?;
        self.offset += z.len() as u64;
        self.frame.clear();
        self.frames += 1;
        Ok(())
    }

    /// Writes the last frame, the index and the footer; returns the output
    /// and whether the index spilled to disk.
    pub fn finish(mut self) -> Result<(W, FinishedFrames)> {
        self.cut()?;
        let index_at = self.offset;
        let spilled = self.index.spilled();
        let index_bytes = self.index.write_frames(&mut self.out, &self.path)?;
        self.out
            .write_all(&footer(index_at + SKIP_HEADER_LEN))
            .map_err(|e| Error::io(&self.path, e))?;
        Ok((
            self.out,
            FinishedFrames {
                frames: self.frames,
                index_bytes,
                index_spilled: spilled,
                car_bytes: self.car_bytes,
            },
        ))
    }
}

/// What [`ForestCarWriter::finish`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct FinishedFrames {
    /// zstd data frames (the header's included).
    pub frames: u64,
    /// Bytes of the index's skippable frames.
    pub index_bytes: u64,
    /// Whether the index builder spilled runs to disk.
    pub index_spilled: bool,
    /// Uncompressed CAR bytes.
    pub car_bytes: u64,
}
