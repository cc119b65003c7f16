//! Lookups in a `.forest.car.zst` index without loading it: the table is
//! read with positioned reads, a few slots at a time, from wherever it lives
//! (the node's skippable frames at the end of the file, or our sidecar).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{ideal_slot, IndexHeader, EMPTY, INDEX_PREFIX_LEN, SLOT_LEN};
use crate::error::{Error, Result};

/// Slots fetched per read: most lookups end in the first one or two.
const SLOTS_PER_READ: usize = 8;

/// One contiguous piece of the index's logical byte stream in its file.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// Offset in the logical index stream.
    pub logical: u64,
    /// Offset in the file.
    pub physical: u64,
    /// Length.
    pub len: u64,
}

/// An opened index.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    file: File,
    segments: Vec<Segment>,
    header: IndexHeader,
    slots: u64,
}

impl IndexReader {
    /// Opens the index whose logical bytes are `segments` of `file`.
    pub fn open(path: &Path, file: File, segments: Vec<Segment>) -> Result<Self> {
        let total: u64 = segments.iter().map(|s| s.len).sum();
        let at = segments.first().map_or(0, |s| s.physical);
        let bad = |reason: String| Error::Framed {
            path: path.to_path_buf(),
            what: "index",
            offset: at,
            reason,
        };
        if total < INDEX_PREFIX_LEN + SLOT_LEN {
            return Err(bad(format!(
                "{total} bytes is too short for an index (version, header and one slot)"
            )));
        }
        if !(total - INDEX_PREFIX_LEN).is_multiple_of(SLOT_LEN) {
            return Err(bad(format!(
                "{} table bytes is not a whole number of 16-byte slots",
                total - INDEX_PREFIX_LEN
            )));
        }
        let mut reader = IndexReader {
            path: path.to_path_buf(),
            file,
            segments,
            header: IndexHeader::default(),
            slots: (total - INDEX_PREFIX_LEN) / SLOT_LEN,
        };
        let mut prefix = [0u8; INDEX_PREFIX_LEN as usize];
        reader.read_logical(0, &mut prefix)?;
        reader.header = IndexHeader::decode(&prefix).map_err(bad)?;
        let h = reader.header;
        if h.initial_buckets > reader.slots || h.longest_distance > reader.slots {
            return Err(bad(format!(
                "header says {} buckets and a longest distance of {}, but the table has {} slots",
                h.initial_buckets, h.longest_distance, reader.slots
            )));
        }
        Ok(reader)
    }

    /// The index header.
    pub fn header(&self) -> IndexHeader {
        self.header
    }

    /// Slots in the table (occupied and empty).
    pub fn slot_count(&self) -> u64 {
        self.slots
    }

    /// Calls `f` with each frame offset filed under `hash`, in table order,
    /// until it returns `Some`. Hash collisions make several candidates
    /// possible, so `f` checks the frame really holds the block.
    pub fn find<T>(
        &self,
        hash: u64,
        mut f: impl FnMut(u64) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if self.header.initial_buckets == 0 {
            return Ok(None);
        }
        let mut slot = ideal_slot(hash, self.header.initial_buckets);
        // Entries sit at or after their ideal slot, at most `longest_distance`
        // past it, sorted by hash: stop at an empty slot, a larger hash, or
        // that distance.
        let mut budget = self.header.longest_distance + 1;
        let mut buf = [0u8; SLOTS_PER_READ * SLOT_LEN as usize];
        loop {
            let n = (self.slots.saturating_sub(slot)).min(SLOTS_PER_READ as u64) as usize;
            if n == 0 {
                return Err(self.corrupt(
                    slot,
                    "the table ends without an empty slot after this bucket".into(),
                ));
            }
            let bytes = &mut buf[..n * SLOT_LEN as usize];
            self.read_logical(INDEX_PREFIX_LEN + slot * SLOT_LEN, bytes)?;
            for (i, raw) in bytes.chunks_exact(SLOT_LEN as usize).enumerate() {
                let h = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
                let frame = u64::from_le_bytes(raw[8..].try_into().expect("8 bytes"));
                if h == EMPTY {
                    if frame != EMPTY {
                        return Err(self.corrupt(
                            slot + i as u64,
                            format!("an empty slot must hold frame offset u64::MAX, not {frame}"),
                        ));
                    }
                    return Ok(None);
                }
                if h == hash {
                    if let Some(v) = f(frame)? {
                        return Ok(Some(v));
                    }
                    continue;
                }
                if h > hash {
                    return Ok(None);
                }
                budget -= 1;
                if budget == 0 {
                    return Ok(None);
                }
            }
            slot += n as u64;
        }
    }

    /// Every occupied slot's frame offset, in table order (for counting and
    /// whole-file checks).
    pub fn for_each_entry(&self, mut f: impl FnMut(u64, u64) -> Result<()>) -> Result<()> {
        let mut buf = vec![0u8; 4096 * SLOT_LEN as usize];
        let mut slot = 0;
        while slot < self.slots {
            let n = (self.slots - slot).min(4096) as usize;
            let bytes = &mut buf[..n * SLOT_LEN as usize];
            self.read_logical(INDEX_PREFIX_LEN + slot * SLOT_LEN, bytes)?;
            for raw in bytes.chunks_exact(SLOT_LEN as usize) {
                let h = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
                let frame = u64::from_le_bytes(raw[8..].try_into().expect("8 bytes"));
                if h != EMPTY {
                    f(h, frame)?;
                }
            }
            slot += n as u64;
        }
        Ok(())
    }

    fn corrupt(&self, slot: u64, reason: String) -> Error {
        Error::Framed {
            path: self.path.clone(),
            what: "index",
            offset: self.physical(INDEX_PREFIX_LEN + slot * SLOT_LEN),
            reason: format!("slot {slot}: {reason}"),
        }
    }

    /// The file offset of a logical index offset.
    fn physical(&self, logical: u64) -> u64 {
        self.segments
            .iter()
            .find(|s| logical >= s.logical && logical < s.logical + s.len)
            .map_or(0, |s| s.physical + (logical - s.logical))
    }

    /// Reads logical index bytes, across skippable-frame boundaries.
    fn read_logical(&self, mut logical: u64, mut buf: &mut [u8]) -> Result<()> {
        let start = self
            .segments
            .partition_point(|s| s.logical + s.len <= logical);
        for s in &self.segments[start..] {
            if buf.is_empty() {
                break;
            }
            let within = logical - s.logical;
            let n = ((s.len - within) as usize).min(buf.len());
            let (head, tail) = buf.split_at_mut(n);
            self.file
                .read_exact_at(head, s.physical + within)
                .map_err(|e| Error::Framed {
                    path: self.path.clone(),
                    what: "index",
                    offset: s.physical + within,
                    reason: format!("cannot read {n} bytes ({e}); was the file truncated?"),
                })?;
            buf = tail;
            logical += n as u64;
        }
        if buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Framed {
                path: self.path.clone(),
                what: "index",
                offset: self.physical(logical),
                reason: "read past the end of the index".into(),
            })
        }
    }
}
