//! nv25 Teep (actors v15 → v16, FIP-0100 / FIP-0097; docs/upgrades/nv25.md): every
//! miner's vesting table moves inline and its 48 deadlines gain
//! `live_power` and `daily_fee`; every EVM actor gains `transient_data`.
//! Sectors, partitions and expiration sets keep their bytes: v16 decodes
//! the old encodings.

pub mod evm;
pub mod miner;
pub mod reference;

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::Named;
use crate::migration::upgrade::UpgradeDef;

/// nv25 Teep.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv25",
    spec_text: include_str!("spec.toml"),
    migrators: |_, store| migrators(store),
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference_nv25(store, root, spec),
    output_check: None,
};

/// nv25's own migrators, by the names its spec uses.
pub fn migrators<S: Blockstore>(store: &S) -> Result<Vec<Named>> {
    Ok(vec![
        (
            "nv25_miner".to_string(),
            Box::new(miner::Nv25MinerMigrator::new(store)?),
        ),
        ("nv25_evm".to_string(), Box::new(evm::TransientData)),
    ])
}
