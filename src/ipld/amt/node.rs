//! One AMT node: `[bitmap bytes, [links…], [values…]]`, with bit `i` of the
//! bitmap at `bmap[i / 8] & (1 << (i % 8))`, and exactly one of links/values
//! non-empty (both empty for an empty node).

use std::ops::Range;
use std::sync::Arc;

use cid::Cid;

use super::{bmap_len, width};
use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major, Cursor};

/// One slot of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Nothing at this slot.
    Empty,
    /// A child node (internal nodes only).
    Link(Cid),
    /// A value stored in the node's original block (leaves only).
    Stored(Range<usize>),
    /// A value set since the node was loaded (leaves only).
    Owned(Vec<u8>),
}

/// A decoded node. Values are not decoded: they are byte ranges of the block.
#[derive(Debug, Clone)]
pub struct Node {
    data: Arc<[u8]>,
    /// `width` slots.
    pub slots: Vec<Slot>,
}

impl Node {
    /// An empty node of the given bit width.
    pub fn empty(bit_width: u32) -> Self {
        Node {
            data: Arc::from(Vec::new()),
            slots: vec![Slot::Empty; width(bit_width)],
        }
    }

    /// The bytes of the value in `slot`, if it holds one.
    pub fn value(&self, slot: usize) -> Option<&[u8]> {
        match &self.slots[slot] {
            Slot::Stored(r) => Some(&self.data[r.clone()]),
            Slot::Owned(v) => Some(v),
            _ => None,
        }
    }

    /// The child link in `slot`, if it holds one.
    pub fn link(&self, slot: usize) -> Option<Cid> {
        match &self.slots[slot] {
            Slot::Link(c) => Some(*c),
            _ => None,
        }
    }

    /// Whether every slot is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| matches!(s, Slot::Empty))
    }

    /// Decodes a whole block holding one node (`cid` is for error messages).
    pub fn decode_block(data: Vec<u8>, bit_width: u32, height: u32, cid: &Cid) -> Result<Self> {
        let data: Arc<[u8]> = Arc::from(data);
        let mut cur = Cursor::new(&data);
        let node = Self::decode_at(&mut cur, data.clone(), bit_width, height, cid)?;
        if !cur.at_end() {
            return Err(malformed(cid, "trailing bytes after the AMT node"));
        }
        Ok(node)
    }

    /// Decodes a node at the cursor, whose buffer is `data`.
    pub fn decode_at(
        cur: &mut Cursor<'_>,
        data: Arc<[u8]>,
        bit_width: u32,
        height: u32,
        cid: &Cid,
    ) -> Result<Self> {
        let c = |e: cbor::CborError| Error::Cbor {
            cid: *cid,
            offset: e.offset,
            reason: format!("AMT node: {}", e.reason),
        };
        if cur.array().map_err(c)? != 3 {
            return Err(malformed(cid, "AMT node is not a 3-element array"));
        }
        let bmap = cur.bytes().map_err(c)?;
        if bmap.len() != bmap_len(bit_width) {
            return Err(malformed(
                cid,
                &format!(
                    "bitmap of {} bytes, expected {} for bit width {bit_width}",
                    bmap.len(),
                    bmap_len(bit_width)
                ),
            ));
        }
        let w = width(bit_width);
        let set: Vec<usize> = (0..bmap.len() * 8)
            .filter(|i| bmap[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        if set.last().is_some_and(|&i| i >= w) {
            return Err(malformed(cid, "bitmap has bits set beyond the node width"));
        }
        let mut slots = vec![Slot::Empty; w];
        let nlinks = cur.array().map_err(c)?;
        if nlinks > 0 {
            if height == 0 {
                return Err(malformed(cid, "AMT leaf (height 0) holds links"));
            }
            if nlinks as usize != set.len() {
                return Err(malformed(cid, "bitmap and link count disagree"));
            }
            for &i in &set {
                let b = cur.cid_bytes().map_err(c)?;
                let link = crate::ipld::cids::parse_link(b)
                    .map_err(|e| malformed(cid, &format!("bad link CID: {e}")))?;
                slots[i] = Slot::Link(link);
            }
        }
        let nvals = cur.array().map_err(c)?;
        if nvals > 0 {
            if nlinks > 0 {
                return Err(malformed(cid, "AMT node holds both links and values"));
            }
            if height > 0 {
                return Err(malformed(
                    cid,
                    "AMT internal node (height > 0) holds values",
                ));
            }
            if nvals as usize != set.len() {
                return Err(malformed(cid, "bitmap and value count disagree"));
            }
            for &i in &set {
                let r = cur.skip().map_err(c)?;
                slots[i] = Slot::Stored(r);
            }
        }
        if nlinks == 0 && nvals == 0 && !set.is_empty() {
            return Err(malformed(cid, "bitmap has bits set but the node is empty"));
        }
        Ok(Node { data, slots })
    }

    /// Appends this node's encoding.
    pub fn encode(&self, out: &mut Vec<u8>, bit_width: u32) {
        let mut bmap = vec![0u8; bmap_len(bit_width)];
        let mut n = 0u64;
        let mut links = false;
        for (i, s) in self.slots.iter().enumerate() {
            if !matches!(s, Slot::Empty) {
                bmap[i / 8] |= 1 << (i % 8);
                n += 1;
                links |= matches!(s, Slot::Link(_));
            }
        }
        cbor::write_header(out, major::ARRAY, 3);
        cbor::write_bytes(out, &bmap);
        if links {
            cbor::write_header(out, major::ARRAY, n);
            for s in &self.slots {
                if let Slot::Link(c) = s {
                    cbor::write_cid(out, c);
                }
            }
            cbor::write_header(out, major::ARRAY, 0);
        } else {
            cbor::write_header(out, major::ARRAY, 0);
            cbor::write_header(out, major::ARRAY, n);
            for i in 0..self.slots.len() {
                if let Some(v) = self.value(i) {
                    out.extend_from_slice(v);
                }
            }
        }
    }
}

/// The header of a leaf block, up to its first value: what a pass that maps
/// values straight from the block (without building a [`Node`]) needs, with
/// the checks [`Node::decode_block`] makes.
pub struct LeafHeader<'a> {
    /// The bitmap bytes.
    pub bitmap: &'a [u8],
    /// The occupied slots, ascending.
    pub slots: Vec<usize>,
    /// Where the first value starts.
    pub values_at: usize,
}

impl<'a> LeafHeader<'a> {
    /// Reads the header of the leaf block `data` (`cid` names it in errors).
    pub fn read(data: &'a [u8], bit_width: u32, cid: &Cid) -> Result<Self> {
        let c = |e: cbor::CborError| Error::Cbor {
            cid: *cid,
            offset: e.offset,
            reason: format!("AMT leaf: {}", e.reason),
        };
        let mut cur = Cursor::new(data);
        if cur.array().map_err(c)? != 3 {
            return Err(malformed(cid, "AMT node is not a 3-element array"));
        }
        let bitmap = cur.bytes().map_err(c)?;
        if bitmap.len() != bmap_len(bit_width) {
            return Err(malformed(cid, "bitmap length does not match the bit width"));
        }
        let slots: Vec<usize> = (0..bitmap.len() * 8)
            .filter(|i| bitmap[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        if slots.last().is_some_and(|&i| i >= width(bit_width)) {
            return Err(malformed(cid, "bitmap has bits set beyond the node width"));
        }
        if cur.array().map_err(c)? != 0 {
            return Err(malformed(cid, "AMT leaf (height 0) holds links"));
        }
        if cur.array().map_err(c)? != slots.len() as u64 {
            return Err(malformed(cid, "bitmap and value count disagree"));
        }
        Ok(LeafHeader {
            bitmap,
            slots,
            values_at: cur.pos(),
        })
    }
}

fn malformed(cid: &Cid, reason: &str) -> Error {
    Error::Malformed {
        what: "AMT node",
        cid: *cid,
        reason: reason.to_string(),
    }
}
