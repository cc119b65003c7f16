//! Any blockstore behind one type. The runner hands its migrators a
//! buffered store over a `DynStore` instead of being generic over the
//! caller's store: the upgrades then are plain values (function pointers in
//! a registry) rather than code instantiated once per store type, and the
//! extra indirect call per read of the backing store costs nothing next to
//! the read itself.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

/// The object-safe part of a `Blockstore + Sync`, with batched writes kept:
/// `put_many_keyed` is generic, so a `dyn Blockstore` would lose a store's
/// own batching (the disk store's one write batch per flush).
trait AnyBlockstore: Sync {
    fn get_any(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>>;
    fn put_keyed_any(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()>;
    fn has_any(&self, k: &Cid) -> anyhow::Result<bool>;
    fn put_batch(&self, blocks: &mut dyn Iterator<Item = (Cid, &[u8])>) -> anyhow::Result<()>;
}

impl<B: Blockstore + Sync> AnyBlockstore for B {
    fn get_any(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Blockstore::get(self, k)
    }

    fn put_keyed_any(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        Blockstore::put_keyed(self, k, block)
    }

    fn has_any(&self, k: &Cid) -> anyhow::Result<bool> {
        Blockstore::has(self, k)
    }

    fn put_batch(&self, blocks: &mut dyn Iterator<Item = (Cid, &[u8])>) -> anyhow::Result<()> {
        self.put_many_keyed(blocks)
    }
}

/// A borrowed `Blockstore + Sync` of any type, itself a `Blockstore`.
#[derive(Clone, Copy)]
pub struct DynStore<'a>(&'a (dyn AnyBlockstore + 'a));

impl<'a> DynStore<'a> {
    /// Borrows `store`.
    pub fn new<B: Blockstore + Sync>(store: &'a B) -> Self {
        DynStore(store)
    }
}

impl std::fmt::Debug for DynStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynStore")
    }
}

impl Blockstore for DynStore<'_> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        self.0.get_any(k)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.0.put_keyed_any(k, block)
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        self.0.has_any(k)
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        // Held here so that the store borrows each block's bytes.
        let owned: Vec<(Cid, D)> = blocks.into_iter().collect();
        self.0
            .put_batch(&mut owned.iter().map(|(c, d)| (*c, d.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvm_ipld_blockstore::MemoryBlockstore;
    use multihash_codetable::{Code, MultihashDigest};

    #[test]
    fn reads_and_batched_writes_reach_the_store() {
        let mem = crate::store::Shared::new(MemoryBlockstore::new());
        let any = DynStore::new(&mem);
        let blocks: Vec<(Cid, Vec<u8>)> = (0u8..3)
            .map(|i| (Cid::new_v1(0x71, Code::Blake2b256.digest(&[i])), vec![i]))
            .collect();
        any.put_many_keyed(blocks.iter().map(|(c, d)| (*c, d.as_slice())))
            .unwrap();
        for (c, d) in &blocks {
            assert!(any.has(c).unwrap());
            assert_eq!(any.get(c).unwrap().as_deref(), Some(d.as_slice()));
        }
    }
}
