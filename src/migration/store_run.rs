//! A migration whose cache and output live in a store directory, as
//! `premigrate` and `migrate --store` run it: the cache persisted in the
//! store, the input trees the next run diffs against copied in, and the
//! store left ready for the run that follows.

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::retain::{InputTree, RetainInputs};
use super::{migrate_state, MigrationOptions, MigrationOutcome, StoreCache, Upgrade};
use crate::error::Result;
use crate::store::copy::{copy_dag, copy_hamt_nodes};
use crate::store::{DiskStore, LowerFirst, Overlay};

/// What a run on a store is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreRole {
    /// Ahead of the upgrade: keep every input tree the final run diffs
    /// against, then compact the store for it.
    Premigration,
    /// At the upgrade: reuse the premigration. With `keep_inputs`, also
    /// keep this run's inputs for later runs on newer states (they would
    /// double the store's size otherwise unneeded).
    Final {
        /// Keep the input trees and record this run's diff bases.
        keep_inputs: bool,
    },
}

impl StoreRole {
    fn keeps_inputs(self) -> bool {
        matches!(
            self,
            StoreRole::Premigration | StoreRole::Final { keep_inputs: true }
        )
    }
}

/// Keeps input trees by copying them from `input` into `disk`: whole AMTs,
/// the actors HAMT's nodes only.
pub fn retain_into<I>(input: Arc<I>, disk: &DiskStore) -> RetainInputs
where
    I: Blockstore + Send + Sync + 'static,
{
    let to = disk.clone();
    RetainInputs(Arc::new(move |root: &Cid, tree: InputTree| match tree {
        InputTree::Amt => copy_dag(&*input, &to, root).map(|_| ()),
        InputTree::ActorsHamt => copy_hamt_nodes(&*input, &to, root).map(|_| ()),
    }))
}

/// Migrates `root`, read from `input` (the snapshot, or a node's store) and
/// `disk`, writing the output and the cache to `disk`. Every block of the
/// returned root and every durable cache entry's DAG is on disk when it
/// returns.
pub fn migrate_on_store<I>(
    input: Arc<I>,
    disk: &DiskStore,
    root: &Cid,
    spec: &Upgrade,
    opts: &MigrationOptions,
    role: StoreRole,
) -> Result<MigrationOutcome>
where
    I: Blockstore + Send + Sync + 'static,
{
    let cache =
        StoreCache::open(disk, &spec.name, spec.network)?.keep_diff_bases(role.keeps_inputs());
    let mut opts = opts.clone();
    if role.keeps_inputs() {
        opts.retain_inputs = Some(retain_into(input.clone(), disk));
    }
    let backing = LowerFirst(Overlay {
        upper: disk.clone(),
        lower: &*input,
    });
    let mut outcome = migrate_state(&backing, root, spec, &cache, &opts)?;
    // Everything is durable already (the cache's checkpoint synced the
    // journal). A premigration's store is also compacted, for the final
    // migration that reads it at the upgrade epoch; one that more runs will
    // diff against (`keep_inputs`) is settled, so they open it without
    // replaying this run's journal. A final migration leaves that to
    // whatever opens the store next: settling writes the whole journal into
    // tables and waits for it, at the upgrade epoch, while a later open
    // replays it in a fraction of that.
    match role {
        StoreRole::Premigration => disk.compact()?,
        StoreRole::Final { keep_inputs: true } => disk.settle()?,
        StoreRole::Final { keep_inputs: false } => {}
    }
    outcome.report.notes.push(format!(
        "store cache: {} entries made durable, {} entries ignored because their blocks were missing (recomputed)",
        cache.committed(),
        cache.fallbacks()
    ));
    Ok(outcome)
}
