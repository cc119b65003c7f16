//! Building a `.forest.car.zst` index: collect `(hash, frame offset)` for
//! every block, then lay out the node's open-addressed table (entries sorted
//! by hash, each at or after its ideal bucket, empty slots as padding) and
//! write it as skippable frames.
//!
//! Memory stays bounded: entries are kept in memory up to a cap, then sorted
//! and spilled to temporary files as runs, which are merged (three sequential
//! passes: count, place, write) when the table is written.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::format::{
    bucket_count, ideal_slot, skip_header, IndexHeader, EMPTY, INDEX_PREFIX_LEN,
    MAX_SKIP_FRAME_DATA, SLOT_LEN,
};
use crate::error::{Error, Result};

/// Entries held in memory before a run is spilled (16 bytes each: 64 MiB).
pub const DEFAULT_MEMORY_ENTRIES: usize = 4 << 20;

/// Collects index entries.
#[derive(Debug)]
pub struct IndexBuilder {
    buf: Vec<(u64, u64)>,
    cap: usize,
    runs: Vec<File>,
    dir: PathBuf,
}

impl IndexBuilder {
    /// A builder that spills runs into `dir` beyond `memory_entries` entries.
    pub fn new(dir: &Path, memory_entries: usize) -> Self {
        IndexBuilder {
            buf: Vec::new(),
            cap: memory_entries.max(1),
            runs: Vec::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// Files a block's hash under the frame that holds it.
    pub fn push(&mut self, hash: u64, frame_offset: u64) -> Result<()> {
        self.buf.push((hash, frame_offset));
        if self.buf.len() >= self.cap {
            self.spill()?;
        }
        Ok(())
    }

    /// Whether entries went to disk.
    pub fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable();
        self.buf.dedup();
        let io = |e| Error::io(&self.dir, e);
        let file = tempfile::tempfile_in(&self.dir).map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for (h, o) in self.buf.drain(..) {
            w.write_all(&h.to_le_bytes()).map_err(io)?;
            w.write_all(&o.to_le_bytes()).map_err(io)?;
        }
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        self.runs.push(file);
        Ok(())
    }

    /// Lays out the table and writes it to `w` as skippable frames (one when
    /// it fits a u32 length, else frames of at most 512 MiB, as the node
    /// does). Returns the bytes written.
    pub fn write_frames(mut self, w: &mut impl Write, out_path: &Path) -> Result<u64> {
        if !self.runs.is_empty() && !self.buf.is_empty() {
            self.spill()?;
        } else {
            self.buf.sort_unstable();
            self.buf.dedup();
        }
        // Pass 1: distinct entries and hash collisions.
        let (mut n, mut collisions, mut last) = (0u64, 0u64, None);
        self.merged(|h, _| {
            n += 1;
            if last == Some(h) {
                collisions += 1;
            }
            last = Some(h);
        })?;
        let buckets = bucket_count(n);
        // Pass 2: where each entry lands (empty slots before it bring it to
        // its ideal bucket), hence the longest distance and the slot count.
        let (mut placed, mut longest) = (0u64, 0u64);
        self.merged(|h, _| {
            let ideal = ideal_slot(h, buckets);
            let at = placed.max(ideal);
            longest = longest.max(at - ideal);
            placed = at + 1;
        })?;
        let slots = placed.max(buckets) + 1;
        let header = IndexHeader {
            longest_distance: longest,
            collisions,
            initial_buckets: buckets,
        };
        let data_len = INDEX_PREFIX_LEN + slots * SLOT_LEN;
        let chunk = if data_len <= u64::from(u32::MAX) {
            data_len
        } else {
            MAX_SKIP_FRAME_DATA
        };
        // Pass 3: write.
        let mut out = FrameChunker::new(w, chunk, data_len, out_path);
        out.write(&header.encode())?;
        let mut placed = 0u64;
        let mut err = None;
        self.merged(|h, off| {
            if err.is_some() {
                return;
            }
            let at = placed.max(ideal_slot(h, buckets));
            let r = (placed..at)
                .try_for_each(|_| out.write(&empty_slot()))
                .and_then(|_| out.write(&slot(h, off)));
            if let Err(e) = r {
                err = Some(e);
            }
            placed = at + 1;
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        for _ in placed..slots {
            out.write(&empty_slot())?;
        }
        out.finish()
    }

    /// Visits every distinct entry in (hash, offset) order.
    fn merged(&mut self, mut f: impl FnMut(u64, u64)) -> Result<()> {
        if self.runs.is_empty() {
            self.buf.iter().for_each(|&(h, o)| f(h, o));
            return Ok(());
        }
        let io = |e| Error::io(&self.dir, e);
        let mut readers = Vec::with_capacity(self.runs.len());
        for run in &self.runs {
            let mut file = run.try_clone().map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            readers.push(BufReader::with_capacity(256 << 10, file));
        }
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(e) = next_entry(r).map_err(io)? {
                heap.push(Reverse((e, i)));
            }
        }
        let mut last = None;
        while let Some(Reverse((e, i))) = heap.pop() {
            if last != Some(e) {
                f(e.0, e.1);
                last = Some(e);
            }
            if let Some(n) = next_entry(&mut readers[i]).map_err(io)? {
                heap.push(Reverse((n, i)));
            }
        }
        Ok(())
    }
}

fn next_entry(r: &mut impl Read) -> std::io::Result<Option<(u64, u64)>> {
    let mut b = [0u8; 16];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(Some((
            u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

fn slot(hash: u64, frame: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hash.to_le_bytes());
    b[8..].copy_from_slice(&frame.to_le_bytes());
    b
}

fn empty_slot() -> [u8; 16] {
    slot(EMPTY, EMPTY)
}

/// Cuts the index's byte stream into skippable frames of `chunk` bytes
/// (the last one shorter).
struct FrameChunker<'a, W> {
    w: &'a mut W,
    chunk: u64,
    left_in_frame: u64,
    left_total: u64,
    written: u64,
    path: &'a Path,
}

impl<'a, W: Write> FrameChunker<'a, W> {
    fn new(w: &'a mut W, chunk: u64, total: u64, path: &'a Path) -> Self {
        FrameChunker {
            w,
            chunk,
            left_in_frame: 0,
            left_total: total,
            written: 0,
            path,
        }
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        let io = |e| Error::io(self.path, e);
        while !bytes.is_empty() {
            if self.left_in_frame == 0 {
                let len = self.chunk.min(self.left_total);
                self.w.write_all(&skip_header(len as u32)).map_err(io)?;
                self.written += 8;
                self.left_in_frame = len;
            }
            let n = (bytes.len() as u64).min(self.left_in_frame) as usize;
            self.w.write_all(&bytes[..n]).map_err(io)?;
            self.written += n as u64;
            self.left_in_frame -= n as u64;
            self.left_total -= n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn finish(self) -> Result<u64> {
        debug_assert_eq!(self.left_total, 0);
        Ok(self.written)
    }
}
