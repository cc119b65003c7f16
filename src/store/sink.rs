//! `Sink`: a blockstore that counts and discards what is written. Benchmarks
//! use it to measure an algorithm's own time and memory without a store's.

use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

/// Counts writes, keeps nothing; every read misses.
#[derive(Debug, Default)]
pub struct Sink {
    /// Blocks written.
    pub blocks: AtomicU64,
    /// Bytes written.
    pub bytes: AtomicU64,
}

impl Sink {
    /// (blocks, bytes) written so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.blocks.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Blockstore for Sink {
    fn get(&self, _k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn put_keyed(&self, _k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(block.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
