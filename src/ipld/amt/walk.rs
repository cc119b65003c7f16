//! Ordered, streaming iteration over an AMT's values. Only the current
//! root-to-leaf path is loaded; nothing is cached.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::Node;
use super::root::{load_node, AmtRoot};
use super::slot_span;
use crate::error::Result;

/// Calls `f(index, value bytes)` for every value of the AMT `root`, in index order.
pub fn for_each_value<S: Blockstore>(
    store: &S,
    root: &Cid,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let r = AmtRoot::load(store, root)?;
    walk_node(store, &r.node, r.bit_width, r.height, 0, *root, &mut f)
}

/// Walks the subtree of `node` (at `height`, first index `offset`).
pub(crate) fn walk_node<S: Blockstore>(
    store: &S,
    node: &Node,
    bit_width: u32,
    height: u32,
    offset: u64,
    node_cid: Cid,
    f: &mut impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let span = slot_span(bit_width, height);
    for i in 0..node.slots.len() {
        let index = (u128::from(offset) + span * i as u128) as u64;
        if height == 0 {
            if let Some(v) = node.value(i) {
                f(index, v)?;
            }
        } else if let Some(link) = node.link(i) {
            let child = load_node(store, &link, bit_width, height - 1, Some(node_cid))?;
            walk_node(store, &child, bit_width, height - 1, index, link, f)?;
        }
    }
    Ok(())
}

/// Calls `f(index, value bytes)` for every value of the AMT `root`, the
/// root's subtrees walked in parallel on the current rayon pool (each in
/// index order; no order between them). For read-only passes over large
/// AMTs (nv22 reads every deal proposal).
pub fn par_for_each_value<S, F>(store: &S, root: &Cid, f: &F) -> Result<()>
where
    S: Blockstore + Sync,
    F: Fn(u64, &[u8]) -> Result<()> + Sync,
{
    use rayon::prelude::*;
    let r = AmtRoot::load(store, root)?;
    if r.height == 0 {
        return walk_node(store, &r.node, r.bit_width, 0, 0, *root, &mut |i, v| {
            f(i, v)
        });
    }
    let span = slot_span(r.bit_width, r.height);
    let children: Vec<(u64, Cid)> = (0..r.node.slots.len())
        .filter_map(|i| r.node.link(i).map(|l| ((span * i as u128) as u64, l)))
        .collect();
    children.par_iter().try_for_each(|(offset, link)| {
        let child = load_node(store, link, r.bit_width, r.height - 1, Some(*root))?;
        walk_node(
            store,
            &child,
            r.bit_width,
            r.height - 1,
            *offset,
            *link,
            &mut |i, v| f(i, v),
        )
    })
}
