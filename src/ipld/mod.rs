//! IPLD building blocks: CIDs, a DAG-CBOR cursor and the link scanner.

pub mod cbor;
pub mod cids;
pub mod links;
pub mod amt;
