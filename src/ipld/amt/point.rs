//! Reading one value by index: the root-to-leaf path only. For the few
//! lookups an incremental migration makes (nv22 reads the deal states,
//! proposals and listings of the deals that changed).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::root::{load_node, AmtRoot};
use super::slot_span;
use crate::error::Result;

/// The value bytes at `index` of the AMT `root`, if it holds one.
pub fn get_value<S: Blockstore>(store: &S, root: &Cid, index: u64) -> Result<Option<Vec<u8>>> {
    let r = AmtRoot::load(store, root)?;
    let width = 1u128 << r.bit_width;
    if u128::from(index) >= slot_span(r.bit_width, r.height) * width {
        return Ok(None);
    }
    let mut node = r.node;
    let mut cid = *root;
    let mut rest = u128::from(index);
    for height in (0..=r.height).rev() {
        let span = slot_span(r.bit_width, height);
        let slot = (rest / span) as usize;
        rest %= span;
        if height == 0 {
            return Ok(node.value(slot).map(<[u8]>::to_vec));
        }
        let Some(link) = node.link(slot) else {
            return Ok(None);
        };
        node = load_node(store, &link, r.bit_width, height - 1, Some(cid))?;
        cid = link;
    }
    Ok(None)
}
