//! nv25 Teep (actors v15 → v16, FIP-0100 / FIP-0097; docs/upgrades/nv25.md): every
//! miner's vesting table moves inline and its 48 deadlines gain
//! `live_power` and `daily_fee`; every EVM actor gains `transient_data`.
//! Sectors, partitions and expiration sets keep their bytes: v16 decodes
//! the old encodings.

pub mod evm;
pub mod miner;

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::Named;

/// nv25's own migrators, by the names its spec uses.
pub fn migrators<'a, B: Blockstore + Sync + 'a, S: Blockstore>(
    store: &S,
) -> Result<Vec<Named<'a, B>>> {
    Ok(vec![
        (
            "nv25_miner".to_string(),
            Box::new(miner::Nv25MinerMigrator::new(store)?),
        ),
        ("nv25_evm".to_string(), Box::new(evm::TransientData)),
    ])
}
