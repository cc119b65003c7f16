//! Lookups in a `.forest.car.zst` index without loading it, wherever it
//! lives (the node's skippable frames at the end of the file, or our
//! sidecar). Opening reads only the header. Lookups read their few slots
//! with a positioned read each until they number [`MAP_AFTER_PAGES`] times
//! the table's pages; then the table's span is mapped and they read memory.
//! Measured on a 5.5M-block mainnet-preset state exported with `car export
//! --out b.forest.car.zst` (a 110 MB index, 27k pages), timing `migrate
//! --snapshot b.forest.car.zst` with `/usr/bin/time -v`:
//! - from scratch (millions of lookups), system time is 3.71–4.09 s with
//!   positioned reads only, 2.85–3.68 s mapping after 16 lookups a page,
//!   2.04–2.09 s mapping from the start; wall time moved within this
//!   machine's noise; the mapped pages add about 100 MiB to the peak RSS;
//! - a final (over 100k lookups) mapped from the start, or after 4 lookups
//!   a page, was 0.07–0.33 s slower than its paired run in 6 of 8 runs
//!   (each fault maps pages it will not use) and up to 110 MiB larger, so
//!   at 16 a page it never maps (README: Performance has the table).
//!
//! The mapping is of a file we never write. A snapshot truncated in place
//! while a run reads it (a download restarted over it) faults the process
//! (SIGBUS) where positioned reads would have failed with an error: either
//! way the run stops and writes nothing that looks finished.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::format::{ideal_slot, IndexHeader, EMPTY, INDEX_PREFIX_LEN, SLOT_LEN};
use crate::error::{Error, Result};

/// Slots fetched per read: most lookups end in the first one or two.
const SLOTS_PER_READ: usize = 8;

/// Lookups per page of the table after which it is mapped: by then a run
/// touches every page many times, and a fault per page costs less than a
/// syscall per lookup.
pub const MAP_AFTER_PAGES: u64 = 16;

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

/// The table's span of the file, mapped.
#[derive(Debug)]
struct Mapped {
    map: memmap2::Mmap,
    /// File offset of the mapping's first byte.
    start: u64,
}

/// An opened index.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    file: File,
    /// Set once lookups pass `map_after` (`None` inside: the span could not
    /// be mapped, and reads stay positioned).
    mapped: OnceLock<Option<Mapped>>,
    lookups: AtomicU64,
    map_after: u64,
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
        let map_after = total.div_ceil(4096) * MAP_AFTER_PAGES;
        let mut reader = IndexReader {
            path: path.to_path_buf(),
            file,
            mapped: OnceLock::new(),
            lookups: AtomicU64::new(0),
            map_after,
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

    /// Whether lookups read a mapping (not a syscall each).
    pub fn is_mapped(&self) -> bool {
        matches!(self.mapped.get(), Some(Some(_)))
    }

    /// The mapping, once lookups have passed `map_after`.
    fn mapping(&self) -> Option<&Mapped> {
        if let Some(m) = self.mapped.get() {
            return m.as_ref();
        }
        if self.lookups.fetch_add(1, Ordering::Relaxed) < self.map_after {
            return None;
        }
        self.mapped
            .get_or_init(|| map_span(&self.file, &self.segments))
            .as_ref()
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
        let mapping = self.mapping();
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
            self.read_slots(INDEX_PREFIX_LEN + slot * SLOT_LEN, bytes, mapping)?;
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

    /// Reads logical index bytes.
    fn read_logical(&self, logical: u64, buf: &mut [u8]) -> Result<()> {
        self.read_slots(logical, buf, None)
    }

    /// Reads logical index bytes, across skippable-frame boundaries, from
    /// `mapping` if there is one.
    fn read_slots(
        &self,
        mut logical: u64,
        mut buf: &mut [u8],
        mapping: Option<&Mapped>,
    ) -> Result<()> {
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
            let at = s.physical + within;
            match mapping {
                Some(Mapped { map, start }) => {
                    let from = (at - start) as usize;
                    head.copy_from_slice(&map[from..from + n]);
                }
                None => self
                    .file
                    .read_exact_at(head, at)
                    .map_err(|e| Error::Framed {
                        path: self.path.clone(),
                        what: "index",
                        offset: at,
                        reason: format!("cannot read {n} bytes ({e}); was the file truncated?"),
                    })?,
            }
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

/// Maps the span of `file` from the first segment's start to the last's end,
/// if the file holds all of it (it was checked to when the segments were
/// found; a file shorter now is left to positioned reads, which report it).
fn map_span(file: &File, segments: &[Segment]) -> Option<Mapped> {
    let start = segments.first()?.physical;
    let end = segments.iter().map(|s| s.physical + s.len).max()?;
    let file_len = file.metadata().ok()?.len();
    if end > file_len || end <= start {
        return None;
    }
    // SAFETY: read-only, and the bytes are only copied out. They change
    // under us only if someone writes the snapshot in place; then a lookup
    // reads wrong slots, which are only hints (every candidate frame is
    // checked to hold the block's CID), or faults if the file shrank (see
    // the module docs).
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(start)
            .len(usize::try_from(end - start).ok()?)
            .map(file)
    }
    .ok()?;
    // Lookups land anywhere in the table: read ahead nothing.
    let _ = map.advise(memmap2::Advice::Random);
    Some(Mapped { map, start })
}
