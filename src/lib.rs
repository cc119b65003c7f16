//! fil-migrate: a streaming state-migration engine for very large Filecoin
//! AMTs/HAMTs.
//!
//! The library is layered the way data flows (see `DESIGN.md`): [`store`]
//! (blockstores: CAR source, disk store, write buffer, exporter), [`ipld`]
//! (CIDs, DAG-CBOR scanning, streaming AMT/HAMT algorithms).

#![deny(missing_docs)]
// Errors carry CIDs by value so that every failure names its block; they are
// only built on the cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod ipld;
pub mod store;

pub use error::{Error, Result};
pub mod actors;
pub mod chain;
pub mod migration;
pub mod synth;
