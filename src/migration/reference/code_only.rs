//! The typed reference path of an upgrade that only swaps code (the fix
//! upgrades, nv27, nv28): every code mapped by name, the system actor
//! pointing at the new manifest, every other head kept.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::{rebuild_by_spec, R};
use crate::migration::spec::UpgradeSpec;

/// The code-only migration of `state_root`, computed the reference way.
pub fn reference_code_only<S: Blockstore>(
    store: &S,
    state_root: &Cid,
    spec: &UpgradeSpec,
) -> R<Cid> {
    rebuild_by_spec(store, state_root, spec, |_, _, _| Ok(None))
}
