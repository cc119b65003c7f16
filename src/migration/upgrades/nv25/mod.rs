//! nv25 Teep (actors v15 → v16, FIP-0100 / FIP-0097; docs/upgrades/nv25.md): every
//! miner's vesting table moves inline and its 48 deadlines gain
//! `live_power` and `daily_fee`; every EVM actor gains `transient_data`.
//! Sectors, partitions and expiration sets keep their bytes: v16 decodes
//! the old encodings.

pub(crate) mod evm;
pub(crate) mod miner;
pub(crate) mod reference;

use crate::migration::migrators::named;
use crate::migration::upgrade::UpgradeDef;

/// nv25 Teep.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv25",
    spec_text: include_str!("spec.toml"),
    migrators: |_, store| {
        Ok(vec![
            named("nv25_miner", miner::Nv25MinerMigrator::new(store)?),
            named("nv25_evm", evm::TransientData),
        ])
    },
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: None,
};
