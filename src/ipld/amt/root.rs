//! The AMT v3 root block: `[bit_width, height, count, node]`.

use std::sync::Arc;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::Node;
use super::{check_bit_width, load_block};
use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major, Cursor};
use crate::ipld::cids::cbor_cid;

/// A decoded AMT root.
#[derive(Debug, Clone)]
pub struct AmtRoot {
    /// Bits per level (slots per node = 2^bit_width).
    pub bit_width: u32,
    /// Levels below the root node (0: the root node is a leaf).
    pub height: u32,
    /// Number of values.
    pub count: u64,
    /// The root node, stored inline in the root block.
    pub node: Node,
}

impl AmtRoot {
    /// An empty AMT.
    pub fn empty(bit_width: u32) -> Self {
        AmtRoot {
            bit_width,
            height: 0,
            count: 0,
            node: Node::empty(bit_width),
        }
    }

    /// Loads and decodes the root block `cid`.
    pub fn load<S: Blockstore>(store: &S, cid: &Cid) -> Result<Self> {
        let data = load_block(store, cid, None)?;
        Self::decode(data, cid)
    }

    /// Decodes a root block.
    pub fn decode(data: Vec<u8>, cid: &Cid) -> Result<Self> {
        let data: Arc<[u8]> = Arc::from(data);
        let mut cur = Cursor::new(&data);
        let c = |e: cbor::CborError| Error::Cbor {
            cid: *cid,
            offset: e.offset,
            reason: format!("AMT root: {}", e.reason),
        };
        let bad = |reason: String| Error::Malformed {
            what: "AMT root",
            cid: *cid,
            reason,
        };
        if cur.array().map_err(c)? != 4 {
            return Err(bad(
                "not a 4-element array [bit_width, height, count, node] (AMT v3)".into(),
            ));
        }
        let bit_width = u32::try_from(cur.uint().map_err(c)?)
            .map_err(|_| bad("bit width out of range".into()))?;
        check_bit_width(bit_width).map_err(|e| bad(e.to_string()))?;
        let height =
            u32::try_from(cur.uint().map_err(c)?).map_err(|_| bad("height out of range".into()))?;
        if u64::from(height) * u64::from(bit_width) > 64 + u64::from(bit_width) {
            return Err(bad(format!("height {height} exceeds the index space")));
        }
        let count = cur.uint().map_err(c)?;
        let node = Node::decode_at(&mut cur, data.clone(), bit_width, height, cid)?;
        if !cur.at_end() {
            return Err(bad("trailing bytes after the root".into()));
        }
        Ok(AmtRoot {
            bit_width,
            height,
            count,
            node,
        })
    }

    /// Encodes the root block and returns (cid, bytes).
    pub fn encode(&self) -> (Cid, Vec<u8>) {
        let mut out = Vec::with_capacity(256);
        cbor::write_header(&mut out, major::ARRAY, 4);
        cbor::write_header(&mut out, major::UINT, u64::from(self.bit_width));
        cbor::write_header(&mut out, major::UINT, u64::from(self.height));
        cbor::write_header(&mut out, major::UINT, self.count);
        self.node.encode(&mut out, self.bit_width);
        (cbor_cid(&out), out)
    }

    /// Encodes and stores the root block; returns its CID.
    pub fn store<S: Blockstore>(&self, store: &S) -> Result<Cid> {
        let (cid, bytes) = self.encode();
        store
            .put_keyed(&cid, &bytes)
            .map_err(Error::from_blockstore)?;
        Ok(cid)
    }
}

/// Encodes and stores a non-root node; returns its CID.
pub(crate) fn store_node<S: Blockstore>(store: &S, node: &Node, bit_width: u32) -> Result<Cid> {
    let mut out = Vec::with_capacity(1024);
    node.encode(&mut out, bit_width);
    let cid = cbor_cid(&out);
    store
        .put_keyed(&cid, &out)
        .map_err(Error::from_blockstore)?;
    Ok(cid)
}

/// Loads a non-root node.
pub(crate) fn load_node<S: Blockstore>(
    store: &S,
    cid: &Cid,
    bit_width: u32,
    height: u32,
    parent: Option<Cid>,
) -> Result<Node> {
    let data = load_block(store, cid, parent)?;
    Node::decode_block(data, bit_width, height, cid)
}
