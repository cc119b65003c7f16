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
use crate::ipld::postorder::{children_first, children_first_by};

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

/// Copies the nodes of the HAMT under `root` (bit width 5) from `from` into
/// `to`, children before parents, without the values' links (the actors
/// tree's nodes, not the actors' states); returns nodes written. A node the
/// store already holds is taken as complete below, as [`copy_dag`] does.
pub fn copy_hamt_nodes(from: &impl Blockstore, to: &DiskStore, root: &Cid) -> Result<u64> {
    use crate::ipld::hamt::{HamtNode, Pointer, DEFAULT_BIT_WIDTH};
    let node_links = |cid: &Cid, data: &[u8]| -> Result<Vec<Cid>> {
        let node = HamtNode::decode(data.to_vec(), DEFAULT_BIT_WIDTH, cid)?;
        Ok(node
            .pointers
            .iter()
            .filter_map(|(_, p)| match p {
                Pointer::Link(c) => Some(*c),
                Pointer::Bucket(_) => None,
            })
            .collect())
    };
    let mut written = 0u64;
    children_first_by(
        root,
        BATCH_BYTES,
        node_links,
        |cid, parent| {
            if to.has_block(&cid)? {
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
