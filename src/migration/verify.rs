//! Run-time verification (`--verify`): the migration is run again from
//! scratch with no cache and must give the same root; the upgrade's own
//! check of the output runs where it has one (nv21 decodes every sector as
//! v12); and its typed reference path must give the same root.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::cache::ScratchCache;
use super::runner::{migrate_state, MigrationOptions};
use super::upgrade::Upgrade;
use crate::error::{Error, Result};
use crate::store::DynStore;

/// What verification checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifySummary {
    /// Root of the uncached from-scratch run.
    pub from_scratch_root: String,
    /// What the upgrade's own check of the output found, if it has one.
    pub output_check: Option<String>,
    /// Root of the typed reference path.
    pub reference_root: String,
}

/// Re-runs `upgrade` on `input_root` without a cache and compares with
/// `migrated_root`, runs the upgrade's output check, then its typed
/// reference path.
pub fn verify<B: Blockstore + Sync>(
    backing: &B,
    input_root: &Cid,
    migrated_root: &Cid,
    upgrade: &Upgrade,
    opts: &MigrationOptions,
) -> Result<VerifySummary> {
    let scratch = migrate_state(backing, input_root, upgrade, &ScratchCache::default(), opts)?;
    if scratch.state_root != *migrated_root {
        return Err(Error::VerifyMismatch {
            by: "an uncached from-scratch run",
            migrated: *migrated_root,
            expected: scratch.state_root,
        });
    }
    let output_check = match upgrade.def.output_check {
        Some(check) => Some(check(&DynStore::new(backing), migrated_root, upgrade)?),
        None => None,
    };
    let reference = upgrade.reference_root(backing, input_root)?;
    if reference != *migrated_root {
        return Err(Error::VerifyMismatch {
            by: "the typed reference path",
            migrated: *migrated_root,
            expected: reference,
        });
    }
    Ok(VerifySummary {
        from_scratch_root: scratch.state_root.to_string(),
        output_check,
        reference_root: reference.to_string(),
    })
}
