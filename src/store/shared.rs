//! A node's blockstore that is not `Sync` (`fvm_ipld_blockstore`'s
//! `MemoryBlockstore` keeps its map in a `RefCell`), made shareable by the
//! migration's worker threads behind a mutex. A store that is `Sync`
//! already is passed as it is: the lock serialises every read.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use parking_lot::Mutex;

/// `B` behind a mutex: a `Blockstore + Sync` for any `Blockstore + Send`.
#[derive(Debug, Default)]
pub struct Shared<B>(Mutex<B>);

impl<B> Shared<B> {
    /// Wraps `store`.
    pub fn new(store: B) -> Self {
        Shared(Mutex::new(store))
    }

    /// The store back.
    pub fn into_inner(self) -> B {
        self.0.into_inner()
    }
}

impl<B: Blockstore> Blockstore for Shared<B> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        self.0.lock().get(k)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.0.lock().put_keyed(k, block)
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        self.0.lock().has(k)
    }
}
