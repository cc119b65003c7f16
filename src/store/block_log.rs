//! The block-log engine: blocks appended to CARv1 segment files, found
//! through a small index (CID → segment, offset, length, checksum) in a key-value
//! backend beside them that also holds the cache's metadata.
//!
//! Why: fjall with key-value separation writes every block twice (journal,
//! then blob file) and runs its LSM machinery over every value; here a block
//! is written once, sequentially, uncompressed (dense CBOR of hashes gains
//! nothing), and there is nothing to compact. The index's values are 24
//! bytes, so its tables stay small and its open is lazy.
//!
//! Durability (docs/design.md §4, unchanged): a segment's bytes are synced
//! before any index entry naming them is committed to the backend. Index
//! entries and metadata of committed batches wait in memory, in commit order
//! (reads see them at once), until [`BlockLog::persist`] or a bound on what
//! waits: then the segments written are synced, and everything that waited
//! goes to the backend as one batch with each segment's synced length. A
//! crash thus keeps a prefix of the batches, as the backend does, and never
//! an entry whose bytes may be lost.
//!
//! Recovery: a segment longer than its recorded length has a tail no entry
//! names (written after the last sync, maybe torn); it is cut back to that
//! length, and said. A segment shorter than its record, or a record with no
//! segment, is damage: synced bytes are gone. Every read compares the bytes
//! before the block with its CID and the block with the checksum its entry
//! keeps, so an entry pointing at wrong bytes, or bytes changed on disk,
//! are an error naming the segment and offset, never a wrong block.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cid::Cid;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

use super::backend::{Op, SortedPairs, Space, StoreBackend, StoreEngine};
use super::segment::{self, Location, SegmentDir, SegmentId};
use crate::error::{Error, Result, StoreFailure};

/// A segment is closed and the next begun once it holds this much.
const SEGMENT_BYTES: u64 = 1 << 30;
/// Entries waiting for a sync before one is forced: bounds their memory
/// (about 100 bytes each).
const MAX_WAITING_ENTRIES: usize = 1 << 18;
/// Bytes written but not synced before a sync is forced.
const MAX_WAITING_BYTES: u64 = 256 << 20;

/// The index key of the segments' synced lengths. CID bytes start with
/// 0x01 (v1) or 0x12 (v0), so it sorts after every block's key.
const LENGTHS_KEY: &[u8] = &[0xff, b'L'];
/// Framing buffers kept for the next commits (one per concurrent flush
/// is enough), and the largest kept.
const KEPT_BUFFERS: usize = 4;
const KEPT_BUFFER_BYTES: usize = 64 << 20;

/// The length table: `(segment u32, synced length u64)` little-endian, per segment.
fn encode_lengths(lengths: &BTreeMap<SegmentId, u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(lengths.len() * 12);
    for (seg, len) in lengths {
        out.extend_from_slice(&seg.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    out
}

fn decode_lengths(bytes: &[u8]) -> Option<BTreeMap<SegmentId, u64>> {
    if !bytes.len().is_multiple_of(12) {
        return None;
    }
    bytes
        .chunks_exact(12)
        .map(|c| {
            Some((
                u32::from_le_bytes(c[..4].try_into().ok()?),
                u64::from_le_bytes(c[4..].try_into().ok()?),
            ))
        })
        .collect()
}

fn is_block_key(key: &[u8]) -> bool {
    key.first() != Some(&0xff)
}

/// What the log writes next and has not synced.
struct Writer {
    /// The segment being appended to and its length (`None` before the first write).
    active: Option<(SegmentId, u64)>,
    /// Next segment number.
    next: SegmentId,
    /// Segments written since the last sync, with their lengths.
    dirty: BTreeMap<SegmentId, u64>,
    /// Bytes written since the last sync.
    dirty_bytes: u64,
    /// Every segment's synced length.
    synced: BTreeMap<SegmentId, u64>,
}

/// An owned operation waiting for its segments' sync.
enum Waiting {
    Put(Space, Vec<u8>, Vec<u8>),
    Remove(Space, Vec<u8>),
}

/// Committed operations not yet in the backend, with lookups for reads.
#[derive(Default)]
struct Pending {
    ops: Vec<Waiting>,
    /// Blocks by key: a location, or `None` for a removal. Keys are CIDs,
    /// whose digests need no keyed hash (SipHash of every key was 1.5 % of
    /// an uncached run's instructions).
    blocks: FxHashMap<Vec<u8>, Option<Location>>,
    /// Metadata by key: a value, or `None` for a removal.
    meta: FxHashMap<Vec<u8>, Option<Vec<u8>>>,
}

/// Blocks in segment files, indexed in a [`StoreBackend`].
pub struct BlockLog {
    dir: PathBuf,
    index: Arc<dyn StoreBackend>,
    segments: Arc<dyn SegmentDir>,
    writer: Mutex<Writer>,
    pending: RwLock<Pending>,
    /// Waiting entries from which a flush bulk-loads them into the index
    /// instead of journaling them.
    ingest_from: usize,
    /// Framing buffers of earlier commits, reused: a fresh one per commit
    /// was mapped and zeroed by the kernel each time (a mainnet final's
    /// minor page faults 21.7–23.1k before, 12.9–14.7k after; README).
    buffers: Mutex<Vec<Vec<u8>>>,
    /// Set for a store about to be deleted: closing it hands nothing to
    /// the index.
    abandoned: AtomicBool,
}

impl BlockLog {
    /// Opens the log in `dir` (for messages) over its index and segments,
    /// cutting back any tail written after the last sync.
    pub fn open(
        dir: PathBuf,
        index: Arc<dyn StoreBackend>,
        segments: Arc<dyn SegmentDir>,
        ingest_from: usize,
    ) -> Result<Self> {
        let recorded = match index.get(Space::Blocks, LENGTHS_KEY)? {
            None => BTreeMap::new(),
            Some(table) => decode_lengths(&table).ok_or_else(|| Error::Store {
                path: dir.clone(),
                failure: StoreFailure::Damaged,
                detail: format!(
                    "the segment length table is {} bytes, not a whole number of entries",
                    table.len()
                ),
            })?,
        };
        let present: BTreeMap<SegmentId, u64> = segments.list()?.into_iter().collect();
        let damaged = |seg: SegmentId, detail: String| Error::Store {
            path: segments.path(seg),
            failure: StoreFailure::Damaged,
            detail,
        };
        for (&seg, &synced) in &recorded {
            match present.get(&seg) {
                None => {
                    return Err(damaged(
                        seg,
                        format!("the segment is missing; {synced} bytes of it were synced"),
                    ))
                }
                Some(&len) if len < synced => {
                    return Err(damaged(
                        seg,
                        format!(
                            "the segment ends at offset {len}, before its synced length {synced}: \
                             synced blocks are lost"
                        ),
                    ))
                }
                Some(&len) if len > synced => {
                    tracing::warn!(
                        "{}: cut back from {len} to {synced} bytes (a tail written after the \
                         last sync, before a crash; no index entry names it)",
                        segments.path(seg).display()
                    );
                    segments.truncate(seg, synced)?;
                }
                Some(_) => {}
            }
        }
        for &seg in present.keys().filter(|s| !recorded.contains_key(s)) {
            tracing::warn!(
                "{}: removed (a segment begun after the last sync, before a crash; no index \
                 entry names it)",
                segments.path(seg).display()
            );
            segments.remove(seg)?;
        }
        let active = recorded.iter().next_back().map(|(&s, &l)| (s, l));
        Ok(BlockLog {
            dir,
            index,
            segments,
            writer: Mutex::new(Writer {
                active,
                next: active.map_or(0, |(s, _)| s + 1),
                dirty: BTreeMap::new(),
                dirty_bytes: 0,
                synced: recorded,
            }),
            pending: RwLock::new(Pending::default()),
            buffers: Mutex::new(Vec::new()),
            ingest_from,
            abandoned: AtomicBool::new(false),
        })
    }

    /// Appends `sections` (already framed) to the active segment, beginning
    /// a new one when it is full; returns the segment and the offset they
    /// start at.
    fn append(&self, w: &mut Writer, sections: &[u8]) -> Result<(SegmentId, u64)> {
        let (seg, len) = match w.active {
            Some((seg, len)) if len < SEGMENT_BYTES => (seg, len),
            _ => {
                let seg = w.next;
                w.next += 1;
                self.segments.create(seg)?;
                let header = segment::header(seg);
                self.segments.write_at(seg, 0, &header)?;
                w.active = Some((seg, header.len() as u64));
                w.dirty.insert(seg, header.len() as u64);
                (seg, header.len() as u64)
            }
        };
        self.segments.write_at(seg, len, sections)?;
        let end = len + sections.len() as u64;
        w.active = Some((seg, end));
        w.dirty.insert(seg, end);
        w.dirty_bytes += sections.len() as u64;
        Ok((seg, len))
    }

    /// Syncs the segments written since the last sync; returns the length
    /// table that records them.
    fn sync_written(&self, w: &mut Writer) -> Result<Vec<u8>> {
        for &seg in w.dirty.keys() {
            self.segments.sync(seg)?;
        }
        w.synced.extend(std::mem::take(&mut w.dirty));
        w.dirty_bytes = 0;
        Ok(encode_lengths(&w.synced))
    }

    /// Syncs the segments written and moves everything waiting into the
    /// backend, as one batch with the segments' new lengths.
    fn flush_waiting(&self, w: &mut Writer) -> Result<()> {
        if w.dirty.is_empty() && self.pending.read().ops.is_empty() {
            return Ok(());
        }
        let table = self.sync_written(w)?;
        {
            let pending = self.pending.read();
            if pending.blocks.len() >= self.ingest_from
                && pending.blocks.values().all(Option::is_some)
            {
                return self.flush_by_ingestion(pending, &table);
            }
            let mut ops = pending
                .ops
                .iter()
                .map(|op| match op {
                    Waiting::Put(s, k, v) => Op::Put(*s, k, v),
                    Waiting::Remove(s, k) => Op::Remove(*s, k),
                })
                .chain(std::iter::once(Op::Put(Space::Blocks, LENGTHS_KEY, &table)));
            self.index.commit(&mut ops)?;
        }
        // Only now: a reader that misses the waiting entries finds them in
        // the backend.
        *self.pending.write() = Pending::default();
        Ok(())
    }

    /// [`Self::flush_waiting`] for a large window: the entries (with the
    /// length table, whose key sorts last) are bulk-loaded into the index's
    /// tables, durable once loaded and never in its journal, which the next
    /// open would replay (0.3 s for the last 32 MB of a mainnet-shaped
    /// premigration's entries, measured); then the metadata is committed.
    /// A crash between the two keeps blocks no metadata names yet, which
    /// is harmless; never metadata naming blocks without entries.
    fn flush_by_ingestion(
        &self,
        pending: parking_lot::RwLockReadGuard<'_, Pending>,
        table: &[u8],
    ) -> Result<()> {
        let mut entries: Vec<(&[u8], [u8; Location::ENCODED_LEN])> = pending
            .blocks
            .iter()
            .filter_map(|(k, loc)| Some((k.as_slice(), loc.as_ref()?.encode())))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut sorted = entries
            .iter()
            .map(|(k, v)| Ok((*k, v.to_vec())))
            .chain(std::iter::once(Ok((LENGTHS_KEY, table.to_vec()))));
        self.index.ingest(&mut sorted)?;
        let mut meta = pending
            .ops
            .iter()
            .filter_map(|op| match op {
                Waiting::Put(Space::Meta, k, v) => Some(Op::Put(Space::Meta, k, v)),
                Waiting::Remove(Space::Meta, k) => Some(Op::Remove(Space::Meta, k)),
                _ => None,
            })
            .peekable();
        if meta.peek().is_some() {
            self.index.commit(&mut meta)?;
        }
        drop(pending);
        *self.pending.write() = Pending::default();
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let mut w = self.writer.lock();
        self.flush_waiting(&mut w)
    }

    fn location(&self, key: &[u8]) -> Result<Option<Location>> {
        if let Some(hit) = self.pending.read().blocks.get(key) {
            return Ok(*hit);
        }
        let Some(value) = self.index.get(Space::Blocks, key)? else {
            return Ok(None);
        };
        Location::decode(&value)
            .map(Some)
            .ok_or_else(|| Error::Store {
                path: self.dir.clone(),
                failure: StoreFailure::Damaged,
                detail: format!(
                    "the index entry of {} is {} bytes, not a location",
                    describe_key(key),
                    value.len()
                ),
            })
    }

    /// Reads the block `key` names at `loc`: the CID written before it must
    /// be `key`, and the data must have the checksum written with it.
    fn read_block(&self, key: &[u8], loc: Location) -> Result<Vec<u8>> {
        let damaged = |detail: String| Error::Store {
            path: self.segments.path(loc.seg),
            failure: StoreFailure::Damaged,
            detail,
        };
        let start = loc.offset.checked_sub(key.len() as u64).ok_or_else(|| {
            damaged(format!(
                "the index places {} at offset {}, inside the segment's header",
                describe_key(key),
                loc.offset
            ))
        })?;
        let mut buf = vec![0u8; key.len() + loc.len as usize];
        match self.segments.read_at(loc.seg, start, &mut buf) {
            Ok(()) => {}
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(damaged(format!(
                    "the index places {} at offset {} ({} bytes), past the segment's end",
                    describe_key(key),
                    loc.offset,
                    loc.len
                )))
            }
            Err(e) => return Err(e),
        }
        if &buf[..key.len()] != key {
            return Err(damaged(format!(
                "the index places {} at offset {}, where another block is",
                describe_key(key),
                loc.offset
            )));
        }
        buf.drain(..key.len());
        if segment::checksum(&buf) != loc.check {
            return Err(damaged(format!(
                "the bytes of {} at offset {} ({} bytes) are not those written (checksum)",
                describe_key(key),
                loc.offset,
                loc.len
            )));
        }
        Ok(buf)
    }
}

impl Drop for BlockLog {
    /// A log closed without a last sync still hands what waits to the
    /// index (as a fjall store's journal keeps what was written), so a
    /// process that exits keeps its writes; a crash keeps a prefix.
    fn drop(&mut self) {
        if self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = self.flush() {
            tracing::warn!("{}: closing the block log: {e}", self.dir.display());
        }
    }
}

/// A key for messages: the CID it is, or its bytes.
fn describe_key(key: &[u8]) -> String {
    match Cid::try_from(key) {
        Ok(c) => c.to_string(),
        Err(_) => format!("key {}", hex_bytes(key)),
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// At most the bytes [`frame`] appends for `key` and `data` (a varint is
/// at most 10 bytes), to size a buffer.
fn framed_len(key: &[u8], data: &[u8]) -> usize {
    10 + key.len() + data.len()
}

/// `varint(len) cid data`, appended to `out`; returns the data's offset in `out`.
fn frame(out: &mut Vec<u8>, key: &[u8], data: &[u8]) -> usize {
    let mut varint = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(
        (key.len() + data.len()) as u64,
        &mut varint,
    ));
    out.extend_from_slice(key);
    let at = out.len();
    out.extend_from_slice(data);
    at
}

impl StoreBackend for BlockLog {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match space {
            Space::Blocks => match self.location(key)? {
                Some(loc) => self.read_block(key, loc).map(Some),
                None => Ok(None),
            },
            Space::Meta => {
                if let Some(hit) = self.pending.read().meta.get(key) {
                    return Ok(hit.clone());
                }
                self.index.get(Space::Meta, key)
            }
        }
    }

    fn contains(&self, space: Space, key: &[u8]) -> Result<bool> {
        match space {
            Space::Blocks => Ok(self.location(key)?.is_some()),
            Space::Meta => {
                if let Some(hit) = self.pending.read().meta.get(key) {
                    return Ok(hit.is_some());
                }
                self.index.contains(Space::Meta, key)
            }
        }
    }

    fn commit(&self, ops: &mut dyn Iterator<Item = Op<'_>>) -> Result<()> {
        let ops: Vec<Op<'_>> = ops.collect();
        let framed: usize = ops
            .iter()
            .map(|op| match op {
                Op::Put(Space::Blocks, k, v) => framed_len(k, v),
                _ => 0,
            })
            .sum();
        // Sized once: grown from empty, a flush's batch was reallocated
        // (and fresh pages zeroed) a dozen times, measured in a profile.
        let mut sections = self.buffers.lock().pop().unwrap_or_default();
        sections.clear();
        sections.reserve(framed);
        let mut at = Vec::new();
        for op in &ops {
            if let Op::Put(Space::Blocks, k, v) = op {
                at.push(frame(&mut sections, k, v));
            }
        }
        let mut w = self.writer.lock();
        let (seg, base) = if sections.is_empty() {
            (0, 0)
        } else {
            self.append(&mut w, &sections)?
        };
        if sections.capacity() <= KEPT_BUFFER_BYTES {
            let mut kept = self.buffers.lock();
            if kept.len() < KEPT_BUFFERS {
                kept.push(sections);
            }
        }
        {
            let mut pending = self.pending.write();
            let mut at = at.into_iter();
            for op in ops {
                match op {
                    Op::Put(Space::Blocks, k, v) => {
                        let offset = base + at.next().expect("one offset per block") as u64;
                        let loc = Location::of(seg, offset, v);
                        pending.blocks.insert(k.to_vec(), Some(loc));
                        pending.ops.push(Waiting::Put(
                            Space::Blocks,
                            k.to_vec(),
                            loc.encode().to_vec(),
                        ));
                    }
                    Op::Put(Space::Meta, k, v) => {
                        pending.meta.insert(k.to_vec(), Some(v.to_vec()));
                        pending
                            .ops
                            .push(Waiting::Put(Space::Meta, k.to_vec(), v.to_vec()));
                    }
                    Op::Remove(Space::Blocks, k) => {
                        pending.blocks.insert(k.to_vec(), None);
                        pending.ops.push(Waiting::Remove(Space::Blocks, k.to_vec()));
                    }
                    Op::Remove(Space::Meta, k) => {
                        pending.meta.insert(k.to_vec(), None);
                        pending.ops.push(Waiting::Remove(Space::Meta, k.to_vec()));
                    }
                }
            }
            if pending.ops.len() < MAX_WAITING_ENTRIES && w.dirty_bytes < MAX_WAITING_BYTES {
                return Ok(());
            }
        }
        self.flush_waiting(&mut w)
    }

    fn persist(&self) -> Result<()> {
        self.flush()?;
        self.index.persist()
    }

    fn settle(&self) -> Result<()> {
        self.flush()?;
        self.index.settle()
    }

    fn compact(&self) -> Result<()> {
        self.flush()?;
        self.index.compact()
    }

    fn ingest(&self, sorted: &mut SortedPairs<'_>) -> Result<()> {
        // Blocks are appended as they come and their entries handed to the
        // backend's ingestion as they go; once the input ends, the segments
        // are synced and the length table (its key sorts last) goes in
        // before the ingestion finishes, atomically with the entries.
        let mut w = self.writer.lock();
        self.flush_waiting(&mut w)?;
        let writer = &mut *w;
        let mut sections = Vec::new();
        let mut ended = false;
        let mut stream = std::iter::from_fn(|| {
            if ended {
                return None;
            }
            match sorted.next() {
                Some(Ok((key, data))) => {
                    sections.clear();
                    let at = frame(&mut sections, key, &data);
                    Some(self.append(writer, &sections).map(|(seg, base)| {
                        let loc = Location::of(seg, base + at as u64, &data);
                        (key, loc.encode().to_vec())
                    }))
                }
                Some(Err(e)) => Some(Err(e)),
                None => {
                    ended = true;
                    Some(self.sync_written(writer).map(|table| (LENGTHS_KEY, table)))
                }
            }
        });
        self.index.ingest(&mut stream)
    }

    fn for_each_key(&self, space: Space, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.flush()?;
        self.index.for_each_key(space, &mut |k| {
            if space == Space::Meta || is_block_key(k) {
                f(k)
            } else {
                Ok(())
            }
        })
    }

    fn with_prefix(&self, space: Space, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.flush()?;
        match space {
            Space::Meta => self.index.with_prefix(Space::Meta, prefix),
            Space::Blocks => {
                let mut out = Vec::new();
                for (k, v) in self.index.with_prefix(Space::Blocks, prefix)? {
                    if !is_block_key(&k) {
                        continue;
                    }
                    let loc = Location::decode(&v).ok_or_else(|| Error::Store {
                        path: self.dir.clone(),
                        failure: StoreFailure::Damaged,
                        detail: format!(
                            "the index entry of {} is not a location",
                            describe_key(&k)
                        ),
                    })?;
                    let data = self.read_block(&k, loc)?;
                    out.push((k, data));
                }
                Ok(out)
            }
        }
    }

    fn disk_space(&self) -> Result<u64> {
        Ok(self.segments.disk_usage()? + self.index.disk_space()?)
    }

    fn engine(&self) -> StoreEngine {
        StoreEngine::BlockLog
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fjall_backend::FjallBackend;
    use crate::store::segment_files::SegmentFiles;
    use crate::store::DiskStoreOptions;
    use std::path::Path;

    fn open(dir: &Path) -> Result<BlockLog> {
        open_ingesting_from(dir, 1000)
    }

    fn open_ingesting_from(dir: &Path, ingest_from: usize) -> Result<BlockLog> {
        let index = FjallBackend::open_with(
            &dir.join("index"),
            &DiskStoreOptions::default(),
            crate::store::fjall_backend::Values::Locations,
        )?;
        let files = SegmentFiles::open(&dir.join("segments"))?;
        BlockLog::open(
            dir.to_path_buf(),
            Arc::new(index),
            Arc::new(files),
            ingest_from,
        )
    }

    fn blocks(n: u32) -> Vec<(Cid, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let data = fvm_ipld_encoding::to_vec(&(i, vec![i as u8; 200])).unwrap();
                (crate::ipld::cids::cbor_cid(&data), data)
            })
            .collect()
    }

    fn put(log: &BlockLog, blocks: &[(Cid, Vec<u8>)]) {
        let keys: Vec<Vec<u8>> = blocks.iter().map(|(c, _)| c.to_bytes()).collect();
        log.commit(
            &mut keys
                .iter()
                .zip(blocks)
                .map(|(k, (_, d))| Op::Put(Space::Blocks, k, d)),
        )
        .unwrap();
    }

    fn segment0(dir: &Path) -> PathBuf {
        dir.join("segments").join(segment::file_name(0))
    }

    #[test]
    fn blocks_read_back_before_and_after_a_reopen_and_the_segment_is_a_car() {
        // Entries journaled (windows under 1000), or bulk-loaded (from 30).
        for ingest_from in [1000, 30] {
            reads_back(ingest_from);
        }
    }

    fn reads_back(ingest_from: usize) {
        let dir = tempfile::tempdir().unwrap();
        let bl = blocks(100);
        let log = open_ingesting_from(dir.path(), ingest_from).unwrap();
        log.commit(&mut std::iter::once(Op::Put(Space::Meta, b"m", b"1")))
            .unwrap();
        put(&log, &bl[..60]);
        log.persist().unwrap();
        put(&log, &bl[60..]);
        let (c, d) = &bl[70];
        assert_eq!(
            log.get(Space::Blocks, &c.to_bytes()).unwrap().as_ref(),
            Some(d)
        );
        log.persist().unwrap();
        drop(log);
        let log = open(dir.path()).unwrap();
        for (c, d) in &bl {
            assert_eq!(
                log.get(Space::Blocks, &c.to_bytes()).unwrap().as_ref(),
                Some(d)
            );
        }
        let mut keys = 0;
        log.for_each_key(Space::Blocks, &mut |_| {
            keys += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, 100, "the length table is not a block");
        // Any CARv1 reader reads a segment: our own indexer here.
        let idx = crate::store::car_index::CarIndex::build(&segment0(dir.path())).unwrap();
        assert_eq!(idx.len(), 100);
    }

    #[test]
    fn a_tail_after_the_last_sync_is_cut_back_and_the_rest_reads() {
        let dir = tempfile::tempdir().unwrap();
        let bl = blocks(10);
        let log = open(dir.path()).unwrap();
        put(&log, &bl);
        log.persist().unwrap();
        drop(log);
        let seg = segment0(dir.path());
        let synced = std::fs::metadata(&seg).unwrap().len();
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
        std::io::Write::write_all(&mut f, &[0x55; 77]).unwrap();
        drop(f);
        let log = open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), synced);
        for (c, d) in &bl {
            assert_eq!(
                log.get(Space::Blocks, &c.to_bytes()).unwrap().as_ref(),
                Some(d)
            );
        }
    }

    #[test]
    fn a_segment_shorter_than_its_synced_length_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path()).unwrap();
        put(&log, &blocks(10));
        log.persist().unwrap();
        drop(log);
        let seg = segment0(dir.path());
        let len = std::fs::metadata(&seg).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let err = open(dir.path())
            .err()
            .expect("a damaged store opened")
            .to_string();
        assert!(err.contains("00000000.car"), "{err}");
        assert!(err.contains(&format!("offset {}", len - 5)), "{err}");
    }

    #[test]
    fn a_damaged_block_or_a_misplaced_entry_is_an_error_never_a_wrong_block() {
        let dir = tempfile::tempdir().unwrap();
        let bl = blocks(3);
        let log = open(dir.path()).unwrap();
        put(&log, &bl);
        log.persist().unwrap();
        let key = |i: usize| bl[i].0.to_bytes();
        let loc = |i: usize| {
            Location::decode(&log.index.get(Space::Blocks, &key(i)).unwrap().unwrap()).unwrap()
        };
        let (l0, l1) = (loc(0), loc(1));
        let aim = |i: usize, at: Location| {
            log.index
                .commit(&mut std::iter::once(Op::Put(
                    Space::Blocks,
                    &key(i),
                    &at.encode(),
                )))
                .unwrap()
        };
        // An entry naming another block's bytes.
        aim(0, l1);
        let err = log.get(Space::Blocks, &key(0)).unwrap_err().to_string();
        assert!(
            err.contains("where another block is") && err.contains("00000000.car"),
            "{err}"
        );
        // An entry past the segment's end.
        aim(
            0,
            Location {
                offset: 1 << 30,
                ..l0
            },
        );
        let err = log.get(Space::Blocks, &key(0)).unwrap_err().to_string();
        assert!(err.contains("past the segment's end"), "{err}");
        aim(0, l0);
        assert!(log.get(Space::Blocks, &key(0)).is_ok());
        // A flipped byte inside block 2's data.
        drop(log);
        let seg = segment0(dir.path());
        let mut bytes = std::fs::read(&seg).unwrap();
        let at = {
            let log = open(dir.path()).unwrap();
            loc_of(&log, &key(2))
        };
        bytes[at.offset as usize + 10] ^= 1;
        std::fs::write(&seg, bytes).unwrap();
        let log = open(dir.path()).unwrap();
        let err = log.get(Space::Blocks, &key(2)).unwrap_err().to_string();
        assert!(
            err.contains("not those written") && err.contains(&format!("offset {}", at.offset)),
            "{err}"
        );
    }

    fn loc_of(log: &BlockLog, key: &[u8]) -> Location {
        log.location(key).unwrap().unwrap()
    }
}
