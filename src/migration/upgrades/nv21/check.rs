//! nv21's check of a migrated state under `--verify`: every sector info of
//! every miner decodes with the v12 type and sits at its own number.

use cid::Cid;
use fil_actor_miner_state::v12;

use crate::actors::state_tree::{get_cbor, RawActor, StateRoot};
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::for_each_value;
use crate::ipld::hamt::for_each_entry;
use crate::migration::spec::UpgradeSpec;
use crate::store::DynStore;

/// Decodes every sector of the migrated state at `root`; says how many.
pub fn sectors_decode_as_v12(
    store: &DynStore<'_>,
    root: &Cid,
    spec: &UpgradeSpec,
) -> Result<String> {
    let state: StateRoot = get_cbor(store, root, "state root")?;
    let miner_code = spec
        .new_manifest
        .code_of("storageminer")
        .ok_or_else(|| Error::Spec {
            upgrade: spec.name.clone(),
            reason: "no storageminer in the new manifest".into(),
        })?;
    let (mut miners, mut sectors_decoded) = (0u64, 0u64);
    for_each_entry(store, &state.actors, 5, |_k, v| {
        let a = RawActor::parse(v, &state.actors)?;
        if a.code != miner_code {
            return Ok(());
        }
        let head = crate::ipld::load_block(store, &a.head, Some(state.actors))?;
        let fields = tuple::elements(&head, 15, "miner state v12", &a.head)?;
        let sectors = tuple::cid_at(&head, &fields[9], "miner sectors", &a.head)?;
        for_each_value(store, &sectors, |i, bytes| {
            let s: v12::SectorOnChainInfo =
                fvm_ipld_encoding::from_slice(bytes).map_err(|e| Error::Malformed {
                    what: "migrated sectors AMT",
                    cid: sectors,
                    reason: format!("sector {i} does not decode as v12: {e}"),
                })?;
            if s.sector_number != i {
                return Err(Error::Malformed {
                    what: "migrated sectors AMT",
                    cid: sectors,
                    reason: format!("the sector at index {i} has number {}", s.sector_number),
                });
            }
            sectors_decoded += 1;
            Ok(())
        })?;
        miners += 1;
        Ok(())
    })?;
    Ok(format!(
        "{sectors_decoded} sectors of {miners} miners decode as v12"
    ))
}
