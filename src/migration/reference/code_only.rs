//! The typed reference path of an upgrade that only swaps code (the fix
//! upgrades, nv27, nv28): every code mapped by name, the system actor
//! pointing at the new manifest, every other head kept.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::{load_state, rebuild_state};
use crate::migration::spec::UpgradeSpec;

/// The code-only migration of `state_root`, computed the reference way.
pub fn reference_code_only<S: Blockstore>(
    store: &S,
    state_root: &Cid,
    spec: &UpgradeSpec,
) -> crate::error::Result<Cid> {
    let run = || {
        let (root, input) = load_state(store, state_root)?;
        rebuild_state(
            store,
            &root,
            &input,
            &spec.old_manifest,
            &spec.new_manifest,
            |_, _, _| Ok(None),
        )
    };
    run().map_err(|e: anyhow::Error| {
        crate::error::Error::Invalid(format!("reference {}: {e:#}", spec.name))
    })
}
