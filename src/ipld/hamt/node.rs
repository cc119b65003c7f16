//! Decoding and encoding one HAMT node.

use std::ops::Range;
use std::sync::Arc;

use cid::Cid;

use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major, Cursor};

/// A pointer of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pointer {
    /// A child node.
    Link(Cid),
    /// Up to 3 entries: (key range, value range) into the node's block.
    Bucket(Vec<(Range<usize>, Range<usize>)>),
}

/// A decoded node: occupied slots in order with their pointers.
#[derive(Debug, Clone)]
pub struct HamtNode {
    data: Arc<[u8]>,
    /// (slot, pointer) in slot order.
    pub pointers: Vec<(usize, Pointer)>,
}

impl HamtNode {
    /// The node's whole block.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The bytes a range of this node's block refers to.
    pub fn bytes(&self, r: &Range<usize>) -> &[u8] {
        &self.data[r.clone()]
    }

    /// Reads and decodes the node `cid` (`parent` names the node linking to
    /// it, for the error when it is missing).
    pub fn load<S: fvm_ipld_blockstore::Blockstore>(
        store: &S,
        cid: &Cid,
        parent: Option<Cid>,
        bit_width: u32,
    ) -> Result<Self> {
        let data = store
            .get(cid)
            .map_err(Error::from_blockstore)?
            .ok_or(Error::MissingBlock { cid: *cid, parent })?;
        Self::decode(data, bit_width, cid).map_err(|e| match (e, parent) {
            (Error::Malformed { what, cid, reason }, Some(p)) => Error::Malformed {
                what,
                cid,
                reason: format!("{reason} (node linked from {p})"),
            },
            (
                Error::Cbor {
                    cid,
                    offset,
                    reason,
                },
                Some(p),
            ) => Error::Cbor {
                cid,
                offset,
                reason: format!("{reason} (node linked from {p})"),
            },
            (e, _) => e,
        })
    }

    /// Decodes a node block.
    pub fn decode(data: Vec<u8>, bit_width: u32, cid: &Cid) -> Result<Self> {
        let data: Arc<[u8]> = Arc::from(data);
        let mut cur = Cursor::new(&data);
        let c = |e: cbor::CborError| Error::Cbor {
            cid: *cid,
            offset: e.offset,
            reason: format!("HAMT node: {}", e.reason),
        };
        let bad = |reason: String| Error::Malformed {
            what: "HAMT node",
            cid: *cid,
            reason,
        };
        if cur.array().map_err(c)? != 2 {
            return Err(bad(
                "not a 2-element array [bitfield, pointers] (HAMT v3)".into()
            ));
        }
        let bf = cur.bytes().map_err(c)?;
        let width = 1usize << bit_width;
        if bf.len() > width.div_ceil(8) || bf.first() == Some(&0) {
            return Err(bad(format!(
                "bitfield of {} bytes is not a minimal {width}-bit map",
                bf.len()
            )));
        }
        // Bit i of the big-endian integer `bf`.
        let slots: Vec<usize> = (0..bf.len() * 8)
            .filter(|i| bf[bf.len() - 1 - i / 8] & (1 << (i % 8)) != 0)
            .collect();
        if slots.last().is_some_and(|&s| s >= width) {
            return Err(bad("bitfield has bits beyond the node width".into()));
        }
        let n = cur.array().map_err(c)? as usize;
        if n != slots.len() {
            return Err(bad(format!(
                "bitfield has {} bits set but there are {n} pointers",
                slots.len()
            )));
        }
        let mut pointers = Vec::with_capacity(n);
        for slot in slots {
            let at = cur.pos();
            let (m, arg) = cur.clone().header().map_err(c)?;
            let p = match m {
                major::TAG => {
                    let b = cur.cid_bytes().map_err(c)?;
                    Pointer::Link(
                        crate::ipld::cids::parse_link(b)
                            .map_err(|e| bad(format!("bad link at byte {at}: {e}")))?,
                    )
                }
                major::ARRAY => {
                    cur.array().map_err(c)?;
                    if arg == 0 || arg as usize > super::MAX_BUCKET {
                        return Err(bad(format!("bucket of {arg} entries at byte {at}")));
                    }
                    let mut kvs = Vec::with_capacity(arg as usize);
                    for _ in 0..arg {
                        if cur.array().map_err(c)? != 2 {
                            return Err(bad(format!(
                                "bucket entry at byte {at} is not [key, value]"
                            )));
                        }
                        let key = cur.bytes().map_err(c)?;
                        let k = cur.pos() - key.len()..cur.pos();
                        let v = cur.skip().map_err(c)?;
                        kvs.push((k, v));
                    }
                    Pointer::Bucket(kvs)
                }
                _ => {
                    return Err(bad(format!(
                        "pointer at byte {at} is neither a link nor a bucket"
                    )))
                }
            };
            pointers.push((slot, p));
        }
        if !cur.at_end() {
            return Err(bad("trailing bytes after the node".into()));
        }
        Ok(HamtNode { data, pointers })
    }
}

/// Encodes a node from its pointers (slot order), each a link or a bucket of
/// (key, value item bytes) sorted by key.
pub fn encode_node(out: &mut Vec<u8>, pointers: &[(usize, EncodedPointer<'_>)]) {
    let mut bits = [0u8; 32];
    for (slot, _) in pointers {
        bits[31 - slot / 8] |= 1 << (slot % 8);
    }
    let first = bits.iter().position(|b| *b != 0).unwrap_or(32);
    cbor::write_header(out, major::ARRAY, 2);
    cbor::write_bytes(out, &bits[first..]);
    cbor::write_header(out, major::ARRAY, pointers.len() as u64);
    for (_, p) in pointers {
        match p {
            EncodedPointer::Link(cid) => cbor::write_cid(out, cid),
            EncodedPointer::Bucket(kvs) => {
                cbor::write_header(out, major::ARRAY, kvs.len() as u64);
                for (k, v) in kvs {
                    cbor::write_header(out, major::ARRAY, 2);
                    cbor::write_bytes(out, k);
                    out.extend_from_slice(v);
                }
            }
        }
    }
}

/// A pointer to encode.
#[derive(Debug, Clone)]
pub enum EncodedPointer<'a> {
    /// A child node.
    Link(Cid),
    /// Entries sorted by key: (key bytes, value item bytes).
    Bucket(Vec<(&'a [u8], &'a [u8])>),
}
