//! `MemStore`: a thread-safe in-memory blockstore (`fvm_ipld_blockstore`'s
//! `MemoryBlockstore` is not `Sync`, and the runner shares its store across
//! workers). For tests, benchmarks and small embedded uses.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use parking_lot::RwLock;
use rustc_hash::FxHashMap;

/// Blocks in a hash map behind a lock.
#[derive(Debug, Default)]
pub struct MemStore {
    blocks: RwLock<FxHashMap<Cid, Vec<u8>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.read().len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.read().is_empty()
    }

    /// A copy of every block (for tests that build one store from another).
    pub fn entries(&self) -> Vec<(Cid, Vec<u8>)> {
        self.blocks
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Total bytes of block data.
    pub fn bytes(&self) -> u64 {
        self.blocks.read().values().map(|v| v.len() as u64).sum()
    }
}

impl Blockstore for MemStore {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.blocks.read().get(k).cloned())
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.blocks
            .write()
            .entry(*k)
            .or_insert_with(|| block.to_vec());
        Ok(())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.blocks.read().contains_key(k))
    }
}
