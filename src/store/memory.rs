//! `MemStore`: a thread-safe in-memory blockstore (`fvm_ipld_blockstore`'s
//! `MemoryBlockstore` is not `Sync`, and the runner shares its store across
//! workers). For tests, benchmarks and small embedded uses.

use std::hash::BuildHasher;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use parking_lot::RwLock;
use rustc_hash::{FxBuildHasher, FxHashMap};

/// Independently locked maps: one lock made every parallel flush into the
/// store (nv22's 350 MB of deal states at 10M deals) wait in turn, and
/// each of its map's doublings stopped every writer.
const SHARDS: usize = 16;

/// One shard: its blocks by CID.
type Shard = RwLock<FxHashMap<Cid, Vec<u8>>>;

/// Blocks in hash maps behind locks, sharded by CID.
#[derive(Debug)]
pub struct MemStore {
    shards: Box<[Shard]>,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, k: &Cid) -> &Shard {
        // The digest's high bits pick the shard; the map hashes the CID.
        let h = FxBuildHasher.hash_one(k.hash().digest()) >> 32;
        &self.shards[h as usize % SHARDS]
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.read().is_empty())
    }

    /// A copy of every block (for tests that build one store from another).
    pub fn entries(&self) -> Vec<(Cid, Vec<u8>)> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Total bytes of block data.
    pub fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.read().values().map(|v| v.len() as u64).sum::<u64>())
            .sum()
    }
}

impl Blockstore for MemStore {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.shard(k).read().get(k).cloned())
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        let shard = self.shard(k);
        if shard.read().contains_key(k) {
            return Ok(());
        }
        // Copied outside the lock: the copy's fresh pages are most of a
        // put's cost.
        let owned = block.to_vec();
        shard.write().entry(*k).or_insert(owned);
        Ok(())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.shard(k).read().contains_key(k))
    }
}
