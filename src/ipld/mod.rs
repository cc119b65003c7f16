//! IPLD building blocks: CIDs, a DAG-CBOR cursor and the link scanner.

pub mod amt;
pub mod cbor;
pub mod cids;
pub mod hamt;
pub mod links;
pub mod postorder;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use crate::error::{Error, Result};

/// Reads a block that must exist; `parent` names the block linking to it,
/// for the error when it is missing.
pub fn load_block<S: Blockstore>(store: &S, cid: &Cid, parent: Option<Cid>) -> Result<Vec<u8>> {
    store
        .get(cid)
        .map_err(Error::from_blockstore)?
        .ok_or(Error::MissingBlock { cid: *cid, parent })
}
