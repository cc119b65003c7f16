//! Bottom-up AMT construction from values in ascending index order.
//!
//! Each node is encoded and written the moment the next index falls outside
//! it, so at most one open node per level exists: memory is O(height × width)
//! for any number of values. The height is only known at the end (it is the
//! least that holds the largest index), which is fine because nodes below
//! the root do not depend on it; the root node goes inline in the root block.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::patch::SubtreeHook;
use super::{bmap_len, check_bit_width, height_for, MAX_INDEX};
use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major};
use crate::ipld::cids::cbor_cid;

struct Open {
    /// Which node of its level this is: `index >> (bit_width × (level + 1))`.
    node_no: u64,
    bmap: [u8; 32],
    items: u64,
    body: Vec<u8>,
}

/// Builds an AMT from `(index, value bytes)` pairs pushed in strictly
/// ascending index order. Each value must be one complete DAG-CBOR item.
pub struct AmtBuilder<'s, S> {
    store: &'s S,
    bit_width: u32,
    levels: Vec<Option<Open>>,
    count: u64,
    last: Option<u64>,
    scratch: Vec<u8>,
    nodes_written: u64,
    hook: Option<SubtreeHook<'s>>,
}

impl<'s, S: Blockstore> AmtBuilder<'s, S> {
    /// A builder writing nodes into `store`.
    pub fn new(store: &'s S, bit_width: u32) -> Result<Self> {
        check_bit_width(bit_width)?;
        Ok(AmtBuilder {
            store,
            bit_width,
            levels: Vec::new(),
            count: 0,
            last: None,
            scratch: Vec::with_capacity(16 << 10),
            nodes_written: 0,
            hook: None,
        })
    }

    /// Installs a hook called with the CID of every finished subtree above
    /// the leaves (so a caller can flush it out of a write buffer).
    pub fn with_subtree_hook(mut self, hook: SubtreeHook<'s>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Values pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Non-root nodes written so far.
    pub fn nodes_written(&self) -> u64 {
        self.nodes_written
    }

    fn node_no(&self, index: u64, level: u32) -> u64 {
        let shift = u64::from(self.bit_width) * (u64::from(level) + 1);
        if shift >= 64 {
            0
        } else {
            index >> shift
        }
    }

    fn slot_in(&self, child_no: u64) -> usize {
        (child_no & ((1u64 << self.bit_width) - 1)) as usize
    }

    /// Appends a value at `index`, which must be greater than every index pushed before.
    pub fn push(&mut self, index: u64, value: &[u8]) -> Result<()> {
        if index > MAX_INDEX {
            return Err(Error::Usage(format!(
                "AMT index {index} exceeds the maximum {MAX_INDEX}"
            )));
        }
        if let Some(last) = self.last {
            if index <= last {
                return Err(Error::Usage(format!(
                    "AMT builder needs ascending indices: {index} after {last}"
                )));
            }
        }
        self.last = Some(index);
        let node_no = self.node_no(index, 0);
        self.ensure_open(0, node_no)?;
        let slot = (index & ((1u64 << self.bit_width) - 1)) as usize;
        let open = self.levels[0].as_mut().expect("opened above");
        open.bmap[slot / 8] |= 1 << (slot % 8);
        open.items += 1;
        open.body.extend_from_slice(value);
        self.count += 1;
        Ok(())
    }

    /// Makes node `node_no` the open node of `level`, closing a previous one.
    fn ensure_open(&mut self, level: usize, node_no: u64) -> Result<()> {
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, || None);
        }
        match &self.levels[level] {
            Some(open) if open.node_no == node_no => return Ok(()),
            Some(_) => self.close(level)?,
            None => {}
        }
        self.levels[level] = Some(Open {
            node_no,
            bmap: [0; 32],
            items: 0,
            body: Vec::with_capacity(if level == 0 { 8 << 10 } else { 1 << 10 }),
        });
        Ok(())
    }

    fn encode(&mut self, level: usize, open: &Open) {
        self.scratch.clear();
        encode_node(&mut self.scratch, self.bit_width, level, open);
    }

    /// Writes `open`, a non-root node of `level`, and tells the hook of a
    /// finished subtree above the leaves.
    fn write_node(&mut self, level: usize, open: &Open) -> Result<Cid> {
        self.encode(level, open);
        let cid = cbor_cid(&self.scratch);
        self.store
            .put_keyed(&cid, &self.scratch)
            .map_err(Error::from_blockstore)?;
        self.nodes_written += 1;
        if level > 0 {
            if let Some(hook) = self.hook.as_mut() {
                hook(&cid)?;
            }
        }
        Ok(cid)
    }

    /// Writes the open node of `level` and links it from its parent.
    fn close(&mut self, level: usize) -> Result<()> {
        let open = self.levels[level].take().expect("closing an open level");
        let cid = self.write_node(level, &open)?;
        let parent_no = self.node_no_of_parent(open.node_no);
        let slot = self.slot_in(open.node_no);
        self.ensure_open(level + 1, parent_no)?;
        let parent = self.levels[level + 1].as_mut().expect("opened above");
        parent.bmap[slot / 8] |= 1 << (slot % 8);
        parent.items += 1;
        cbor::write_cid(&mut parent.body, &cid);
        Ok(())
    }

    fn node_no_of_parent(&self, child_no: u64) -> u64 {
        if self.bit_width >= 64 {
            0
        } else {
            child_no >> self.bit_width
        }
    }

    /// Writes the remaining nodes and the root block; returns the root CID.
    pub fn finish(mut self) -> Result<Cid> {
        let height = self.last.map_or(0, |m| height_for(self.bit_width, m)) as usize;
        for level in 0..height {
            if self.levels.get(level).is_some_and(Option::is_some) {
                self.close(level)?;
            }
        }
        let root_node = self
            .levels
            .get_mut(height)
            .and_then(Option::take)
            .unwrap_or(Open {
                node_no: 0,
                bmap: [0; 32],
                items: 0,
                body: Vec::new(),
            });
        self.encode(height, &root_node);
        let node = std::mem::take(&mut self.scratch);
        write_root(self.store, self.bit_width, height as u64, self.count, &node)
    }

    /// Writes the remaining nodes of a subtree whose values were pushed at
    /// indices relative to its first slot (each below `W^(level + 1)`), and
    /// returns its top node, at `level`, with the number of values under
    /// it; `None` if nothing was pushed. The node is the one [`finish`]
    /// would link at that place of the whole tree.
    ///
    /// [`finish`]: Self::finish
    pub fn finish_subtree(mut self, level: u32) -> Result<Option<(Cid, u64)>> {
        let level = level as usize;
        for l in 0..level {
            if self.levels.get(l).is_some_and(Option::is_some) {
                self.close(l)?;
            }
        }
        let Some(top) = self.levels.get_mut(level).and_then(Option::take) else {
            return Ok(None);
        };
        if top.node_no != 0 {
            return Err(Error::Usage(format!(
                "AMT subtree at level {level}: an index pushed lies past its span"
            )));
        }
        let cid = self.write_node(level, &top)?;
        Ok(Some((cid, self.count)))
    }
}

/// Appends the encoding of `open`, a node at `level`: `[bmap, links,
/// values]`, a leaf's items its values, any other node's its links.
fn encode_node(out: &mut Vec<u8>, bit_width: u32, level: usize, open: &Open) {
    cbor::write_header(out, major::ARRAY, 3);
    cbor::write_bytes(out, &open.bmap[..bmap_len(bit_width)]);
    if level == 0 {
        cbor::write_header(out, major::ARRAY, 0);
        cbor::write_header(out, major::ARRAY, open.items);
        out.extend_from_slice(&open.body);
    } else {
        cbor::write_header(out, major::ARRAY, open.items);
        out.extend_from_slice(&open.body);
        cbor::write_header(out, major::ARRAY, 0);
    }
}

/// Writes the root block `[bit_width, height, count, node]`, `node` the
/// root node's encoding.
fn write_root<S: Blockstore>(
    store: &S,
    bit_width: u32,
    height: u64,
    count: u64,
    node: &[u8],
) -> Result<Cid> {
    let mut out = Vec::with_capacity(node.len() + 32);
    cbor::write_header(&mut out, major::ARRAY, 4);
    cbor::write_header(&mut out, major::UINT, u64::from(bit_width));
    cbor::write_header(&mut out, major::UINT, height);
    cbor::write_header(&mut out, major::UINT, count);
    out.extend_from_slice(node);
    let cid = cbor_cid(&out);
    store
        .put_keyed(&cid, &out)
        .map_err(Error::from_blockstore)?;
    Ok(cid)
}

/// Writes the root block of a tree of `height` ≥ 1 whose root links
/// `children` (slot, node), in ascending slot order.
pub fn write_root_of_links<S: Blockstore>(
    store: &S,
    bit_width: u32,
    height: u32,
    count: u64,
    children: &[(usize, Cid)],
) -> Result<Cid> {
    let mut root = Open {
        node_no: 0,
        bmap: [0; 32],
        items: children.len() as u64,
        body: Vec::with_capacity(children.len() * 40),
    };
    for (slot, cid) in children {
        root.bmap[slot / 8] |= 1 << (slot % 8);
        cbor::write_cid(&mut root.body, cid);
    }
    let mut node = Vec::with_capacity(root.body.len() + 40);
    encode_node(&mut node, bit_width, height as usize, &root);
    write_root(store, bit_width, u64::from(height), count, &node)
}
