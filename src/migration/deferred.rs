//! Deferred actors (docs/design.md §7): mapped into the actors tree with their
//! old head during the pass, migrated serially once every other actor is
//! done, and put into the tree in place of the placeholder. Their keys are
//! recorded with the actors tree's diff base: a remap against that base
//! does not visit an actor that did not change, and a deferred one must run
//! all the same (its inputs are the other actors).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use parking_lot::Mutex;

use super::cache::{MigrationCache, PREV_DEFERRED_ACTORS};
use super::context::ActorInput;
use crate::actors::state_tree::{get_cbor, put_cbor};
use crate::error::{Error, Result};

/// An actor whose migration waits for every other one.
#[derive(Debug, Clone)]
pub struct DeferredActor {
    /// Its key in the actors tree.
    pub key: Vec<u8>,
    /// Index of its migrator.
    pub migrator: usize,
    /// Its new code.
    pub new_code: Cid,
    /// What its migrator is given.
    pub input: ActorInput,
    /// Its input entry.
    pub value: Vec<u8>,
}

/// The deferred actors met so far, from every worker.
#[derive(Debug, Default)]
pub struct Deferred(Mutex<Vec<DeferredActor>>);

impl Deferred {
    /// Holds an actor back.
    pub fn hold(&self, actor: DeferredActor) {
        self.0.lock().push(actor);
    }

    /// Takes them all, in key order.
    pub fn take(&self) -> Vec<DeferredActor> {
        let mut list = std::mem::take(&mut *self.0.lock());
        list.sort_by(|a, b| a.key.cmp(&b.key));
        list
    }
}

/// The deferred actors' keys of the run that recorded the actors tree's
/// diff base (`None`: that run recorded none, so its base cannot be
/// remapped against when deferred actors exist).
pub fn previous_keys<S: Blockstore>(
    store: &S,
    cache: &dyn MigrationCache,
) -> Result<Option<Vec<Vec<u8>>>> {
    let Some(cid) = cache.get(PREV_DEFERRED_ACTORS)? else {
        return Ok(None);
    };
    if !store.has(&cid).map_err(Error::from_blockstore)? {
        return Ok(None);
    }
    let keys: Vec<fvm_ipld_encoding::BytesDe> = get_cbor(store, &cid, "deferred actors")?;
    Ok(Some(keys.into_iter().map(|k| k.0).collect()))
}

/// Stores the keys of `actors`; the block goes beside the tree's diff base.
pub fn store_keys<S: Blockstore>(store: &S, actors: &[DeferredActor]) -> Result<Cid> {
    let keys: Vec<fvm_ipld_encoding::BytesSer<'_>> = actors
        .iter()
        .map(|a| fvm_ipld_encoding::BytesSer(&a.key))
        .collect();
    put_cbor(store, &keys)
}
