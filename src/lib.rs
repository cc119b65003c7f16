//! fil-migrate: a streaming state-migration engine for very large Filecoin
//! AMTs/HAMTs.
//!
//! The library is layered the way data flows (see `docs/design.md` in the
//! repository):
//! - [`store`]: blockstores: snapshot sources read in place (CARv1,
//!   `.forest.car.zst`, `.car.zst`), the disk store and its backend seam,
//!   the write buffer with its memory budget, the exporter;
//! - [`ipld`]: CIDs, DAG-CBOR scanning, streaming AMT/HAMT builders,
//!   diffs, parallel maps and incremental remaps;
//! - [`actors`]: manifests, state-tree types, byte-level transcoders;
//! - [`chain`]: block headers and the walk to a tipset's state;
//! - [`migration`]: the generic runner, caches, specs, and the registry of
//!   upgrades, each one folder with its spec, transforms and typed
//!   reference path;
//! - `synth` (feature `synth`, on by default): the synthetic state
//!   generator and churn;
//! - [`error`]: the typed error every failure is reported through.
//!
//! The command line is another package of the workspace (`cli/`), so a
//! node depending on this crate builds none of its dependencies.
//!
//! A node runs an upgrade with [`migration::migrate_state`]: load the
//! [`migration::Upgrade`] by name and network, keep a
//! [`migration::MigrationCache`] from the premigration to the upgrade
//! height, and read the [`migration::MigrationReport`] it returns
//! (`examples/embed.rs` does all of it over a `MemoryBlockstore`).

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
#[cfg(feature = "synth")]
pub mod synth;
