//! nv21 Watermelon (actors v11 → v12, docs/upgrades/nv21.md): every miner's sector infos
//! are re-encoded (v12 adds `power_base_epoch` and `flags`), in the sectors
//! AMT and in each deadline's snapshot.

pub(crate) mod check;
pub(crate) mod miner;
pub(crate) mod reference;

use crate::migration::migrators::named;
use crate::migration::upgrade::UpgradeDef;

/// nv21 Watermelon.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv21",
    spec_text: include_str!("spec.toml"),
    migrators: |_, store| {
        Ok(vec![named(
            "nv21_miner",
            miner::Nv21MinerMigrator::new(store)?,
        )])
    },
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: Some(check::sectors_decode_as_v12),
};
