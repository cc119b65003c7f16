//! The state tree's top level: `StateRoot = [version, actors, info]` and the
//! actors HAMT's values `ActorState = [code, head, sequence, balance,
//! delegated_address?]` (state tree v5).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;
use fvm_shared3::address::Address;
use fvm_shared3::econ::TokenAmount;

use super::tuple;
use crate::error::{Error, Result};
use crate::ipld::cids::cbor_cid;

/// The state tree version every nv18+ state uses.
pub const STATE_TREE_VERSION: u64 = 5;

/// A state root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct StateRoot {
    /// State tree version (5).
    pub version: u64,
    /// Root of the actors HAMT.
    pub actors: Cid,
    /// State info (an empty tuple).
    pub info: Cid,
}

impl StateRoot {
    /// Encodes and stores; returns the CID.
    pub fn store<S: Blockstore>(&self, store: &S) -> Result<Cid> {
        put_cbor(store, self)
    }
}

/// An actor's entry in the actors HAMT (v5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ActorState {
    /// Code CID (which actor type and version).
    pub code: Cid,
    /// Root of the actor's state.
    pub head: Cid,
    /// Nonce.
    pub sequence: u64,
    /// Balance.
    pub balance: TokenAmount,
    /// f4 address, if any.
    pub delegated_address: Option<Address>,
}

/// The raw `[code, head, …]` of an ActorState value, for byte-level rewrites.
pub struct RawActor<'a> {
    bytes: &'a [u8],
    ranges: Vec<std::ops::Range<usize>>,
    /// Code CID.
    pub code: Cid,
    /// State root.
    pub head: Cid,
}

impl<'a> RawActor<'a> {
    /// Parses an ActorState value (`at` names the actors HAMT root for errors).
    pub fn parse(bytes: &'a [u8], at: &Cid) -> Result<Self> {
        let ranges = tuple::elements(bytes, 5, "ActorState", at)?;
        let code = tuple::cid_at(bytes, &ranges[0], "ActorState.code", at)?;
        let head = tuple::cid_at(bytes, &ranges[1], "ActorState.head", at)?;
        Ok(RawActor {
            bytes,
            ranges,
            code,
            head,
        })
    }

    /// Re-encodes with a new code and head, every other field byte for byte.
    pub fn with(&self, code: &Cid, head: &Cid) -> Vec<u8> {
        // One allocation: this runs once per actor, millions of times.
        let rest = self.ranges[1].end..self.bytes.len();
        let mut out = Vec::with_capacity(self.bytes.len() + 16);
        crate::ipld::cbor::write_header(&mut out, crate::ipld::cbor::major::ARRAY, 5);
        crate::ipld::cbor::write_cid(&mut out, code);
        crate::ipld::cbor::write_cid(&mut out, head);
        out.extend_from_slice(&self.bytes[rest]);
        out
    }
}

/// Encodes a value as DAG-CBOR and stores it; returns its CID.
pub fn put_cbor<S: Blockstore, T: serde::Serialize>(store: &S, v: &T) -> Result<Cid> {
    let bytes = fvm_ipld_encoding::to_vec(v).map_err(|e| Error::Encode {
        what: "state object",
        reason: e.to_string(),
    })?;
    let cid = cbor_cid(&bytes);
    store
        .put_keyed(&cid, &bytes)
        .map_err(Error::from_blockstore)?;
    Ok(cid)
}

/// Loads and decodes a typed block.
pub fn get_cbor<S: Blockstore, T: serde::de::DeserializeOwned>(
    store: &S,
    cid: &Cid,
    what: &'static str,
) -> Result<T> {
    let data = crate::ipld::load_block(store, cid, None)?;
    fvm_ipld_encoding::from_slice(&data).map_err(|e| Error::Malformed {
        what,
        cid: *cid,
        reason: format!(
            "the block is {}, which does not decode as one ({e})",
            crate::ipld::cbor::shape_of(&data)
        ),
    })
}

/// Finds the state root a CAR root designates: a `StateRoot` itself, or a
/// block header (a 16-tuple whose element 8 is ParentStateRoot).
pub fn resolve_state_root<S: Blockstore>(store: &S, root: &Cid) -> Result<Cid> {
    let data = store
        .get(root)
        .map_err(Error::from_blockstore)?
        .ok_or(Error::MissingBlock {
            cid: *root,
            parent: None,
        })?;
    let mut cur = crate::ipld::cbor::Cursor::new(&data);
    let n = cur.array().map_err(|e| Error::Cbor {
        cid: *root,
        offset: e.offset,
        reason: e.reason.into(),
    })?;
    match n {
        3 => {
            let sr: StateRoot =
                fvm_ipld_encoding::from_slice(&data).map_err(|e| Error::Malformed {
                    what: "state root",
                    cid: *root,
                    reason: e.to_string(),
                })?;
            if sr.version != STATE_TREE_VERSION {
                return Err(Error::Malformed {
                    what: "state root",
                    cid: *root,
                    reason: format!(
                        "state tree version {} (only {STATE_TREE_VERSION} is supported)",
                        sr.version
                    ),
                });
            }
            Ok(*root)
        }
        16 => {
            let ranges = tuple::elements(&data, 16, "block header", root)?;
            let parent_state =
                tuple::cid_at(&data, &ranges[8], "block header ParentStateRoot", root)?;
            resolve_state_root(store, &parent_state)
        }
        n => Err(Error::Malformed {
            what: "CAR root",
            cid: *root,
            reason: format!("a {n}-tuple is neither a StateRoot (3) nor a block header (16)"),
        }),
    }
}
