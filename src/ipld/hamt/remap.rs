//! Incremental structure-preserving map: the map of a HAMT given the map of
//! an earlier version of it.
//!
//! `base_out` is the map of `base_in` (by the same transform); `root` is a
//! newer version of `base_in`. The three trees are walked together along the
//! paths where `root` differs from `base_in`: a link equal to `base_in`'s at
//! the same path keeps `base_out`'s subtree there without reading it, a
//! bucket entry equal to `base_in`'s keeps `base_out`'s value, and only
//! changed and added entries go through the transform. A subtree with no
//! counterpart (keys added where `base_in` had a bucket or nothing) is mapped
//! whole; removed keys simply do not appear. Because a canonical HAMT's shape
//! is a function of its key set, the output is exactly the full map of
//! `root`, which is exactly a from-scratch build: reads and work are
//! O(changes × depth), not O(size).
//!
//! `base_in` and `base_out` must line up node for node (same slots, same
//! kinds of pointer, same bucket keys): anything else means the pair is not
//! one map's input and output, and the remap returns `None` for the caller
//! to fall back to the full map, as it does for a non-canonical `root`.

use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::map::{Mapper, PARALLEL_DEPTH};
use super::node::{HamtNode, Pointer};
use super::shape::{each, load_canonical, store_node, HamtMapped, OutPointer};
use crate::error::Result;
use crate::ipld::links::walkable_links_of;

/// Maps `root` through `f`, reusing `base_out`, the map of `base_in`.
/// `hook(cid, depth)` is called with every new non-root node. `is_output`
/// vouches for each value of `base_out` the remap reads (a transform's
/// output is usually recognisable: an actor with new code): a base pair of
/// the right shape whose output was not made by the transform fails it.
/// `vouch` receives the links of every `base_out` node read: the reused
/// subtrees and the reused values' links are among them, so a caller whose
/// flush checks links leaving its write buffer can skip those (they were
/// read from its store). `None` if `root` is not canonical or the base pair
/// does not line up.
#[allow(clippy::too_many_arguments)]
pub fn remap_entries<S, F, H, V>(
    store: &S,
    root: &Cid,
    base_in: &Cid,
    base_out: &Cid,
    bit_width: u32,
    f: &F,
    hook: &H,
    is_output: &V,
    vouch: &(dyn Fn(&[Cid]) + Sync),
) -> Result<Option<HamtMapped>>
where
    S: Blockstore + Sync,
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    H: Fn(&Cid, usize) -> Result<()> + Sync,
    V: Fn(&[u8]) -> bool + Sync,
{
    let r = Remapper {
        full: Mapper {
            store,
            bit_width,
            f,
            hook,
            entries: AtomicU64::new(0),
            nodes: AtomicU64::new(0),
        },
        reused: AtomicU64::new(0),
        subtrees: AtomicU64::new(0),
        is_output,
        vouch,
    };
    let out = if root == base_in {
        r.subtrees.fetch_add(1, Ordering::Relaxed);
        *base_out
    } else {
        let Some(pointers) = r.remap_node([root, base_in, base_out], None, &[])? else {
            return Ok(None);
        };
        store_node(store, &pointers)?
    };
    Ok(Some(HamtMapped {
        root: out,
        entries_mapped: r.full.entries.into_inner(),
        entries_reused: r.reused.into_inner(),
        subtrees_reused: r.subtrees.into_inner(),
        nodes_read: r.full.nodes.into_inner(),
    }))
}

/// An output bucket: (key, value) sorted by key.
type Bucket = Vec<(Vec<u8>, Vec<u8>)>;

struct Remapper<'a, S, F, H, V> {
    full: Mapper<'a, S, F, H>,
    reused: AtomicU64,
    subtrees: AtomicU64,
    is_output: &'a V,
    vouch: &'a (dyn Fn(&[Cid]) + Sync),
}

/// What the base pair holds at a slot of the new node.
enum Base<'n> {
    /// Nothing: the slot is new.
    None,
    /// Child nodes (input, output).
    Links(Cid, Cid),
    /// The input and output nodes, whose pointer `.2` (the same in both:
    /// they line up) is a bucket.
    Buckets(&'n HamtNode, &'n HamtNode, usize),
}

impl<S, F, H, V> Remapper<'_, S, F, H, V>
where
    S: Blockstore + Sync,
    F: Fn(&[u8], &[u8]) -> Result<Vec<u8>> + Sync,
    H: Fn(&Cid, usize) -> Result<()> + Sync,
    V: Fn(&[u8]) -> bool + Sync,
{
    /// The output pointers of `cids = [new, base_in, base_out]` at `path`.
    fn remap_node(
        &self,
        cids: [&Cid; 3],
        parents: Option<[Cid; 3]>,
        path: &[usize],
    ) -> Result<Option<Vec<(usize, OutPointer)>>> {
        let m = &self.full;
        let bw = m.bit_width;
        let Some(new) = load_canonical(m.store, cids[0], parents.map(|p| p[0]), path, bw)? else {
            return Ok(None);
        };
        let old_in = HamtNode::load(m.store, cids[1], parents.map(|p| p[1]), bw)?;
        let old_out = HamtNode::load(m.store, cids[2], parents.map(|p| p[2]), bw)?;
        m.nodes.fetch_add(3, Ordering::Relaxed);
        (self.vouch)(&walkable_links_of(cids[2], old_out.data())?);
        if !lines_up(&old_in, &old_out) {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(new.pointers.len());
        for (i, (slot, p)) in new.pointers.iter().enumerate() {
            let base = match old_in.pointers.binary_search_by_key(slot, |(s, _)| *s) {
                Err(_) => Base::None,
                Ok(j) => match (&old_in.pointers[j].1, &old_out.pointers[j].1) {
                    (Pointer::Link(a), Pointer::Link(b)) => Base::Links(*a, *b),
                    _ => Base::Buckets(&old_in, &old_out, j),
                },
            };
            items.push((i, *slot, p, base));
        }
        each(items, path.len() < PARALLEL_DEPTH, |(i, slot, p, base)| {
            let mut child_path = path.to_vec();
            child_path.push(slot);
            let out = match (p, base) {
                (Pointer::Link(n), Base::Links(a, b)) if *n == a => {
                    self.subtrees.fetch_add(1, Ordering::Relaxed);
                    OutPointer::Link(b)
                }
                (Pointer::Link(n), Base::Links(a, b)) => {
                    let parents = [*cids[0], *cids[1], *cids[2]];
                    let Some(ptrs) = self.remap_node([n, &a, &b], Some(parents), &child_path)?
                    else {
                        return Ok(None);
                    };
                    let c = store_node(m.store, &ptrs)?;
                    (m.hook)(&c, child_path.len())?;
                    OutPointer::Link(c)
                }
                (Pointer::Link(n), _) => match m.map_child(n, cids[0], &child_path)? {
                    Some(c) => OutPointer::Link(c),
                    None => return Ok(None),
                },
                (Pointer::Bucket(_), base) => match self.bucket(&new, i, base)? {
                    Some(b) => OutPointer::Bucket(b),
                    None => return Ok(None),
                },
            };
            Ok(Some((slot, out)))
        })
    }

    /// The output bucket for the new node's pointer `i` (a bucket): entries
    /// equal to the base input's keep the base output's value.
    fn bucket(&self, new: &HamtNode, i: usize, base: Base<'_>) -> Result<Option<Bucket>> {
        let Pointer::Bucket(kvs) = &new.pointers[i].1 else {
            unreachable!("called for buckets only")
        };
        let old = match base {
            Base::Buckets(old_in, old_out, j) => {
                let (Pointer::Bucket(a), Pointer::Bucket(b)) =
                    (&old_in.pointers[j].1, &old_out.pointers[j].1)
                else {
                    return Ok(None);
                };
                if a.len() != b.len()
                    || a.iter()
                        .zip(b)
                        .any(|((ka, _), (kb, _))| old_in.bytes(ka) != old_out.bytes(kb))
                    || b.iter().any(|(_, vb)| !(self.is_output)(old_out.bytes(vb)))
                {
                    return Ok(None);
                }
                Some((old_in, a, old_out, b))
            }
            _ => None,
        };
        let mut out = Vec::with_capacity(kvs.len());
        for (k, v) in kvs {
            let (key, value) = (new.bytes(k), new.bytes(v));
            let kept = old.and_then(|(oi, a, oo, b)| {
                a.iter()
                    .position(|(ka, va)| oi.bytes(ka) == key && oi.bytes(va) == value)
                    .map(|j| oo.bytes(&b[j].1).to_vec())
            });
            let mapped = match kept {
                Some(v) => {
                    self.reused.fetch_add(1, Ordering::Relaxed);
                    v
                }
                None => {
                    self.full.entries.fetch_add(1, Ordering::Relaxed);
                    (self.full.f)(key, value)?
                }
            };
            out.push((key.to_vec(), mapped));
        }
        Ok(Some(out))
    }
}

/// Whether an input node and its supposed output have the same slots and
/// the same kind of pointer in each.
fn lines_up(a: &HamtNode, b: &HamtNode) -> bool {
    a.pointers.len() == b.pointers.len()
        && a.pointers
            .iter()
            .zip(&b.pointers)
            .all(|((sa, pa), (sb, pb))| {
                sa == sb
                    && matches!(
                        (pa, pb),
                        (Pointer::Link(_), Pointer::Link(_))
                            | (Pointer::Bucket(_), Pointer::Bucket(_))
                    )
            })
}
