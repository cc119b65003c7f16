//! Replacing the value of one existing key: the path from the root to the
//! key's bucket is re-encoded, every other node is shared. The key set is
//! unchanged, so a canonical tree stays canonical (its shape depends only on
//! the keys). The runner uses it to put a deferred actor's state into the
//! actors tree after every other actor was mapped.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::{encode_node, EncodedPointer, HamtNode, Pointer};
use super::{key_hash, slot_at};
use crate::error::{Error, Result};
use crate::ipld::cids::cbor_cid;

/// The value bytes of `key` in the HAMT `root`, if it holds the key.
pub fn get_value<S: Blockstore>(
    store: &S,
    root: &Cid,
    bit_width: u32,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    let hash = key_hash(key);
    let mut cid = *root;
    let mut parent = None;
    for depth in 0.. {
        let Some(slot) = slot_at(&hash, depth, bit_width) else {
            break;
        };
        let node = HamtNode::load(store, &cid, parent, bit_width)?;
        match node.pointers.iter().find(|(s, _)| *s == slot) {
            None => return Ok(None),
            Some((_, Pointer::Link(child))) => {
                parent = Some(cid);
                cid = *child;
            }
            Some((_, Pointer::Bucket(kvs))) => {
                return Ok(kvs
                    .iter()
                    .find(|(k, _)| node.bytes(k) == key)
                    .map(|(_, v)| node.bytes(v).to_vec()))
            }
        }
    }
    Err(Error::Malformed {
        what: "HAMT node",
        cid,
        reason: "deeper than the key hash allows".into(),
    })
}

/// Replaces the value of `key` in the HAMT `root` with the CBOR item
/// `value`, writing the new path's nodes to `store`. `None` if the tree
/// holds no such key (nothing is written then).
pub fn replace_value<S: Blockstore>(
    store: &S,
    root: &Cid,
    bit_width: u32,
    key: &[u8],
    value: &[u8],
) -> Result<Option<Cid>> {
    let hash = key_hash(key);
    replace_in(store, root, None, bit_width, 0, &hash, key, value)
}

#[allow(clippy::too_many_arguments)]
fn replace_in<S: Blockstore>(
    store: &S,
    cid: &Cid,
    parent: Option<Cid>,
    bit_width: u32,
    depth: u32,
    hash: &[u8; 32],
    key: &[u8],
    value: &[u8],
) -> Result<Option<Cid>> {
    let Some(slot) = slot_at(hash, depth, bit_width) else {
        return Err(Error::Malformed {
            what: "HAMT node",
            cid: *cid,
            reason: "deeper than the key hash allows".into(),
        });
    };
    let node = HamtNode::load(store, cid, parent, bit_width)?;
    let Some(i) = node.pointers.iter().position(|(s, _)| *s == slot) else {
        return Ok(None);
    };
    let new_child = match &node.pointers[i].1 {
        Pointer::Link(child) => {
            match replace_in(
                store,
                child,
                Some(*cid),
                bit_width,
                depth + 1,
                hash,
                key,
                value,
            )? {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        }
        Pointer::Bucket(kvs) => {
            if !kvs.iter().any(|(k, _)| node.bytes(k) == key) {
                return Ok(None);
            }
            None
        }
    };
    let pointers: Vec<(usize, EncodedPointer<'_>)> = node
        .pointers
        .iter()
        .enumerate()
        .map(|(j, (s, p))| {
            let enc = match (p, j == i) {
                (Pointer::Link(_), true) => {
                    EncodedPointer::Link(new_child.expect("a replaced child"))
                }
                (Pointer::Link(c), false) => EncodedPointer::Link(*c),
                (Pointer::Bucket(kvs), this) => EncodedPointer::Bucket(
                    kvs.iter()
                        .map(|(k, v)| {
                            let k = node.bytes(k);
                            (
                                k,
                                if this && k == key {
                                    value
                                } else {
                                    node.bytes(v)
                                },
                            )
                        })
                        .collect(),
                ),
            };
            (*s, enc)
        })
        .collect();
    let mut out = Vec::with_capacity(node.data().len() + value.len());
    encode_node(&mut out, &pointers);
    let new = cbor_cid(&out);
    store
        .put_keyed(&new, &out)
        .map_err(Error::from_blockstore)?;
    Ok(Some(new))
}
