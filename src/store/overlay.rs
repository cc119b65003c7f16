//! `Overlay`: writes go to an upper store; reads try the upper store, then a
//! read-only lower one. This is how an offline migration sees the input
//! snapshot CAR and its own output as one state.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

/// Upper (read-write) over lower (read-only) blockstore.
#[derive(Debug)]
pub struct Overlay<U, L> {
    /// Receives every write.
    pub upper: U,
    /// Consulted for reads the upper store cannot answer.
    pub lower: L,
}

impl<U: Blockstore, L: Blockstore> Blockstore for Overlay<U, L> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        match self.upper.get(k)? {
            Some(d) => Ok(Some(d)),
            None => self.lower.get(k),
        }
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.upper.put_keyed(k, block)
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.upper.has(k)? || self.lower.has(k)?)
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        self.upper.put_many_keyed(blocks)
    }
}

/// An [`Overlay`] whose reads try the lower store first. For a snapshot CAR
/// under a disk store: during a migration most reads are of the snapshot, a
/// miss in the CAR is an in-memory index lookup, and a miss in the disk store
/// searches its memtable and table filters. Content addressing makes the
/// order invisible to callers.
#[derive(Debug)]
pub struct LowerFirst<U, L>(pub Overlay<U, L>);

impl<U: Blockstore, L: Blockstore> Blockstore for LowerFirst<U, L> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        match self.0.lower.get(k)? {
            Some(d) => Ok(Some(d)),
            None => self.0.upper.get(k),
        }
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.0.upper.put_keyed(k, block)
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.0.lower.has(k)? || self.0.upper.has(k)?)
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        self.0.upper.put_many_keyed(blocks)
    }
}
