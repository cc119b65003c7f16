//! Applies an ordered stream of sets and deletes to an existing AMT.
//!
//! Changes must come in ascending index order (a diff produces them that
//! way). Then each node is opened at most once and closed, encoded and
//! written as soon as the stream moves past it, so only one root-to-leaf path
//! is in memory and no intermediate version of a node is ever written. The
//! result is canonical: empty nodes are dropped, the height grows for indices
//! past the end and shrinks when the root is left with only its first child,
//! exactly as `fvm_ipld_amt` does, so the root CID equals its result.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::{Node, Slot};
use super::root::{load_node, store_node, AmtRoot};
use super::{check_bit_width, slot_span, MAX_INDEX};
use crate::error::{Error, Result};

/// One change to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patch<'a> {
    /// Set the value bytes at an index.
    Set(u64, &'a [u8]),
    /// Remove the value at an index (no-op if absent).
    Delete(u64),
}

impl Patch<'_> {
    /// The index the change applies to.
    pub fn index(&self) -> u64 {
        match self {
            Patch::Set(i, _) | Patch::Delete(i) => *i,
        }
    }
}

struct Open {
    /// The block the node was loaded from (None: new, or the inline root).
    cid: Option<Cid>,
    node: Node,
    level: u32,
    offset: u64,
    dirty: bool,
}

/// Called with the CID of every finished non-root subtree, so the caller can
/// flush it from a write buffer when over budget.
pub type SubtreeHook<'h> = Box<dyn FnMut(&Cid) -> Result<()> + 'h>;

/// Called with the child links of every interior node read from the store:
/// links the patched tree may keep, whose targets the store already holds
/// (so a write buffer need not look each up again when it flushes).
pub type LinksHook<'h> = Box<dyn FnMut(&[Cid]) + 'h>;

fn links_of_node(node: &Node) -> Vec<Cid> {
    node.slots
        .iter()
        .filter_map(|s| match s {
            Slot::Link(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Applies ordered changes to an AMT. See the module docs.
pub struct AmtPatcher<'s, S> {
    store: &'s S,
    original: Option<Cid>,
    bit_width: u32,
    height: u32,
    count: u64,
    path: Vec<Open>,
    last: Option<u64>,
    touched: bool,
    hook: Option<SubtreeHook<'s>>,
    links_hook: Option<LinksHook<'s>>,
    /// Nodes read from the store.
    pub nodes_read: u64,
    /// Nodes written to the store (excluding the root block).
    pub nodes_written: u64,
}

impl<'s, S: Blockstore> AmtPatcher<'s, S> {
    /// Starts patching the AMT at `root`.
    pub fn open(store: &'s S, root: &Cid) -> Result<Self> {
        let r = AmtRoot::load(store, root)?;
        Ok(Self::from_root(store, r, Some(*root)))
    }

    /// Starts from an empty AMT.
    pub fn empty(store: &'s S, bit_width: u32) -> Result<Self> {
        check_bit_width(bit_width)?;
        Ok(Self::from_root(store, AmtRoot::empty(bit_width), None))
    }

    fn from_root(store: &'s S, r: AmtRoot, original: Option<Cid>) -> Self {
        AmtPatcher {
            store,
            original,
            bit_width: r.bit_width,
            height: r.height,
            count: r.count,
            path: vec![Open {
                cid: original,
                node: r.node,
                level: r.height,
                offset: 0,
                dirty: false,
            }],
            last: None,
            touched: false,
            hook: None,
            links_hook: None,
            nodes_read: 0,
            nodes_written: 0,
        }
    }

    /// Installs a hook called with the links of each interior node read from
    /// the store (starting with the root's, at once).
    pub fn with_links_hook(mut self, mut hook: LinksHook<'s>) -> Self {
        if self.original.is_some() && self.height > 0 {
            hook(&links_of_node(&self.path[0].node));
        }
        self.links_hook = Some(hook);
        self
    }

    fn note_loaded(&mut self, node: &Node, level: u32) {
        if level > 0 {
            if let Some(h) = self.links_hook.as_mut() {
                h(&links_of_node(node));
            }
        }
    }

    /// Installs a hook called with each finished subtree's CID.
    pub fn with_subtree_hook(mut self, hook: SubtreeHook<'s>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The number of values after the changes so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The bit width of the tree.
    pub fn bit_width(&self) -> u32 {
        self.bit_width
    }

    /// Applies one change; indices must be strictly ascending across calls.
    pub fn apply(&mut self, patch: Patch<'_>) -> Result<()> {
        let index = patch.index();
        if index > MAX_INDEX {
            return Err(Error::Usage(format!(
                "AMT index {index} exceeds the maximum"
            )));
        }
        if let Some(last) = self.last {
            if index <= last {
                return Err(Error::Usage(format!(
                    "AMT patches must have ascending indices: {index} after {last}"
                )));
            }
        }
        self.last = Some(index);
        if u128::from(index) >= slot_span(self.bit_width, self.height + 1) {
            match patch {
                Patch::Delete(_) => return Ok(()),
                Patch::Set(..) => self.grow_to(index)?,
            }
        }
        while !self.top_contains(index) {
            self.close_top()?;
        }
        // Descend to the leaf holding `index`.
        loop {
            let top = self.path.last().expect("root is always open");
            if top.level == 0 {
                break;
            }
            let span = slot_span(self.bit_width, top.level);
            let slot = ((u128::from(index) - u128::from(top.offset)) / span) as usize;
            let child_offset = (u128::from(top.offset) + span * slot as u128) as u64;
            let level = top.level - 1;
            let parent = top.cid;
            let (node, loaded_from) = match &top.node.slots[slot] {
                Slot::Link(cid) => {
                    let cid = *cid;
                    self.nodes_read += 1;
                    let node = load_node(self.store, &cid, self.bit_width, level, parent)?;
                    self.note_loaded(&node, level);
                    (node, Some(cid))
                }
                Slot::Empty => match patch {
                    Patch::Delete(_) => return Ok(()),
                    Patch::Set(..) => (Node::empty(self.bit_width), None),
                },
                _ => {
                    return Err(Error::Usage(format!(
                        "AMT internal node at level {} holds a value",
                        top.level
                    )))
                }
            };
            self.path.push(Open {
                cid: loaded_from,
                node,
                level,
                offset: child_offset,
                dirty: false,
            });
        }
        let leaf = self.path.last_mut().expect("leaf is open");
        let slot = (index - leaf.offset) as usize;
        let had = !matches!(leaf.node.slots[slot], Slot::Empty);
        match patch {
            Patch::Set(_, bytes) => {
                leaf.node.slots[slot] = Slot::Owned(bytes.to_vec());
                self.count += u64::from(!had);
                leaf.dirty = true;
                self.touched = true;
            }
            Patch::Delete(_) if had => {
                leaf.node.slots[slot] = Slot::Empty;
                self.count -= 1;
                leaf.dirty = true;
                self.touched = true;
            }
            Patch::Delete(_) => {}
        }
        Ok(())
    }

    fn top_contains(&self, index: u64) -> bool {
        let top = self.path.last().expect("root is always open");
        let span = slot_span(self.bit_width, top.level + 1);
        let i = u128::from(index);
        i >= u128::from(top.offset) && i < u128::from(top.offset) + span
    }

    /// Closes the deepest open node, writing it if it changed and linking it
    /// from its parent (or unlinking it if it became empty).
    fn close_top(&mut self) -> Result<()> {
        let done = self.path.pop().expect("closing below the root");
        let parent = self.path.last_mut().expect("a closed node has a parent");
        if !done.dirty {
            return Ok(());
        }
        let span = slot_span(self.bit_width, parent.level);
        let slot = ((u128::from(done.offset) - u128::from(parent.offset)) / span) as usize;
        parent.dirty = true;
        if done.node.is_empty() {
            parent.node.slots[slot] = Slot::Empty;
            return Ok(());
        }
        let cid = store_node(self.store, &done.node, self.bit_width)?;
        self.nodes_written += 1;
        parent.node.slots[slot] = Slot::Link(cid);
        if done.level > 0 {
            if let Some(hook) = self.hook.as_mut() {
                hook(&cid)?;
            }
        }
        Ok(())
    }

    /// Raises the height until `index` fits, pushing the old root node down
    /// as the first child of the new root.
    fn grow_to(&mut self, index: u64) -> Result<()> {
        while self.path.len() > 1 {
            self.close_top()?;
        }
        while u128::from(index) >= slot_span(self.bit_width, self.height + 1) {
            let root = self.path.pop().expect("root");
            let mut new_root = Node::empty(self.bit_width);
            if !root.node.is_empty() {
                let cid = store_node(self.store, &root.node, self.bit_width)?;
                self.nodes_written += 1;
                new_root.slots[0] = Slot::Link(cid);
            }
            self.height += 1;
            self.touched = true;
            self.path.push(Open {
                cid: None,
                node: new_root,
                level: self.height,
                offset: 0,
                dirty: true,
            });
        }
        Ok(())
    }

    /// Writes what is left and the root block; returns the new root CID.
    pub fn finish(mut self) -> Result<Cid> {
        while self.path.len() > 1 {
            self.close_top()?;
        }
        if !self.touched && !self.path[0].dirty {
            if let Some(original) = self.original {
                return Ok(original);
            }
        }
        let mut root = self.path.pop().expect("root").node;
        let mut height = self.height;
        if root.is_empty() {
            root = Node::empty(self.bit_width);
            height = 0;
        } else {
            while height > 0
                && root.link(0).is_some()
                && root.slots[1..].iter().all(|s| matches!(s, Slot::Empty))
            {
                let child = root.link(0).expect("checked");
                root = load_node(self.store, &child, self.bit_width, height - 1, None)?;
                self.note_loaded(&root, height - 1);
                self.nodes_read += 1;
                height -= 1;
            }
        }
        AmtRoot {
            bit_width: self.bit_width,
            height,
            count: self.count,
            node: root,
        }
        .store(self.store)
    }
}
