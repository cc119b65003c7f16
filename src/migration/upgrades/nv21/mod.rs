//! nv21 Watermelon (actors v11 → v12, docs/upgrades/nv21.md): every miner's sector infos
//! are re-encoded (v12 adds `power_base_epoch` and `flags`), in the sectors
//! AMT and in each deadline's snapshot.

pub mod check;
pub mod miner;
pub mod reference;

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::Named;
use crate::migration::upgrade::UpgradeDef;

/// nv21 Watermelon.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv21",
    spec_text: include_str!("spec.toml"),
    migrators: |_, store| migrators(store),
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference_nv21(store, root, spec),
    output_check: Some(check::sectors_decode_as_v12),
};

/// nv21's own migrators, by the names its spec uses.
pub fn migrators<S: Blockstore>(store: &S) -> Result<Vec<Named>> {
    Ok(vec![(
        "nv21_miner".to_string(),
        Box::new(miner::Nv21MinerMigrator::new(store)?),
    )])
}
