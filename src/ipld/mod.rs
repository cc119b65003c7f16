//! IPLD building blocks: CIDs, a DAG-CBOR cursor and the link scanner.

pub mod amt;
pub mod cbor;
pub mod cids;
pub mod hamt;
pub mod links;
pub mod postorder;
