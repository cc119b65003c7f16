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

/// What a copy does with a link to a block the source does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Fail, naming the block and its parent: the source must hold the whole DAG.
    Error,
    /// Skip it: the source holds only part of the DAG (a store holds the
    /// blocks a migration wrote, while the unchanged rest lives in the
    /// snapshot), and only that part is copied.
    Skip,
}

/// Copies the DAG under `root` from `from` into `to`; returns blocks written.
pub fn copy_dag(from: &impl Blockstore, to: &DiskStore, root: &Cid) -> Result<u64> {
    copy_dag_with(from, to, root, Missing::Error).map(|c| c.blocks)
}

/// What a copy wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Blocks written.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// [`copy_dag`] with a policy for blocks the source does not hold.
pub fn copy_dag_with(
    from: &impl Blockstore,
    to: &DiskStore,
    root: &Cid,
    missing: Missing,
) -> Result<Copied> {
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
    let mut written = Copied::default();
    let enter = |cid: Cid,
                 parent: Option<Cid>,
                 seen: &mut std::collections::HashSet<Cid>|
     -> Result<Option<Frame>> {
        if !is_walkable(&cid) || !seen.insert(cid) || to.has_block(&cid)? {
            return Ok(None);
        }
        let data = match from.get(&cid).map_err(Error::from_blockstore)? {
            Some(d) => d,
            None if missing == Missing::Skip => return Ok(None),
            None => return Err(Error::MissingBlock { cid, parent }),
        };
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
        written.bytes += done.data.len() as u64;
        batch.push((done.cid, done.data));
        if batch_bytes >= 8 << 20 {
            to.put_batch(batch.iter().map(|(c, d)| (c, &d[..])))?;
            written.blocks += batch.len() as u64;
            batch.clear();
            batch_bytes = 0;
        }
    }
    to.put_batch(batch.iter().map(|(c, d)| (c, &d[..])))?;
    written.blocks += batch.len() as u64;
    Ok(written)
}
