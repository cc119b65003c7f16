//! Run-time verification (`--verify`): the migration is run again from
//! scratch with no cache and must give the same root; then for nv21 every
//! migrated sector info must decode with the v12 type, and for later
//! upgrades the typed reference path must give the same root.

use cid::Cid;
use fil_actor_miner_state::v12;
use fvm_ipld_blockstore::Blockstore;

use super::cache::ScratchCache;
use super::runner::{migrate_state, MigrationOptions};
use super::spec::UpgradeSpec;
use crate::actors::state_tree::{get_cbor, RawActor, StateRoot};
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::for_each_value;
use crate::ipld::hamt::for_each_entry;

/// What verification checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifySummary {
    /// Root of the uncached from-scratch run.
    pub from_scratch_root: String,
    /// Miners whose sectors were decoded.
    pub miners: u64,
    /// Sector infos decoded with the v12 type.
    pub sectors_decoded: u64,
    /// Root of the typed reference path, where it ran.
    pub reference_root: Option<String>,
}

/// Re-runs `spec` on `input_root` without a cache and compares with `migrated_root`,
/// then decodes every sector of the migrated state with the v12 types.
pub fn verify<B: Blockstore + Sync>(
    backing: &B,
    input_root: &Cid,
    migrated_root: &Cid,
    spec: &UpgradeSpec,
    opts: &MigrationOptions,
) -> Result<VerifySummary> {
    let scratch = migrate_state(backing, input_root, spec, &ScratchCache::default(), opts)?;
    if scratch.state_root != *migrated_root {
        return Err(Error::Invalid(format!(
            "verification failed: the migration gave {migrated_root} but an uncached from-scratch run gives {}",
            scratch.state_root
        )));
    }
    let mut summary = VerifySummary {
        from_scratch_root: scratch.state_root.to_string(),
        ..Default::default()
    };
    if spec.name != "nv21" {
        // The typed reference path, independent of the engine.
        let reference = super::reference::reference_root(backing, input_root, spec)?;
        if reference != *migrated_root {
            return Err(Error::Invalid(format!(
                "verification failed: the migration gave {migrated_root} but the typed reference path gives {reference}"
            )));
        }
        summary.reference_root = Some(reference.to_string());
        return Ok(summary);
    }
    let root: StateRoot = get_cbor(backing, migrated_root, "state root")?;
    let miner_code = spec
        .new_manifest
        .code_of("storageminer")
        .ok_or_else(|| Error::Invalid("no storageminer in the new manifest".into()))?;
    for_each_entry(backing, &root.actors, 5, |_k, v| {
        let a = RawActor::parse(v, &root.actors)?;
        if a.code != miner_code {
            return Ok(());
        }
        let head = crate::ipld::load_block(backing, &a.head, Some(root.actors))?;
        let fields = tuple::elements(&head, 15, "miner state v12", &a.head)?;
        let sectors = tuple::cid_at(&head, &fields[9], "miner sectors", &a.head)?;
        for_each_value(backing, &sectors, |i, bytes| {
            let s: v12::SectorOnChainInfo = fvm_ipld_encoding::from_slice(bytes).map_err(|e| {
                Error::Invalid(format!(
                    "migrated sector {i} of {sectors} does not decode as v12: {e}"
                ))
            })?;
            if s.sector_number != i {
                return Err(Error::Invalid(format!(
                    "migrated sector at index {i} of {sectors} has number {}",
                    s.sector_number
                )));
            }
            summary.sectors_decoded += 1;
            Ok(())
        })?;
        summary.miners += 1;
        Ok(())
    })?;
    Ok(summary)
}
