//! Parallel structure-preserving map over an AMT's values.
//!
//! When every value is transformed and none is added or removed, the output
//! AMT has exactly the input's shape (same indices, so the same canonical
//! nodes): each leaf can be rewritten independently and each internal node
//! only needs its children's new CIDs. Subtrees are mapped in parallel on the
//! current rayon pool. The result equals a bottom-up rebuild *if the input is
//! canonical*, which the map checks as it goes (no empty non-root node, no
//! excess height, a correct count); on a non-canonical input it returns
//! `None` and the caller rebuilds from scratch instead.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use rayon::prelude::*;

use super::node::{LeafHeader, Node, Slot};
use super::root::{load_node, store_node, AmtRoot};
use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major};
use crate::ipld::cids::cbor_cid;

/// What a structure-preserving map produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mapped {
    /// The new root.
    pub root: Cid,
    /// Values mapped (all of them for [`map_values`]; those of the changed
    /// leaves for [`super::remap::remap_changed`]).
    pub values_mapped: u64,
}

/// Maps every value of the AMT `root` through `f(index, input, out)`, which
/// appends the new value to `out` and returns how many bytes of `input` the
/// old value took: `input` starts at the value and may run on into the next
/// ones, so a leaf block is mapped in one pass without first being split into
/// values. Returns the new root and its count, or `None` if the input is not
/// canonical or not of `bit_width`. `hook` is called with each finished
/// internal subtree (for budget flushes).
pub fn map_values<S, F, H>(
    store: &S,
    root: &Cid,
    bit_width: u32,
    f: &F,
    hook: &H,
) -> Result<Option<Mapped>>
where
    S: Blockstore + Sync,
    F: Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync,
    H: Fn(&Cid) -> Result<()> + Sync,
{
    let Some(r) = load_mappable_root(store, root, bit_width)? else {
        return Ok(None);
    };
    let m = Mapper {
        store,
        bit_width,
        f,
        hook,
    };
    let Some((node, count)) = m.map_node(&r.node, r.height, 0, root)? else {
        return Ok(None);
    };
    if count != r.count || (count == 0 && r.height != 0) {
        return Ok(None);
    }
    let out = AmtRoot {
        bit_width,
        height: r.height,
        count,
        node,
    };
    Ok(Some(Mapped {
        root: out.store(store)?,
        values_mapped: count,
    }))
}

/// Loads a root the structure-preserving maps can start from: of
/// `bit_width`, and not of excess height (a root above height 0 holding only
/// its first child would have collapsed in a canonical AMT). `None` otherwise.
pub(super) fn load_mappable_root<S: Blockstore>(
    store: &S,
    root: &Cid,
    bit_width: u32,
) -> Result<Option<AmtRoot>> {
    let r = AmtRoot::load(store, root)?;
    let ok = r.bit_width == bit_width && !excess_height(&r.node, r.height);
    Ok(ok.then_some(r))
}

/// Whether a node at `height` above 0 holds nothing but its first child.
pub(super) fn excess_height(node: &Node, height: u32) -> bool {
    height > 0 && node.slots[1..].iter().all(|s| matches!(s, Slot::Empty))
}

pub(super) struct Mapper<'a, S, F, H> {
    pub(super) store: &'a S,
    pub(super) bit_width: u32,
    pub(super) f: &'a F,
    pub(super) hook: &'a H,
}

impl<S, F, H> Mapper<'_, S, F, H>
where
    S: Blockstore + Sync,
    F: Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync,
    H: Fn(&Cid) -> Result<()> + Sync,
{
    /// Maps one node; returns the new node and its value count, or `None` if non-canonical.
    pub(super) fn map_node(
        &self,
        node: &Node,
        height: u32,
        offset: u64,
        cid: &Cid,
    ) -> Result<Option<(Node, u64)>> {
        let span = super::slot_span(self.bit_width, height);
        let mut out = Node::empty(self.bit_width);
        if height == 0 {
            let mut count = 0;
            let mut buf = Vec::with_capacity(256);
            for i in 0..node.slots.len() {
                if let Some(v) = node.value(i) {
                    buf.clear();
                    let used = (self.f)(offset + i as u64, v, &mut buf)?;
                    if used != v.len() {
                        return Err(malformed(cid, "a value is followed by trailing bytes"));
                    }
                    out.slots[i] = Slot::Owned(std::mem::take(&mut buf));
                    count += 1;
                }
            }
            return Ok(Some((out, count)));
        }
        let links: Vec<(usize, Cid)> = (0..node.slots.len())
            .filter_map(|i| node.link(i).map(|c| (i, c)))
            .collect();
        let mapped: Vec<Result<Option<(usize, Cid, u64)>>> = links
            .par_iter()
            .map(|&(i, link)| {
                let child_offset = (u128::from(offset) + span * i as u128) as u64;
                if height == 1 {
                    return Ok(self
                        .map_leaf(&link, child_offset, cid)?
                        .map(|(c, n)| (i, c, n)));
                }
                let child = load_node(self.store, &link, self.bit_width, height - 1, Some(*cid))?;
                if child.is_empty() {
                    return Ok(None); // empty non-root node: not canonical
                }
                let Some((new_child, n)) =
                    self.map_node(&child, height - 1, child_offset, &link)?
                else {
                    return Ok(None);
                };
                let c = store_node(self.store, &new_child, self.bit_width)?;
                if height > 1 {
                    (self.hook)(&c)?;
                }
                Ok(Some((i, c, n)))
            })
            .collect();
        let mut count = 0;
        for m in mapped {
            match m? {
                Some((i, c, n)) => {
                    out.slots[i] = Slot::Link(c);
                    count += n;
                }
                None => return Ok(None),
            }
        }
        Ok(Some((out, count)))
    }

    /// Maps a leaf block straight into its new block: the node's header is
    /// checked as [`Node::decode_block`] checks it, then each value is mapped
    /// where it lies. `None` for an empty leaf (not canonical).
    pub(super) fn map_leaf(
        &self,
        cid: &Cid,
        offset: u64,
        parent: &Cid,
    ) -> Result<Option<(Cid, u64)>> {
        let data = super::load_block(self.store, cid, Some(*parent))?;
        let header = LeafHeader::read(&data, self.bit_width, cid)?;
        let nvals = header.slots.len();
        if nvals == 0 {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(data.len() + data.len() / 16);
        cbor::write_header(&mut out, major::ARRAY, 3);
        cbor::write_bytes(&mut out, header.bitmap);
        cbor::write_header(&mut out, major::ARRAY, 0);
        cbor::write_header(&mut out, major::ARRAY, nvals as u64);
        let mut pos = header.values_at;
        for &slot in &header.slots {
            pos += (self.f)(offset + slot as u64, &data[pos..], &mut out)?;
        }
        if pos != data.len() {
            return Err(malformed(cid, "trailing bytes after the AMT node"));
        }
        let new = cbor_cid(&out);
        self.store
            .put_keyed(&new, &out)
            .map_err(Error::from_blockstore)?;
        Ok(Some((new, nvals as u64)))
    }
}

fn malformed(cid: &Cid, reason: &str) -> Error {
    Error::Malformed {
        what: "AMT node",
        cid: *cid,
        reason: reason.to_string(),
    }
}
