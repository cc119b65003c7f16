//! What the structure-preserving HAMT algorithms ([`super::map`],
//! [`super::remap`]) share: the canonical-form check of an input node, and
//! the output node they write.
//!
//! A HAMT is canonical when it is what `fvm_ipld_hamt` builds for its key
//! set: every key sits on its hash path, buckets are sorted by key, and a
//! non-root node holds more than [`MAX_BUCKET`] keys (else it would have
//! collapsed into a bucket in its parent). A transform that keeps every key
//! keeps that shape, so the output of a canonical input can be written node
//! by node without ever rebuilding; a non-canonical input (never written by
//! a chain, but possible in a hand-made or damaged snapshot) makes the
//! algorithms return `None`, and the caller rebuilds from the entries.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::{encode_node, EncodedPointer, HamtNode, Pointer};
use super::{key_hash, slot_at, MAX_BUCKET};
use crate::error::{Error, Result};
use crate::ipld::cids::cbor_cid;

/// An output pointer: a child node, or a bucket of (key, new value) sorted by key.
#[derive(Debug, Clone)]
pub enum OutPointer {
    /// A child node.
    Link(Cid),
    /// Entries sorted by key.
    Bucket(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Whether `node`, reached by `path` (the slots from the root), is in
/// canonical form: every key on its hash path, and a non-root node not
/// small enough to have collapsed. A bucket out of key order (or holding a
/// key twice) is not a HAMT at all: an error naming the node and its parent.
pub fn is_canonical(
    node: &HamtNode,
    cid: &Cid,
    parent: Option<Cid>,
    path: &[usize],
    bit_width: u32,
) -> Result<bool> {
    let depth = path.len() as u32;
    let mut bucket_keys = 0usize;
    let mut has_link = false;
    for (slot, p) in &node.pointers {
        match p {
            Pointer::Link(_) => has_link = true,
            Pointer::Bucket(kvs) => {
                bucket_keys += kvs.len();
                let mut prev: Option<&[u8]> = None;
                for (k, _) in kvs {
                    let key = node.bytes(k);
                    if prev.is_some_and(|p| p >= key) {
                        return Err(Error::Malformed {
                            what: "HAMT node",
                            cid: *cid,
                            reason: format!(
                                "bucket at slot {slot} is not in strictly ascending key order{}",
                                parent
                                    .map(|p| format!(" (node linked from {p})"))
                                    .unwrap_or_default()
                            ),
                        });
                    }
                    prev = Some(key);
                    let h = key_hash(key);
                    let on_path = path
                        .iter()
                        .enumerate()
                        .all(|(d, s)| slot_at(&h, d as u32, bit_width) == Some(*s));
                    if !on_path || slot_at(&h, depth, bit_width) != Some(*slot) {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(path.is_empty() || has_link || bucket_keys > MAX_BUCKET)
}

/// Loads a node of the tree being mapped and checks that it is canonical
/// (`None` if not).
pub fn load_canonical<S: Blockstore>(
    store: &S,
    cid: &Cid,
    parent: Option<Cid>,
    path: &[usize],
    bit_width: u32,
) -> Result<Option<HamtNode>> {
    if path.len() as u32 * bit_width >= 256 {
        return Err(Error::Malformed {
            what: "HAMT node",
            cid: *cid,
            reason: "deeper than the key hash allows".into(),
        });
    }
    let node = HamtNode::load(store, cid, parent, bit_width)?;
    Ok(is_canonical(&node, cid, parent, path, bit_width)?.then_some(node))
}

/// Encodes and stores a node from its output pointers (slot order).
pub fn store_node<S: Blockstore>(store: &S, pointers: &[(usize, OutPointer)]) -> Result<Cid> {
    let enc: Vec<(usize, EncodedPointer<'_>)> = pointers
        .iter()
        .map(|(s, p)| {
            let e = match p {
                OutPointer::Link(c) => EncodedPointer::Link(*c),
                OutPointer::Bucket(kvs) => {
                    EncodedPointer::Bucket(kvs.iter().map(|(k, v)| (&k[..], &v[..])).collect())
                }
            };
            (*s, e)
        })
        .collect();
    let mut out = Vec::with_capacity(4096);
    encode_node(&mut out, &enc);
    let cid = cbor_cid(&out);
    store
        .put_keyed(&cid, &out)
        .map_err(Error::from_blockstore)?;
    Ok(cid)
}

/// What a structure-preserving map or remap produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HamtMapped {
    /// The new root.
    pub root: Cid,
    /// Entries passed through the transform.
    pub entries_mapped: u64,
    /// A remap's reused bucket entries: unchanged entries of a changed
    /// bucket, whose previous output was kept without the transform.
    pub entries_reused: u64,
    /// A remap's reused subtrees: links equal to the previous input's, whose
    /// previous output subtree was kept without being read.
    pub subtrees_reused: u64,
    /// Nodes of the input tree read.
    pub nodes_read: u64,
}

/// Runs `g` on every item, on the rayon pool when `parallel`; `None` as soon
/// as one item says the tree cannot be mapped structurally.
pub fn each<I, T, G>(items: Vec<I>, parallel: bool, g: G) -> Result<Option<Vec<T>>>
where
    I: Send,
    T: Send,
    G: Fn(I) -> Result<Option<T>> + Sync,
{
    use rayon::prelude::*;
    let results: Vec<Result<Option<T>>> = if parallel {
        items.into_par_iter().map(&g).collect()
    } else {
        items.into_iter().map(&g).collect()
    };
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r? {
            Some(t) => out.push(t),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}
