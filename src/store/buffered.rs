//! `BufferedBlockstore<B>`: a thread-safe, memory-budgeted write buffer over
//! any blockstore.
//!
//! Migration produces blocks much faster than a disk store absorbs them one
//! at a time, and most intermediate blocks are superseded before the end. So
//! new blocks stay in memory until the caller knows which ones are final and
//! calls [`BufferedBlockstore::flush`] with the root of a finished subtree:
//! exactly the buffered blocks reachable from that root are written, children
//! before parents, in batches, and then evicted. Everything else stays
//! buffered and readable. This is how a single miner tree larger than RAM
//! still migrates: flush finished subtrees whenever [`over_budget`] says so.
//!
//! Safety rule (docs/design.md §4): `flush(root)` fails rather than return if some
//! block reachable from `root` is neither buffered nor already in the backing
//! store, so a root the caller records after a successful flush never dangles.
//! A block is evicted only after the batch holding it has been handed to the
//! backing store, so a concurrent reader always finds it in one of the two.
//!
//! [`over_budget`]: BufferedBlockstore::over_budget

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use lru::LruCache;
use parking_lot::Mutex;
use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::ipld::links::walkable_links_of;
use crate::ipld::postorder::children_first;

const SHARDS: usize = 32;

/// Configuration of a [`BufferedBlockstore`].
#[derive(Debug, Clone)]
pub struct BufferOptions {
    /// Buffered bytes above which [`BufferedBlockstore::over_budget`] is true.
    pub budget_bytes: u64,
    /// Capacity of the LRU read cache in front of the backing store, in bytes.
    pub read_cache_bytes: u64,
    /// Bytes per write batch handed to the backing store during a flush.
    pub batch_bytes: usize,
    /// Check that links leaving the buffer point at blocks the backing store has.
    pub check_boundary: bool,
}

impl Default for BufferOptions {
    fn default() -> Self {
        BufferOptions {
            budget_bytes: 256 << 20,
            read_cache_bytes: 8 << 20,
            batch_bytes: 8 << 20,
            check_boundary: true,
        }
    }
}

/// A snapshot of a buffer's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BufferStats {
    /// Bytes of block data currently buffered.
    pub buffered_bytes: u64,
    /// Blocks currently buffered.
    pub buffered_blocks: u64,
    /// Highest `buffered_bytes` seen.
    pub peak_buffered_bytes: u64,
    /// Blocks written to the backing store by flushes.
    pub flushed_blocks: u64,
    /// Bytes written to the backing store by flushes.
    pub flushed_bytes: u64,
    /// Blocks removed from the buffer after being written.
    pub evicted_blocks: u64,
    /// Reads answered by the LRU read cache.
    pub cache_hits: u64,
    /// Reads that went to the backing store.
    pub backing_reads: u64,
    /// Bytes read from the backing store.
    pub backing_read_bytes: u64,
}

#[derive(Default)]
struct Counters {
    buffered_bytes: AtomicU64,
    buffered_blocks: AtomicU64,
    peak: AtomicU64,
    flushed_blocks: AtomicU64,
    flushed_bytes: AtomicU64,
    evicted: AtomicU64,
    cache_hits: AtomicU64,
    backing_reads: AtomicU64,
    backing_read_bytes: AtomicU64,
}

struct ReadCache {
    lru: LruCache<Cid, Arc<[u8]>, FxBuildHasher>,
    bytes: u64,
}

/// A write buffer with a byte budget over a backing blockstore. See the module docs.
pub struct BufferedBlockstore<B> {
    backing: B,
    shards: Vec<Mutex<FxHashMap<Cid, Arc<[u8]>>>>,
    cache: Mutex<ReadCache>,
    opts: BufferOptions,
    counters: Counters,
    known_present: Vec<Mutex<FxHashSet<u128>>>,
}

/// Bound on [`BufferedBlockstore::vouch`]'s set (16 bytes a link, ~32 MB
/// at most with the hash set's slack). When a shard fills it starts over:
/// forgotten links are looked up in the backing store as usual. A final
/// migration of mainnet's state tree vouches for ~0.5M reused links.
const MAX_VOUCHED: usize = 1 << 20;

/// A compact key for a vouched link: 16 bytes of its digest (a cryptographic
/// hash for every walkable link) mixed with its codec and hash function.
fn vouch_key(cid: &Cid) -> u128 {
    let d = cid.hash().digest();
    if d.len() < 16 {
        return crate::ipld::cids::fingerprint(cid);
    }
    let head = u128::from_le_bytes(d[..16].try_into().expect("16 bytes"));
    head ^ (u128::from(cid.codec()) << 64 | u128::from(cid.hash().code()))
}

impl<B: Blockstore> BufferedBlockstore<B> {
    /// Wraps `backing`.
    pub fn new(backing: B, opts: BufferOptions) -> Self {
        BufferedBlockstore {
            backing,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            cache: Mutex::new(ReadCache {
                lru: LruCache::unbounded_with_hasher(FxBuildHasher),
                bytes: 0,
            }),
            opts,
            counters: Counters::default(),
            known_present: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Records that blocks the caller read from this store link to `links`,
    /// so their targets are readable (from the buffer or the backing store)
    /// and a flush need not look each one up in the backing store again.
    /// Callers vouch only for links found in blocks they read here.
    pub fn vouch(&self, links: &[Cid]) {
        for link in links {
            let key = vouch_key(link);
            let mut set = self.vouched_shard(key).lock();
            if set.len() >= MAX_VOUCHED / SHARDS {
                set.clear();
            }
            set.insert(key);
        }
    }

    /// The shard of the vouched set holding `key` (sharded like the buffer:
    /// every worker vouches for each actor it migrates).
    fn vouched_shard(&self, key: u128) -> &Mutex<FxHashSet<u128>> {
        &self.known_present[(key >> 96) as usize % SHARDS]
    }

    /// The backing store.
    pub fn backing(&self) -> &B {
        &self.backing
    }

    /// The configured budget in bytes.
    pub fn budget(&self) -> u64 {
        self.opts.budget_bytes
    }

    fn shard(&self, cid: &Cid) -> &Mutex<FxHashMap<Cid, Arc<[u8]>>> {
        // The digest's high bits pick the shard; the map hashes its low bits.
        let h = FxBuildHasher.hash_one(cid.hash().digest()) >> 32;
        &self.shards[(h as usize) % SHARDS]
    }

    fn buffered(&self, cid: &Cid) -> Option<Arc<[u8]>> {
        self.shard(cid).lock().get(cid).cloned()
    }

    /// Whether the buffer holds more bytes than its budget.
    pub fn over_budget(&self) -> bool {
        self.buffered_bytes() > self.opts.budget_bytes
    }

    /// Bytes of block data currently buffered.
    pub fn buffered_bytes(&self) -> u64 {
        self.counters.buffered_bytes.load(Ordering::Relaxed)
    }

    /// Whether `cid` is currently buffered (not yet flushed).
    pub fn is_buffered(&self, cid: &Cid) -> bool {
        self.shard(cid).lock().contains_key(cid)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> BufferStats {
        let c = &self.counters;
        BufferStats {
            buffered_bytes: c.buffered_bytes.load(Ordering::Relaxed),
            buffered_blocks: c.buffered_blocks.load(Ordering::Relaxed),
            peak_buffered_bytes: c.peak.load(Ordering::Relaxed),
            flushed_blocks: c.flushed_blocks.load(Ordering::Relaxed),
            flushed_bytes: c.flushed_bytes.load(Ordering::Relaxed),
            evicted_blocks: c.evicted.load(Ordering::Relaxed),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            backing_reads: c.backing_reads.load(Ordering::Relaxed),
            backing_read_bytes: c.backing_read_bytes.load(Ordering::Relaxed),
        }
    }

    /// Buffers a block (no-op if it is already buffered).
    pub fn put_block(&self, cid: Cid, data: &[u8]) {
        let mut shard = self.shard(&cid).lock();
        if shard.contains_key(&cid) {
            return;
        }
        shard.insert(cid, Arc::from(data));
        drop(shard);
        let c = &self.counters;
        let now = c
            .buffered_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed)
            + data.len() as u64;
        c.buffered_blocks.fetch_add(1, Ordering::Relaxed);
        c.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Reads a block: buffer, then read cache, then backing store.
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Arc<[u8]>>> {
        if let Some(d) = self.buffered(cid) {
            return Ok(Some(d));
        }
        if let Some(d) = self.cache.lock().lru.get(cid).cloned() {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(d));
        }
        let data = self.backing.get(cid).map_err(Error::from_blockstore)?;
        let Some(data) = data else { return Ok(None) };
        self.counters.backing_reads.fetch_add(1, Ordering::Relaxed);
        self.counters
            .backing_read_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let data: Arc<[u8]> = Arc::from(data);
        if self.opts.read_cache_bytes > 0 {
            let mut cache = self.cache.lock();
            if cache.lru.put(*cid, data.clone()).is_none() {
                cache.bytes += data.len() as u64;
            }
            while cache.bytes > self.opts.read_cache_bytes {
                match cache.lru.pop_lru() {
                    Some((_, d)) => cache.bytes -= d.len() as u64,
                    None => break,
                }
            }
        }
        Ok(Some(data))
    }

    /// Writes every buffered block reachable from `root` to the backing store,
    /// children before parents, then evicts them. Links to blocks that are not
    /// buffered are checked against the backing store (unless disabled) and a
    /// missing one is an error naming it and its parent.
    pub fn flush(&self, root: &Cid) -> Result<()> {
        // Only buffered blocks enter `visited`: a flush of a changed path
        // meets many more boundary links (kept from an older tree) than
        // buffered blocks, and those are remembered in `known_present` once
        // checked.
        let mut visited = FxHashSet::default();
        children_first(
            root,
            self.opts.batch_bytes,
            |cid, parent| {
                if let Some(data) = self.buffered(&cid) {
                    return Ok(visited.insert(cid).then_some(data));
                }
                self.check_boundary(cid, parent)?;
                Ok(None)
            },
            |batch| self.write_batch(batch),
        )?;
        // A flushed root is in the backing store with all below it: a later
        // flush of a parent need not look it up there again.
        self.vouch(std::slice::from_ref(root));
        Ok(())
    }

    /// [`flush`](Self::flush), with the subtrees under `root`'s links written
    /// in parallel on the current rayon pool: for a large finished tree most
    /// of which is still buffered.
    pub fn flush_parallel(&self, root: &Cid) -> Result<()>
    where
        B: Sync,
    {
        self.flush_parallel_to(root, 1)
    }

    /// [`flush_parallel`](Self::flush_parallel) descending `depth` levels in
    /// parallel (each child is flushed before its parent, so the order a
    /// crash relies on holds), for a tree with one huge child: nv22's market
    /// head links its deal states AMT, 350 MB at 10M deals, which one level
    /// flushed on one core for 4 s. Deeper is not free: on a small final's
    /// actors tree, three levels cost 6.7 % more instructions than one
    /// (callgrind, README Performance).
    pub fn flush_parallel_to(&self, root: &Cid, depth: u32) -> Result<()>
    where
        B: Sync,
    {
        if depth > 0 {
            if let Some(data) = self.buffered(root) {
                let children = walkable_links_of(root, &data)?;
                children
                    .par_iter()
                    .try_for_each(|c| self.flush_parallel_to(c, depth - 1))?;
            }
        }
        self.flush(root)
    }

    /// A link leaving the buffer must name a block the backing store holds
    /// (unless vouched for, or the check is off): else an error naming it.
    fn check_boundary(&self, cid: Cid, parent: Option<Cid>) -> Result<()> {
        let key = vouch_key(&cid);
        if !self.opts.check_boundary || self.vouched_shard(key).lock().contains(&key) {
            return Ok(());
        }
        if self.backing.has(&cid).map_err(Error::from_blockstore)? {
            self.vouch(std::slice::from_ref(&cid));
            return Ok(());
        }
        Err(Error::MissingBlock { cid, parent })
    }

    /// Hands `batch` to the backing store, then evicts its blocks.
    fn write_batch(&self, batch: &[(Cid, Arc<[u8]>)]) -> Result<()> {
        self.backing
            .put_many_keyed(batch.iter().map(|(c, d)| (*c, d.as_ref())))
            .map_err(Error::from_blockstore)?;
        let bytes: usize = batch.iter().map(|(_, d)| d.len()).sum();
        let c = &self.counters;
        c.flushed_blocks
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        c.flushed_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        for (cid, _) in batch {
            self.evict(cid);
        }
        Ok(())
    }

    /// Flushes every buffered block.
    pub fn flush_all(&self) -> Result<()> {
        let keys: Vec<Cid> = self
            .shards
            .iter()
            .flat_map(|s| s.lock().keys().copied().collect::<Vec<_>>())
            .collect();
        for k in keys {
            if self.is_buffered(&k) {
                self.flush(&k)?;
            }
        }
        Ok(())
    }

    /// Drops every buffered block without writing it (abandoned work).
    pub fn discard_all(&self) {
        for s in &self.known_present {
            s.lock().clear();
        }
        for s in &self.shards {
            let mut s = s.lock();
            let bytes: u64 = s.values().map(|d| d.len() as u64).sum();
            self.counters
                .buffered_blocks
                .fetch_sub(s.len() as u64, Ordering::Relaxed);
            self.counters
                .buffered_bytes
                .fetch_sub(bytes, Ordering::Relaxed);
            s.clear();
        }
    }

    fn evict(&self, cid: &Cid) {
        if let Some(d) = self.shard(cid).lock().remove(cid) {
            let c = &self.counters;
            c.buffered_bytes
                .fetch_sub(d.len() as u64, Ordering::Relaxed);
            c.buffered_blocks.fetch_sub(1, Ordering::Relaxed);
            c.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<B: Blockstore> Blockstore for BufferedBlockstore<B> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.get_block(k)?.map(|d| d.to_vec()))
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.put_block(*k, block);
        Ok(())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        if self.is_buffered(k) || self.cache.lock().lru.contains(k) {
            return Ok(true);
        }
        self.backing.has(k)
    }
}
