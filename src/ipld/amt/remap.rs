//! Incremental structure-preserving map: given an AMT `old_in`, its mapped
//! image `old_out` (both of one height), and a newer `new_in`, produce the
//! image of `new_in` by mapping only the leaves whose links differ.
//!
//! Why it is exact: a canonical AMT's shape depends only on its set of
//! indices, and the subtree at a given slot path holds exactly the values
//! whose indices fall in that slot's range. So where `new_in` and `old_in`
//! hold the same link at the same path, the image's subtree there is
//! `old_out`'s subtree there (even an empty one), and only differing paths
//! need work. A changed leaf is mapped whole, straight from its block
//! (`Mapper::map_leaf`), on the rayon pool like the from-scratch map; the old
//! leaves are not read except for their bitmaps (to keep the count exact), and
//! nothing is patched value by value. The count is `old_out`'s plus, per
//! changed leaf, new values minus old ones.
//!
//! When the heights differ, or an input is not canonical where it is
//! visited, it returns `None` and the caller uses the diff-and-patch path.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use rayon::prelude::*;

use super::map::{excess_height, load_mappable_root, Mapped, Mapper};
use super::node::{LeafHeader, Node, Slot};
use super::root::{load_node, store_node, AmtRoot};
use crate::error::Result;

/// Maps `new_in` through `f` reusing `old_out`, the image of `old_in` (see
/// the module docs; `f` and `hook` as for [`super::map::map_values`]).
/// `vouch` is called with links taken over from `old_out`'s nodes, which the
/// store already holds.
#[allow(clippy::too_many_arguments)]
pub fn remap_changed<S, F, H>(
    store: &S,
    new_in: &Cid,
    old_in: &Cid,
    old_out: &Cid,
    bit_width: u32,
    f: &F,
    hook: &H,
    vouch: &(dyn Fn(&[Cid]) + Sync),
) -> Result<Option<Mapped>>
where
    S: Blockstore + Sync,
    F: Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync,
    H: Fn(&Cid) -> Result<()> + Sync,
{
    let roots = (
        load_mappable_root(store, new_in, bit_width)?,
        load_mappable_root(store, old_in, bit_width)?,
        load_mappable_root(store, old_out, bit_width)?,
    );
    let (Some(n), Some(oi), Some(oo)) = roots else {
        return Ok(None);
    };
    if n.height != oi.height || n.height != oo.height || n.height == 0 {
        return Ok(None);
    }
    let r = Remapper {
        mapper: Mapper {
            store,
            bit_width,
            f,
            hook,
        },
        vouch,
    };
    let Some((node, delta, mapped)) = r.node(&n.node, &oi.node, &oo.node, n.height, 0, new_in)?
    else {
        return Ok(None);
    };
    let count = i128::from(oo.count) + delta;
    if count <= 0 || excess_height(&node, n.height) {
        return Ok(None);
    }
    let out = AmtRoot {
        bit_width,
        height: n.height,
        count: count as u64,
        node,
    };
    Ok(Some(Mapped {
        root: out.store(store)?,
        values_mapped: mapped,
    }))
}

struct Remapper<'a, S, F, H> {
    mapper: Mapper<'a, S, F, H>,
    vouch: &'a (dyn Fn(&[Cid]) + Sync),
}

/// (image node, change in value count, values mapped), or `None`: fall back.
type NodeResult = Result<Option<(Node, i128, u64)>>;

/// A changed slot's (index, image link, count change, values mapped).
type SlotResult = Result<Option<(usize, Cid, i128, u64)>>;

impl<S, F, H> Remapper<'_, S, F, H>
where
    S: Blockstore + Sync,
    F: Fn(u64, &[u8], &mut Vec<u8>) -> Result<usize> + Sync,
    H: Fn(&Cid) -> Result<()> + Sync,
{
    fn node(
        &self,
        new: &Node,
        old_in: &Node,
        old_out: &Node,
        height: u32,
        offset: u64,
        cid: &Cid,
    ) -> NodeResult {
        let bw = self.mapper.bit_width;
        let span = super::slot_span(bw, height);
        let mut out = Node::empty(bw);
        let mut kept = Vec::new();
        let mut work = Vec::new();
        let mut delta: i128 = 0;
        for i in 0..new.slots.len() {
            match (new.link(i), old_in.link(i)) {
                (Some(a), Some(b)) if a == b => {
                    out.slots[i] = old_out.slots[i].clone();
                    if let Some(c) = old_out.link(i) {
                        kept.push(c);
                    }
                }
                // An image with values where the old input had none: the
                // pair does not describe one migration (a damaged cache).
                (None, None) if old_out.link(i).is_some() => return Ok(None),
                (None, None) => {}
                (None, Some(b)) => delta -= i128::from(self.count(&b, height - 1, cid)?),
                (Some(a), b) => work.push((i, a, b, old_out.link(i))),
            }
        }
        (self.vouch)(&kept);
        let done: Vec<SlotResult> = work
            .par_iter()
            .map(|&(i, new_link, old_link, out_link)| {
                let child_offset = (u128::from(offset) + span * i as u128) as u64;
                self.child(new_link, old_link, out_link, height - 1, child_offset, cid)
                    .map(|r| r.map(|(c, d, m)| (i, c, d, m)))
            })
            .collect();
        let mut mapped = 0;
        for d in done {
            let Some((i, c, d, m)) = d? else {
                return Ok(None);
            };
            out.slots[i] = Slot::Link(c);
            delta += d;
            mapped += m;
        }
        Ok(Some((out, delta, mapped)))
    }

    /// The image of the changed child `new_link` at `level`.
    fn child(
        &self,
        new_link: Cid,
        old_link: Option<Cid>,
        out_link: Option<Cid>,
        level: u32,
        offset: u64,
        parent: &Cid,
    ) -> Result<Option<(Cid, i128, u64)>> {
        let bw = self.mapper.bit_width;
        let old_count = |l: Option<Cid>| -> Result<i128> {
            Ok(match l {
                Some(l) => i128::from(self.count(&l, level, parent)?),
                None => 0,
            })
        };
        if level == 0 {
            if old_link.is_none() && out_link.is_some() {
                return Ok(None); // as above: the pair does not line up
            }
            let Some((c, n)) = self.mapper.map_leaf(&new_link, offset, parent)? else {
                return Ok(None);
            };
            return Ok(Some((c, i128::from(n) - old_count(old_link)?, n)));
        }
        let new = load_node(self.mapper.store, &new_link, bw, level, Some(*parent))?;
        if new.is_empty() {
            return Ok(None);
        }
        let (node, delta, mapped) = match (old_link, out_link) {
            (Some(oi), Some(oo)) => {
                let old_in = load_node(self.mapper.store, &oi, bw, level, Some(*parent))?;
                let old_out = load_node(self.mapper.store, &oo, bw, level, Some(*parent))?;
                match self.node(&new, &old_in, &old_out, level, offset, &new_link)? {
                    Some(r) => r,
                    None => return Ok(None),
                }
            }
            // A new subtree: map it all.
            (None, None) => match self.mapper.map_node(&new, level, offset, &new_link)? {
                Some((node, n)) => (node, i128::from(n), n),
                None => return Ok(None),
            },
            // The old pair does not line up here (a non-canonical old input).
            _ => return Ok(None),
        };
        if node.is_empty() {
            return Ok(None);
        }
        let c = store_node(self.mapper.store, &node, bw)?;
        (self.mapper.hook)(&c)?;
        Ok(Some((c, delta, mapped)))
    }

    /// Values under `link` at `level`, from the leaves' bitmaps.
    fn count(&self, link: &Cid, level: u32, parent: &Cid) -> Result<u64> {
        let store = self.mapper.store;
        if level > 0 {
            let node = load_node(store, link, self.mapper.bit_width, level, Some(*parent))?;
            let mut n = 0;
            for i in 0..node.slots.len() {
                if let Some(c) = node.link(i) {
                    n += self.count(&c, level - 1, link)?;
                }
            }
            return Ok(n);
        }
        let data = super::load_block(store, link, Some(*parent))?;
        Ok(LeafHeader::read(&data, self.mapper.bit_width, link)?
            .slots
            .len() as u64)
    }
}
