//! The children-first (post-order) walk of a DAG that every block writer
//! uses: a block is handed over only after every block below it that the
//! walk took. A store written in that order never holds a parent whose
//! subtree is incomplete, even when the writing stops half-way (docs/design.md §4).

use cid::Cid;

use super::cids::is_walkable;
use super::links::walkable_links_of;
use crate::error::Result;

/// Walks the walkable DAG under `root`. `enter(cid, parent)` decides whether
/// to take a block: it returns the block's data, or `None` to skip the block
/// and everything below it (already written, already visited, or a boundary
/// the caller checks itself). `write(batch)` receives the taken blocks in
/// children-first order, in batches of at least `batch_bytes` (the last one
/// may be smaller), each block after all the taken blocks below it.
pub fn children_first<D, E, W>(root: &Cid, batch_bytes: usize, enter: E, write: W) -> Result<()>
where
    D: AsRef<[u8]>,
    E: FnMut(Cid, Option<Cid>) -> Result<Option<D>>,
    W: FnMut(&[(Cid, D)]) -> Result<()>,
{
    children_first_by(root, batch_bytes, walkable_links_of, enter, write)
}

/// [`children_first`] over the links `links_of(cid, data)` names instead
/// of every walkable link: a walk of one structure's own nodes (a HAMT's
/// nodes without the states its values name).
pub fn children_first_by<D, L, E, W>(
    root: &Cid,
    batch_bytes: usize,
    links_of: L,
    mut enter: E,
    mut write: W,
) -> Result<()>
where
    D: AsRef<[u8]>,
    L: Fn(&Cid, &[u8]) -> Result<Vec<Cid>>,
    E: FnMut(Cid, Option<Cid>) -> Result<Option<D>>,
    W: FnMut(&[(Cid, D)]) -> Result<()>,
{
    struct Frame<D> {
        cid: Cid,
        data: D,
        children: Vec<Cid>,
        next: usize,
    }
    let mut take = |cid: Cid, parent: Option<Cid>| -> Result<Option<Frame<D>>> {
        if !is_walkable(&cid) {
            return Ok(None);
        }
        let Some(data) = enter(cid, parent)? else {
            return Ok(None);
        };
        let children = links_of(&cid, data.as_ref())?;
        Ok(Some(Frame {
            cid,
            data,
            children,
            next: 0,
        }))
    };
    let mut batch: Vec<(Cid, D)> = Vec::new();
    let mut pending = 0usize;
    let mut stack: Vec<Frame<D>> = Vec::new();
    stack.extend(take(*root, None)?);
    while let Some(top) = stack.last_mut() {
        if top.next < top.children.len() {
            let child = top.children[top.next];
            top.next += 1;
            let parent = top.cid;
            stack.extend(take(child, Some(parent))?);
        } else {
            let finished = stack.pop().expect("non-empty stack");
            pending += finished.data.as_ref().len();
            batch.push((finished.cid, finished.data));
            if pending >= batch_bytes {
                write(&batch)?;
                batch.clear();
                pending = 0;
            }
        }
    }
    if !batch.is_empty() {
        write(&batch)?;
    }
    Ok(())
}
