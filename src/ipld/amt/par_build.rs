//! An AMT built from sorted values with the root's subtrees on every core.
//!
//! The subtrees under a root slot depend only on the values in that slot's
//! span, so each is built by a builder of its own over indices relative to
//! the span, and the root links them: the same nodes, so the same root, as
//! [`AmtBuilder`] gives over the same values one at a time (nv22's listings
//! index of 7M deals took 1.7 s on one core that way).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use rayon::prelude::*;

use super::builder::write_root_of_links;
use super::{check_bit_width, height_for, slot_span, AmtBuilder};
use crate::error::{Error, Result};

/// Builds the AMT of `items`, sorted by `index_of` (ascending; items with
/// the same index are consecutive and make one value): `encode` appends
/// the value of each run of equal-index items to the buffer it is given.
/// `hook` is called with every finished subtree above the leaves (each
/// subtree's top node included), from any worker.
pub fn par_build<S, T, I, E, H>(
    store: &S,
    bit_width: u32,
    items: &[T],
    index_of: I,
    encode: E,
    hook: H,
) -> Result<Cid>
where
    S: Blockstore + Sync,
    T: Sync,
    I: Fn(&T) -> u64 + Sync,
    E: Fn(&[T], &mut Vec<u8>) -> Result<()> + Sync,
    H: Fn(&Cid) -> Result<()> + Sync,
{
    check_bit_width(bit_width)?;
    if let Some(w) = items.windows(2).find(|w| index_of(&w[0]) > index_of(&w[1])) {
        return Err(Error::Usage(format!(
            "AMT values out of order: index {} before {}",
            index_of(&w[0]),
            index_of(&w[1])
        )));
    }
    let height = items
        .last()
        .map_or(0, |t| height_for(bit_width, index_of(t)));
    if height == 0 {
        // One node: nothing to share out.
        let mut b = AmtBuilder::new(store, bit_width)?;
        build_into(&mut b, items, &index_of, &encode, 0)?;
        return b.finish();
    }
    // Every root slot's span; the last one may run past u64 (then it holds
    // every index from its start on).
    let span = slot_span(bit_width, height);
    let mut chunks = Vec::new();
    let mut rest = items;
    while let Some(first) = rest.first() {
        let slot = (u128::from(index_of(first)) / span) as usize;
        let end = (slot as u128 + 1) * span;
        let n = rest.partition_point(|t| u128::from(index_of(t)) < end);
        chunks.push((slot, &rest[..n]));
        rest = &rest[n..];
    }
    let built = chunks
        .par_iter()
        .map(|&(slot, chunk)| -> Result<Option<(usize, Cid, u64)>> {
            let base = (slot as u128 * span) as u64;
            let mut b =
                AmtBuilder::new(store, bit_width)?.with_subtree_hook(Box::new(|c: &Cid| hook(c)));
            build_into(&mut b, chunk, &index_of, &encode, base)?;
            Ok(b.finish_subtree(height - 1)?.map(|(cid, n)| (slot, cid, n)))
        })
        .collect::<Result<Vec<_>>>()?;
    let children: Vec<(usize, Cid)> = built.iter().flatten().map(|&(s, c, _)| (s, c)).collect();
    let count = built.iter().flatten().map(|&(_, _, n)| n).sum();
    write_root_of_links(store, bit_width, height, count, &children)
}

/// Pushes the values of `items` into `b` at their index less `base`.
fn build_into<S, T, I, E>(
    b: &mut AmtBuilder<'_, S>,
    items: &[T],
    index_of: &I,
    encode: &E,
    base: u64,
) -> Result<()>
where
    S: Blockstore,
    I: Fn(&T) -> u64,
    E: Fn(&[T], &mut Vec<u8>) -> Result<()>,
{
    let mut value = Vec::new();
    for run in items.chunk_by(|a, b| index_of(a) == index_of(b)) {
        value.clear();
        encode(run, &mut value)?;
        b.push(index_of(&run[0]) - base, &value)?;
    }
    Ok(())
}
