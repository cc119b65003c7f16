//! The typed reference paths, one per upgrade, written the way the reference
//! implementations do it: decode with that version's `fil_actor_*_state`
//! types, build the new types field by field, and rebuild every tree with
//! `fvm_ipld_amt` / `fvm_ipld_hamt` from scratch. They share no code with the
//! engine except the published-manifest data and the spec's heights, so the
//! tests use them as the independent oracle and the benchmarks as the
//! baseline the engine is measured against. They hold whole trees in memory,
//! as those libraries do.

pub mod nv21;
pub mod nv22;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;

pub use nv21::reference_nv21;
pub use nv22::reference_nv22;

use super::spec::UpgradeSpec;
use crate::error::{Error, Result};

type R<T> = anyhow::Result<T>;

/// An actor of the state tree (v5).
#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug, PartialEq)]
struct Actor {
    code: Cid,
    head: Cid,
    sequence: u64,
    balance: fvm_shared3::econ::TokenAmount,
    delegated_address: Option<fvm_shared3::address::Address>,
}

/// The state root (v5).
#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug)]
struct Root {
    version: u64,
    actors: Cid,
    info: Cid,
}

/// The reference migration of `state_root` by `spec`, if this build has a
/// typed path for that upgrade.
pub fn reference_root<S: Blockstore>(
    store: &S,
    state_root: &Cid,
    spec: &UpgradeSpec,
) -> Result<Cid> {
    match spec.name.as_str() {
        "nv21" => reference_nv21(store, state_root, spec.network),
        "nv22" => reference_nv22(store, state_root, spec),
        other => Err(Error::Invalid(format!(
            "no typed reference path for upgrade {other}"
        ))),
    }
}
