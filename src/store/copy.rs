//! Copying a DAG into the disk store, children before parents, skipping
//! subtrees the store already holds. Because batches are journaled in order
//! and a parent is always written after its children, a crash never leaves a
//! block whose subtree is incomplete — which is what lets "present" mean
//! "present with everything below it" when the copy resumes.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use rustc_hash::FxHashSet;

use super::disk::DiskStore;
use crate::error::{Error, Result};
use crate::ipld::postorder::children_first;

/// Bytes per batch handed to the disk store.
const BATCH_BYTES: usize = 8 << 20;

/// Copies the DAG under `root` from `from` into `to`; returns blocks written.
pub fn copy_dag(from: &impl Blockstore, to: &DiskStore, root: &Cid) -> Result<u64> {
    let mut seen = FxHashSet::default();
    let mut written = 0u64;
    children_first(
        root,
        BATCH_BYTES,
        |cid, parent| {
            if !seen.insert(cid) || to.has_block(&cid)? {
                return Ok(None);
            }
            let data = from.get(&cid).map_err(Error::from_blockstore)?;
            Ok(Some(data.ok_or(Error::MissingBlock { cid, parent })?))
        },
        |batch: &[(Cid, Vec<u8>)]| {
            to.put_batch(batch.iter().map(|(c, d)| (c, &d[..])))?;
            written += batch.len() as u64;
            Ok(())
        },
    )?;
    Ok(written)
}
