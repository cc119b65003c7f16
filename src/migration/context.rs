//! What every migrator sees: the buffered store, the cache, counters, the
//! upgrade spec and cancellation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::cache::MigrationCache;
use super::spec::UpgradeSpec;
use crate::error::{Error, Result};
use crate::store::{BufferedBlockstore, DynStore};

/// The store every migrator works on: the run's write buffer over the
/// caller's store, whatever its type.
pub type RunStore<'a> = BufferedBlockstore<DynStore<'a>>;

/// A cancellation flag shared with the caller (a node cancels a premigration
/// that runs too close to the upgrade).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, uncancelled token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// The flag itself, for whoever sets it from outside the library (a
    /// signal handler: `signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Running totals, shared by all workers.
#[derive(Debug, Default)]
pub struct Counters {
    /// Actors migrated.
    pub actors: AtomicU64,
    /// Actors per migrator, in the run's migrator order. Code-only actors
    /// (millions) are not counted here one by one: the report derives
    /// their number as the rest of `actors`.
    pub by_migrator: Vec<AtomicU64>,
    /// Sector infos transformed while building a sectors AMT from scratch.
    pub sectors_from_scratch: AtomicU64,
    /// Sector infos transformed (or deleted) while patching from a diff.
    pub sectors_via_diff: AtomicU64,
    /// Sector infos whose migrated AMT came from the cache.
    pub sectors_from_cache: AtomicU64,
    /// Sectors AMTs (miner or snapshot) by path: scratch, diff, cache.
    pub amts_by_path: [AtomicU64; 3],
    /// When the first actor finished (time to first output, for snapshots
    /// read in place).
    pub first_actor_at: std::sync::OnceLock<std::time::Instant>,
}

impl Counters {
    /// Counters for a run of `migrators` migrators.
    pub fn new(migrators: usize) -> Self {
        Counters {
            by_migrator: (0..migrators).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }

    /// Adds to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The context a migrator runs in.
pub struct MigrationCtx<'a> {
    /// The store: reads the input state, buffers the output.
    pub store: &'a RunStore<'a>,
    /// Results of earlier (pre)migrations.
    pub cache: &'a dyn MigrationCache,
    /// The upgrade.
    pub spec: &'a UpgradeSpec,
    /// Totals.
    pub counters: &'a Counters,
    /// Cancellation.
    pub cancel: &'a CancelToken,
    /// Keeps input sectors trees durable for later diffs, if set.
    pub retain_inputs: Option<&'a super::retain::RetainInputs>,
    /// The input state's actors HAMT root: a deferred migrator that patches
    /// an earlier run's result looks up here the actors that run had and
    /// this state may not (a premigration can run on any other state).
    pub input_actors: Cid,
}

impl MigrationCtx<'_> {
    /// Reads a block that must exist.
    pub fn get(&self, cid: &Cid, parent: Option<Cid>) -> Result<std::sync::Arc<[u8]>> {
        self.store
            .get_block(cid)?
            .ok_or(Error::MissingBlock { cid: *cid, parent })
    }

    /// Stores a block and returns its CID.
    pub fn put(&self, data: &[u8]) -> Cid {
        let cid = crate::ipld::cids::cbor_cid(data);
        self.store.put_block(cid, data);
        cid
    }

    /// An actor's new head memoised under `key` (the reference's
    /// `<addr>-head-<head>`, see [`super::cache::actor_head_key`]): a hit
    /// whose root the store holds is returned without calling `compute`;
    /// otherwise `compute`'s head is recorded under the key. `None`: no
    /// entry (an actor that costs less to migrate again than to look up).
    pub fn memoised_head(
        &self,
        key: Option<&str>,
        compute: impl FnOnce() -> Result<Cid>,
    ) -> Result<Cid> {
        if let Some(key) = key {
            if let Some(out) = self.cache.get(key)? {
                if self.store.has(&out).map_err(Error::from_blockstore)? {
                    return Ok(out);
                }
            }
        }
        let head = compute()?;
        if let Some(key) = key {
            self.cache.put(key, head)?;
        }
        Ok(head)
    }

    /// Flushes `root` out of the buffer if the buffer is over budget.
    pub fn flush_if_over_budget(&self, root: &Cid) -> Result<()> {
        if self.store.over_budget() {
            self.store.flush(root)?;
        }
        Ok(())
    }
}

/// One actor to migrate.
#[derive(Debug, Clone)]
pub struct ActorInput {
    /// The actor's address as text (`f01234`).
    pub address: String,
    /// Its actor ID (every key of the actors tree is an ID address).
    pub id: Option<u64>,
    /// Its manifest name in the old manifest.
    pub name: String,
    /// Old code.
    pub code: Cid,
    /// Old head.
    pub head: Cid,
}

/// Wraps an error with the actor it happened in.
pub fn in_actor(actor: &ActorInput, e: Error) -> Error {
    match e {
        // Not the actor's doing: the storage's error, typed, is what the
        // operator acts on (a full disk, a damaged store).
        e @ (Error::Cancelled | Error::Io { .. } | Error::Store { .. }) => e,
        e => Error::InActor {
            address: actor.address.clone(),
            name: actor.name.clone(),
            head: actor.head,
            source: Box::new(e),
        },
    }
}
