//! Streaming HAMT iteration in hash order. Nodes are loaded along the current
//! path only and dropped when left: nothing is cached, so walking the actors
//! tree of a mainnet state costs a path's worth of memory.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::key_hash;
use super::node::{HamtNode, Pointer};
use crate::error::{Error, Result};

/// Calls `f(key, value bytes)` for every entry of the HAMT `root`, in
/// ascending key-hash order (the order [`super::HamtBuilder`] takes).
pub fn for_each_entry<S: Blockstore>(
    store: &S,
    root: &Cid,
    bit_width: u32,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    walk(store, root, None, bit_width, 0, &mut f)
}

fn walk<S: Blockstore>(
    store: &S,
    cid: &Cid,
    parent: Option<Cid>,
    bit_width: u32,
    depth: u32,
    f: &mut impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    if depth * bit_width > 256 {
        return Err(Error::Malformed {
            what: "HAMT node",
            cid: *cid,
            reason: "deeper than the key hash allows".into(),
        });
    }
    let data = store
        .get(cid)
        .map_err(Error::from_blockstore)?
        .ok_or(Error::MissingBlock { cid: *cid, parent })?;
    let node = HamtNode::decode(data, bit_width, cid)?;
    for (_, p) in &node.pointers {
        match p {
            Pointer::Link(child) => walk(store, child, Some(*cid), bit_width, depth + 1, f)?,
            Pointer::Bucket(kvs) => {
                // Buckets are sorted by key bytes; callers get hash order.
                let mut kvs: Vec<_> = kvs
                    .iter()
                    .map(|(k, v)| (key_hash(node.bytes(k)), k, v))
                    .collect();
                kvs.sort_unstable_by_key(|e| e.0);
                for (_, k, v) in kvs {
                    f(node.bytes(k), node.bytes(v))?;
                }
            }
        }
    }
    Ok(())
}
