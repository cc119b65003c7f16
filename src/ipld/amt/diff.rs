//! Streaming diff of two AMTs. Changes are reported in index order through a
//! callback as soon as they are found; subtrees whose links are equal are
//! skipped without being read, so two trees of n values that differ in k
//! read O(k × height) nodes, and memory is one path per side.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::Node;
use super::root::{load_node, AmtRoot};
use super::slot_span;
use super::walk::walk_node;
use crate::error::{Error, Result};

/// What happened at an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the new tree.
    Add,
    /// Only in the old tree.
    Remove,
    /// In both, with different bytes.
    Modify,
}

/// One difference, borrowing the raw value bytes of both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<'a> {
    /// The index.
    pub index: u64,
    /// Add, remove or modify.
    pub kind: ChangeKind,
    /// The old value (remove, modify).
    pub before: Option<&'a [u8]>,
    /// The new value (add, modify).
    pub after: Option<&'a [u8]>,
}

/// Calls `f` for every difference between the AMTs `old` and `new`, in index order.
/// The trees must have the same bit width.
pub fn diff<S: Blockstore>(
    store: &S,
    old: &Cid,
    new: &Cid,
    mut f: impl FnMut(Change<'_>) -> Result<()>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let a = AmtRoot::load(store, old)?;
    let b = AmtRoot::load(store, new)?;
    if a.bit_width != b.bit_width {
        return Err(Error::Usage(format!(
            "cannot diff AMTs of different bit widths: {old} has {}, {new} has {}",
            a.bit_width, b.bit_width
        )));
    }
    let d = Differ {
        store,
        bit_width: a.bit_width,
    };
    d.diff_nodes(
        Side {
            node: &a.node,
            height: a.height,
            cid: *old,
        },
        Side {
            node: &b.node,
            height: b.height,
            cid: *new,
        },
        0,
        &mut f,
    )
}

#[derive(Clone, Copy)]
struct Side<'n> {
    node: &'n Node,
    height: u32,
    cid: Cid,
}

struct Differ<'s, S> {
    store: &'s S,
    bit_width: u32,
}

impl<S: Blockstore> Differ<'_, S> {
    fn diff_nodes(
        &self,
        a: Side<'_>,
        b: Side<'_>,
        offset: u64,
        f: &mut impl FnMut(Change<'_>) -> Result<()>,
    ) -> Result<()> {
        use std::cmp::Ordering::*;
        match a.height.cmp(&b.height) {
            Greater => {
                // Only a's slot 0 overlaps b; the rest of a was removed.
                if let Some(link) = a.node.link(0) {
                    let child =
                        load_node(self.store, &link, self.bit_width, a.height - 1, Some(a.cid))?;
                    self.diff_nodes(
                        Side {
                            node: &child,
                            height: a.height - 1,
                            cid: link,
                        },
                        b,
                        offset,
                        f,
                    )?;
                } else {
                    self.all(b, offset, ChangeKind::Add, f)?;
                }
                self.all_from_slot(a, 1, offset, ChangeKind::Remove, f)
            }
            Less => {
                if let Some(link) = b.node.link(0) {
                    let child =
                        load_node(self.store, &link, self.bit_width, b.height - 1, Some(b.cid))?;
                    self.diff_nodes(
                        a,
                        Side {
                            node: &child,
                            height: b.height - 1,
                            cid: link,
                        },
                        offset,
                        f,
                    )?;
                } else {
                    self.all(a, offset, ChangeKind::Remove, f)?;
                }
                self.all_from_slot(b, 1, offset, ChangeKind::Add, f)
            }
            Equal => self.diff_same_height(a, b, offset, f),
        }
    }

    fn diff_same_height(
        &self,
        a: Side<'_>,
        b: Side<'_>,
        offset: u64,
        f: &mut impl FnMut(Change<'_>) -> Result<()>,
    ) -> Result<()> {
        let h = a.height;
        let span = slot_span(self.bit_width, h);
        for i in 0..a.node.slots.len() {
            let index = (u128::from(offset) + span * i as u128) as u64;
            if h == 0 {
                let change = match (a.node.value(i), b.node.value(i)) {
                    (Some(x), Some(y)) if x == y => continue,
                    (Some(x), Some(y)) => (ChangeKind::Modify, Some(x), Some(y)),
                    (Some(x), None) => (ChangeKind::Remove, Some(x), None),
                    (None, Some(y)) => (ChangeKind::Add, None, Some(y)),
                    (None, None) => continue,
                };
                f(Change {
                    index,
                    kind: change.0,
                    before: change.1,
                    after: change.2,
                })?;
                continue;
            }
            match (a.node.link(i), b.node.link(i)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => {
                    let na = load_node(self.store, &x, self.bit_width, h - 1, Some(a.cid))?;
                    let nb = load_node(self.store, &y, self.bit_width, h - 1, Some(b.cid))?;
                    self.diff_same_height(
                        Side {
                            node: &na,
                            height: h - 1,
                            cid: x,
                        },
                        Side {
                            node: &nb,
                            height: h - 1,
                            cid: y,
                        },
                        index,
                        f,
                    )?;
                }
                (Some(x), None) => {
                    let na = load_node(self.store, &x, self.bit_width, h - 1, Some(a.cid))?;
                    self.all(
                        Side {
                            node: &na,
                            height: h - 1,
                            cid: x,
                        },
                        index,
                        ChangeKind::Remove,
                        f,
                    )?;
                }
                (None, Some(y)) => {
                    let nb = load_node(self.store, &y, self.bit_width, h - 1, Some(b.cid))?;
                    self.all(
                        Side {
                            node: &nb,
                            height: h - 1,
                            cid: y,
                        },
                        index,
                        ChangeKind::Add,
                        f,
                    )?;
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Reports every value under `side` as added or removed.
    fn all(
        &self,
        side: Side<'_>,
        offset: u64,
        kind: ChangeKind,
        f: &mut impl FnMut(Change<'_>) -> Result<()>,
    ) -> Result<()> {
        walk_node(
            self.store,
            side.node,
            self.bit_width,
            side.height,
            offset,
            side.cid,
            &mut |index, v| f(one(index, kind, v)),
        )
    }

    /// Reports every value under the slots `from..` of `side`.
    fn all_from_slot(
        &self,
        side: Side<'_>,
        from: usize,
        offset: u64,
        kind: ChangeKind,
        f: &mut impl FnMut(Change<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut rest = side.node.clone();
        for s in rest.slots.iter_mut().take(from) {
            *s = super::node::Slot::Empty;
        }
        self.all(
            Side {
                node: &rest,
                ..side
            },
            offset,
            kind,
            f,
        )
    }
}

fn one(index: u64, kind: ChangeKind, v: &[u8]) -> Change<'_> {
    match kind {
        ChangeKind::Add => Change {
            index,
            kind,
            before: None,
            after: Some(v),
        },
        _ => Change {
            index,
            kind,
            before: Some(v),
            after: None,
        },
    }
}
