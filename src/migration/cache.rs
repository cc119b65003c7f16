//! The migration cache: results keyed as the reference implementation keys
//! them, so a premigration's work is found again by the final migration.
//!
//! - `sectorsAmt-<in_root>` → migrated sectors root (content-addressed, shared);
//! - `prevSectorsIn-<miner>` / `prevSectorsOut-<miner>` → the last sectors
//!   roots migrated for a miner (the base of the next diff);
//! - `<addr>-head-<head>` → a whole actor's new head;
//! - `actorsTree-<in_root>` → migrated actors HAMT (the whole tree at once);
//! - `prevActorsIn` / `prevActorsOut` → the last actors HAMT roots migrated
//!   (the base of the next run's remap of the state tree).
//!
//! Every value is a root CID that must be readable whenever the entry is
//! (see [`MigrationCache::put`]).

use std::collections::HashMap;

use cid::Cid;
use parking_lot::RwLock;

use crate::error::Result;

/// Key of a migrated sectors AMT.
pub fn sectors_amt_key(in_root: &Cid) -> String {
    format!("sectorsAmt-{in_root}")
}

/// Key of a miner's last migrated input sectors root.
pub fn prev_sectors_in_key(miner: &str) -> String {
    format!("prevSectorsIn-{miner}")
}

/// Key of a miner's last migrated output sectors root.
pub fn prev_sectors_out_key(miner: &str) -> String {
    format!("prevSectorsOut-{miner}")
}

/// Key of a whole actor's migrated head.
pub fn actor_head_key(addr: &str, head: &Cid) -> String {
    format!("{addr}-head-{head}")
}

/// Key of a migrated actors HAMT.
pub fn actors_tree_key(in_root: &Cid) -> String {
    format!("actorsTree-{in_root}")
}

/// Key of the last migrated input actors HAMT root.
pub const PREV_ACTORS_IN: &str = "prevActorsIn";
/// Key of the last migrated output actors HAMT root.
pub const PREV_ACTORS_OUT: &str = "prevActorsOut";
/// Key of the block listing the deferred actors of the run that recorded
/// `prevActorsIn`/`prevActorsOut` (a remap does not visit them if they did
/// not change, and they must run anyway).
pub const PREV_DEFERRED_ACTORS: &str = "prevDeferredActors";

/// Whether a key names a diff base (a previous input/output pair, or what
/// goes with one) rather than a content-addressed result: by the naming
/// rule every diff-base key follows, any upgrade's own included (nv22's
/// `prevDealStatesIn-…`, `prevMarketBase`), it starts with `prev`.
pub fn is_diff_base(key: &str) -> bool {
    key.starts_with("prev")
}

/// Whether a key's value is an input root (which may live outside the
/// store the migration writes to, e.g. in the snapshot): by the naming
/// rule, a diff-base key whose kind (before any `-`) ends in `In`
/// (`prevActorsIn`, `prevSectorsIn-f01234`).
pub fn names_input(key: &str) -> bool {
    is_diff_base(key)
        && key
            .split('-')
            .next()
            .is_some_and(|kind| kind.ends_with("In"))
}

/// A store of migration results.
pub trait MigrationCache: Send + Sync {
    /// Reads an entry.
    fn get(&self, key: &str) -> Result<Option<Cid>>;
    /// Writes an entry. Callers only put roots every block of which is
    /// readable from the store the migration writes to.
    fn put(&self, key: &str, value: Cid) -> Result<()>;
    /// Writes entries that only make sense together (a diff base's input
    /// and output): a checkpoint, which may run on another thread at any
    /// moment, sees all of them or none. The default suits caches that do
    /// not checkpoint.
    fn put_many(&self, entries: &[(&str, Cid)]) -> Result<()> {
        entries.iter().try_for_each(|(k, v)| self.put(k, *v))
    }

    /// Makes the entries put so far durable, if this cache persists:
    /// `flush` writes a root's blocks out of the migration's write buffer.
    /// The runner calls it periodically and at the end of a run.
    fn checkpoint(&self, _flush: &dyn Fn(&Cid) -> Result<()>) -> Result<()> {
        Ok(())
    }
}

/// A cache in memory (what the reference node has; lost on exit).
#[derive(Debug, Default)]
pub struct MemoryCache {
    map: RwLock<HashMap<String, Cid>>,
}

impl MemoryCache {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// All entries.
    pub fn entries(&self) -> Vec<(String, Cid)> {
        self.map
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

impl MigrationCache for MemoryCache {
    fn get(&self, key: &str) -> Result<Option<Cid>> {
        Ok(self.map.read().get(key).copied())
    }

    fn put(&self, key: &str, value: Cid) -> Result<()> {
        self.map.write().insert(key.to_string(), value);
        Ok(())
    }
}

/// A cache that never hits and forgets everything (uncached runs, `--verify`).
#[derive(Debug, Default)]
pub struct NoCache;

impl MigrationCache for NoCache {
    fn get(&self, _key: &str) -> Result<Option<Cid>> {
        Ok(None)
    }

    fn put(&self, _key: &str, _value: Cid) -> Result<()> {
        Ok(())
    }
}

/// A within-run memo of content-addressed results only: `sectorsAmt-` hits
/// are reused (each distinct AMT is built once), but no previous in/out
/// roots are kept, so nothing is ever diffed. This is the "from scratch"
/// path `--verify` and the benchmarks compare against.
#[derive(Debug, Default)]
pub struct ScratchCache {
    inner: MemoryCache,
}

impl MigrationCache for ScratchCache {
    fn get(&self, key: &str) -> Result<Option<Cid>> {
        if key.starts_with("sectorsAmt-") {
            self.inner.get(key)
        } else {
            Ok(None)
        }
    }

    fn put(&self, key: &str, value: Cid) -> Result<()> {
        if key.starts_with("sectorsAmt-") {
            self.inner.put(key, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of key the engine and the upgrades write, classified by
    /// the naming rule as the store's checkpoint and gc need them.
    #[test]
    fn the_naming_rule_classifies_every_key_kind() {
        let c = crate::ipld::cids::cbor_cid(b"\x80");
        let kinds: [(String, bool, bool); 13] = [
            (sectors_amt_key(&c), false, false),
            (actor_head_key("f01234", &c), false, false),
            (actors_tree_key(&c), false, false),
            (prev_sectors_in_key("f01234"), true, true),
            (prev_sectors_out_key("f01234"), true, false),
            (PREV_ACTORS_IN.into(), true, true),
            (PREV_ACTORS_OUT.into(), true, false),
            (PREV_DEFERRED_ACTORS.into(), true, false),
            ("prevDealStatesIn-f05".into(), true, true),
            ("prevDealProposalsIn-f05".into(), true, true),
            ("prevDealStatesOut-f05".into(), true, false),
            ("prevProviderSectorsOut-f05".into(), true, false),
            ("prevMarketBase".into(), true, false),
        ];
        for (key, diff_base, input) in kinds {
            assert_eq!(is_diff_base(&key), diff_base, "{key}");
            assert_eq!(names_input(&key), input, "{key}");
        }
    }
}
