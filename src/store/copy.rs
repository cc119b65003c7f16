//! Copying a DAG into the disk store, children before parents, skipping
//! subtrees the store already holds. Because batches are journaled in order
//! and a parent is always written after its children, a crash never leaves a
//! block whose subtree is incomplete — which is what lets "present" mean
//! "present with everything below it" when the copy resumes.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::disk::DiskStore;
use crate::error::{Error, Result};
use crate::ipld::cids::is_walkable;
use crate::ipld::links::walkable_links_of;

/// Copies the DAG under `root` from `from` into `to`; returns blocks written.
pub fn copy_dag(from: &impl Blockstore, to: &DiskStore, root: &Cid) -> Result<u64> {
    struct Frame {
        cid: Cid,
        data: Vec<u8>,
        children: Vec<Cid>,
        next: usize,
    }
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut batch: Vec<(Cid, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut written = 0u64;
    let enter = |cid: Cid,
                 parent: Option<Cid>,
                 seen: &mut std::collections::HashSet<Cid>|
     -> Result<Option<Frame>> {
        if !is_walkable(&cid) || !seen.insert(cid) || to.has_block(&cid)? {
            return Ok(None);
        }
        let data = from
            .get(&cid)
            .map_err(Error::from_blockstore)?
            .ok_or(Error::MissingBlock { cid, parent })?;
        let children = walkable_links_of(&cid, &data)?;
        Ok(Some(Frame {
            cid,
            data,
            children,
            next: 0,
        }))
    };
    if let Some(f) = enter(*root, None, &mut seen)? {
        stack.push(f);
    }
    while let Some(top) = stack.last_mut() {
        if top.next < top.children.len() {
            let child = top.children[top.next];
            top.next += 1;
            let parent = top.cid;
            if let Some(f) = enter(child, Some(parent), &mut seen)? {
                stack.push(f);
            }
            continue;
        }
        let done = stack.pop().expect("non-empty");
        batch_bytes += done.data.len();
        batch.push((done.cid, done.data));
        if batch_bytes >= 8 << 20 {
            to.put_batch(batch.iter().map(|(c, d)| (c, &d[..])))?;
            written += batch.len() as u64;
            batch.clear();
            batch_bytes = 0;
        }
    }
    to.put_batch(batch.iter().map(|(c, d)| (c, &d[..])))?;
    written += batch.len() as u64;
    Ok(written)
}
