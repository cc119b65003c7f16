//! Parallel structure-preserving map over a HAMT's values.
//!
//! A transform that changes values but keeps every key keeps a canonical
//! HAMT's shape (the shape depends only on the key set), so each node's
//! output is its own bitmap with its buckets' values transformed and its
//! links replaced by their children's outputs. Subtrees are independent:
//! the top levels are mapped in parallel on the current rayon pool, and each
//! finished node is handed to `hook` with its depth so the caller can write
//! a finished subtree out from the worker that built it. No entry is sorted,
//! hashed into a builder or looked up: the cost is one read and one write
//! per node plus the transform of each value.

use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::Pointer;
use super::shape::{each, load_canonical, store_node, HamtMapped, OutPointer};
use crate::error::Result;

/// Depths whose nodes' pointers are mapped in parallel (the root's 32
/// subtrees, then each of theirs: about a thousand tasks at bit width 5).
pub const PARALLEL_DEPTH: usize = 2;

/// Maps every value of the HAMT `root` through `f(key, value) -> new value`.
/// `hook(cid, depth)` is called with every finished non-root node. Returns
/// `None` if the input is not canonical (see [`super::shape`]); the caller
/// then rebuilds from the entries.
pub fn map_entries<S, F, H>(
    store: &S,
    root: &Cid,
    bit_width: u32,
    f: &F,
    hook: &H,
) -> Result<Option<HamtMapped>>
where
    S: Blockstore + Sync,
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    H: Fn(&Cid, usize) -> Result<()> + Sync,
{
    let m = Mapper {
        store,
        bit_width,
        f,
        hook,
        entries: AtomicU64::new(0),
        nodes: AtomicU64::new(0),
    };
    let Some(pointers) = m.map_node(root, None, &[])? else {
        return Ok(None);
    };
    Ok(Some(HamtMapped {
        root: store_node(store, &pointers)?,
        entries_mapped: m.entries.into_inner(),
        entries_reused: 0,
        subtrees_reused: 0,
        nodes_read: m.nodes.into_inner(),
    }))
}

/// The full map's state, shared by [`super::remap`] for the subtrees it
/// meets that have no counterpart in the previous tree.
pub(super) struct Mapper<'a, S, F, H> {
    pub store: &'a S,
    pub bit_width: u32,
    pub f: &'a F,
    pub hook: &'a H,
    pub entries: AtomicU64,
    pub nodes: AtomicU64,
}

impl<S, F, H> Mapper<'_, S, F, H>
where
    S: Blockstore + Sync,
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    H: Fn(&Cid, usize) -> Result<()> + Sync,
{
    /// The output pointers of node `cid` at `path`, or `None` if not canonical.
    pub fn map_node(
        &self,
        cid: &Cid,
        parent: Option<Cid>,
        path: &[usize],
    ) -> Result<Option<Vec<(usize, OutPointer)>>> {
        let Some(node) = load_canonical(self.store, cid, parent, path, self.bit_width)? else {
            return Ok(None);
        };
        self.nodes.fetch_add(1, Ordering::Relaxed);
        let items: Vec<(usize, &Pointer)> = node.pointers.iter().map(|(s, p)| (*s, p)).collect();
        each(items, path.len() < PARALLEL_DEPTH, |(slot, p)| {
            let out = match p {
                Pointer::Link(child) => {
                    let mut child_path = path.to_vec();
                    child_path.push(slot);
                    match self.map_child(child, cid, &child_path)? {
                        Some(c) => OutPointer::Link(c),
                        None => return Ok(None),
                    }
                }
                Pointer::Bucket(kvs) => {
                    let mut out = Vec::with_capacity(kvs.len());
                    for (k, v) in kvs {
                        let key = node.bytes(k);
                        out.push((key.to_vec(), (self.f)(key, node.bytes(v))?));
                    }
                    self.entries.fetch_add(kvs.len() as u64, Ordering::Relaxed);
                    OutPointer::Bucket(out)
                }
            };
            Ok(Some((slot, out)))
        })
    }

    /// Maps the child node `cid` (at `path`, below `parent`), stores it and
    /// hands it to the hook; its CID, or `None` if not canonical.
    pub fn map_child(&self, cid: &Cid, parent: &Cid, path: &[usize]) -> Result<Option<Cid>> {
        let Some(pointers) = self.map_node(cid, Some(*parent), path)? else {
            return Ok(None);
        };
        let out = store_node(self.store, &pointers)?;
        (self.hook)(&out, path.len())?;
        Ok(Some(out))
    }
}
