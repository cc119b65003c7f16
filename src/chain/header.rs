//! The three fields of a Filecoin block header a snapshot walk needs, read
//! from its DAG-CBOR 16-tuple without decoding the rest: `Parents` (5),
//! `Height` (7) and `ParentStateRoot` (8).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::cbor::Cursor;

/// Fields of a block header.
pub const HEADER_FIELDS: u64 = 16;
const PARENTS: usize = 5;
const HEIGHT: usize = 7;
const PARENT_STATE_ROOT: usize = 8;

/// What a walk reads of one block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFields {
    /// The header's own CID.
    pub cid: Cid,
    /// The parent tipset's key.
    pub parents: Vec<Cid>,
    /// Its epoch.
    pub height: i64,
    /// The state its parent tipset's execution produced.
    pub parent_state_root: Cid,
}

impl HeaderFields {
    /// Parses a header's bytes.
    pub fn parse(cid: &Cid, data: &[u8]) -> Result<Self> {
        let ranges = tuple::elements(data, HEADER_FIELDS, "block header", cid)?;
        let cbor = |what: &'static str, offset: usize, reason: String| Error::Cbor {
            cid: *cid,
            offset,
            reason: format!("block header {what}: {reason}"),
        };
        let mut cur = Cursor::new(&data[ranges[PARENTS].clone()]);
        let base = ranges[PARENTS].start;
        let n = cur
            .array()
            .map_err(|e| cbor("Parents", base + e.offset, e.reason.into()))?;
        let mut parents = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let r = cur
                .skip()
                .map_err(|e| cbor("Parents", base + e.offset, e.reason.into()))?;
            parents.push(tuple::cid_at(
                data,
                &(base + r.start..base + r.end),
                "block header Parents",
                cid,
            )?);
        }
        let mut cur = Cursor::new(&data[ranges[HEIGHT].clone()]);
        let height = cur
            .int()
            .map_err(|e| cbor("Height", ranges[HEIGHT].start + e.offset, e.reason.into()))?;
        let parent_state_root = tuple::cid_at(
            data,
            &ranges[PARENT_STATE_ROOT],
            "block header ParentStateRoot",
            cid,
        )?;
        Ok(HeaderFields {
            cid: *cid,
            parents,
            height,
            parent_state_root,
        })
    }

    /// Loads and parses the header `cid`; `Ok(None)` if the store lacks it.
    pub fn load<S: Blockstore>(store: &S, cid: &Cid) -> Result<Option<Self>> {
        match store.get(cid).map_err(Error::from_blockstore)? {
            Some(data) => Self::parse(cid, &data).map(Some),
            None => Ok(None),
        }
    }
}
