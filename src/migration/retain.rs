//! Keeping input trees for the next run: a premigration whose input is a
//! snapshot copies, through [`RetainInputs`], each tree the final migration
//! will diff against (a miner's sectors, nv22's deal states and proposals,
//! the actors HAMT's nodes), since the earlier snapshot is gone by then.

use std::sync::Arc;

use cid::Cid;

use crate::error::Result;

/// Which input tree a [`RetainInputs`] callback is asked to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTree {
    /// The actors HAMT: its nodes only, not the actors' states (the next
    /// run's remap compares nodes; the states it needs are its own input's).
    ActorsHamt,
    /// An AMT the next run diffs against, whole (a miner's sectors, nv22's
    /// deal states and proposals).
    Amt,
}

/// Copies an input tree (given its root) into durable storage. An offline
/// premigration keeps each miner's input sectors AMT and the actors HAMT's
/// nodes this way, so that the final migration can diff against them
/// although the earlier snapshot is gone.
#[derive(Clone)]
pub struct RetainInputs(pub Arc<RetainFn>);

/// The callback behind [`RetainInputs`].
pub type RetainFn = dyn Fn(&Cid, InputTree) -> Result<()> + Send + Sync;

impl std::fmt::Debug for RetainInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetainInputs(..)")
    }
}
