//! Streaming diff of two HAMT roots (`fvm_ipld_hamt` has none).
//!
//! The two trees are walked together slot by slot; equal links are skipped
//! without being read, so the nodes read are O(changes × depth). Where one
//! side has a bucket and the other a subtree (keys were added or removed
//! there), both sides' entries under that slot are gathered and merged:
//! the bucket side holds at most 3 of them, so every other entry gathered is
//! a change. Changes are reported in key-hash order, the order
//! [`super::for_each_entry`] visits, and nothing is buffered beyond one
//! slot's entries.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::{HamtNode, Pointer};
use super::{for_each_entry, key_hash};
use crate::error::Result;

/// One difference between two HAMTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HamtChange<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its value in the old tree (`None`: added).
    pub before: Option<&'a [u8]>,
    /// Its value in the new tree (`None`: removed).
    pub after: Option<&'a [u8]>,
}

/// Calls `f` with every key whose value differs between `old` and `new`, in
/// key-hash order.
pub fn diff<S: Blockstore>(
    store: &S,
    old: &Cid,
    new: &Cid,
    bit_width: u32,
    mut f: impl FnMut(HamtChange<'_>) -> Result<()>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    diff_nodes(store, [old, new], None, bit_width, &mut f)
}

type Entry = ([u8; 32], Vec<u8>, Vec<u8>);

fn diff_nodes<S: Blockstore>(
    store: &S,
    cids: [&Cid; 2],
    parents: Option<[Cid; 2]>,
    bw: u32,
    f: &mut impl FnMut(HamtChange<'_>) -> Result<()>,
) -> Result<()> {
    let a = HamtNode::load(store, cids[0], parents.map(|p| p[0]), bw)?;
    let b = HamtNode::load(store, cids[1], parents.map(|p| p[1]), bw)?;
    let (mut i, mut j) = (0, 0);
    while i < a.pointers.len() || j < b.pointers.len() {
        let sa = a.pointers.get(i).map(|p| p.0);
        let sb = b.pointers.get(j).map(|p| p.0);
        let (pa, pb) = match (sa, sb) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
                (Some(&a.pointers[i - 1].1), Some(&b.pointers[j - 1].1))
            }
            (Some(x), y) if y.is_none_or(|y| x < y) => {
                i += 1;
                (Some(&a.pointers[i - 1].1), None)
            }
            _ => {
                j += 1;
                (None, Some(&b.pointers[j - 1].1))
            }
        };
        match (pa, pb) {
            (Some(Pointer::Link(x)), Some(Pointer::Link(y))) if x == y => {}
            (Some(Pointer::Link(x)), Some(Pointer::Link(y))) => {
                diff_nodes(store, [x, y], Some([*cids[0], *cids[1]]), bw, f)?
            }
            _ => {
                let old = gather(store, &a, pa, bw)?;
                let new = gather(store, &b, pb, bw)?;
                merge(&old, &new, f)?;
            }
        }
    }
    Ok(())
}

/// Every entry under one pointer of `node`, in key-hash order.
fn gather<S: Blockstore>(
    store: &S,
    node: &HamtNode,
    p: Option<&Pointer>,
    bw: u32,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    match p {
        None => {}
        Some(Pointer::Link(c)) => for_each_entry(store, c, bw, |k, v| {
            out.push((key_hash(k), k.to_vec(), v.to_vec()));
            Ok(())
        })?,
        Some(Pointer::Bucket(kvs)) => {
            for (k, v) in kvs {
                let key = node.bytes(k);
                out.push((key_hash(key), key.to_vec(), node.bytes(v).to_vec()));
            }
            out.sort_unstable_by_key(|x| x.0);
        }
    }
    Ok(out)
}

/// Reports the differences between two hash-ordered entry lists.
fn merge(
    old: &[Entry],
    new: &[Entry],
    f: &mut impl FnMut(HamtChange<'_>) -> Result<()>,
) -> Result<()> {
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(x), Some(y)) => (&x.0, &x.1).cmp(&(&y.0, &y.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let (_, k, v) = &old[i];
                f(HamtChange {
                    key: k,
                    before: Some(v),
                    after: None,
                })?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let (_, k, v) = &new[j];
                f(HamtChange {
                    key: k,
                    before: None,
                    after: Some(v),
                })?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let ((_, k, v0), (_, _, v1)) = (&old[i], &new[j]);
                if v0 != v1 {
                    f(HamtChange {
                        key: k,
                        before: Some(v0),
                        after: Some(v1),
                    })?;
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}
