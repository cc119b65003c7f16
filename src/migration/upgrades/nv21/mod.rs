//! nv21 Watermelon (actors v11 → v12, docs/upgrades/nv21.md): every miner's sector infos
//! are re-encoded (v12 adds `power_base_epoch` and `flags`), in the sectors
//! AMT and in each deadline's snapshot.

pub mod miner;

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::Named;

/// nv21's own migrators, by the names its spec uses.
pub fn migrators<'a, B: Blockstore + Sync + 'a, S: Blockstore>(
    store: &S,
) -> Result<Vec<Named<'a, B>>> {
    Ok(vec![(
        "nv21_miner".to_string(),
        Box::new(miner::Nv21MinerMigrator::new(store)?),
    )])
}
