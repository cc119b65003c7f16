//! nv22 Dragon (actors v12 → v13, FIP-0076; UPGRADES §3).

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::Named;
use crate::migration::spec::UpgradeSpec;

/// nv22's own migrators, by the names its spec uses.
pub fn migrators<'a, B: Blockstore + Sync + 'a, S: Blockstore>(
    _spec: &UpgradeSpec,
    _store: &S,
) -> Result<Vec<Named<'a, B>>> {
    Ok(vec![])
}
