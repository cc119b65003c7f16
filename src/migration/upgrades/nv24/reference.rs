//! The typed reference path for nv24 (docs/upgrades/nv24.md, as go-state-types
//! `builtin/v15/migration` runs it): the v14 power state decoded and
//! rebuilt as v15 with the FIP-0081 ramp.

use cid::Cid;
use fil_actor_power_state::{v14, v15};
use fvm_ipld_blockstore::Blockstore;

use crate::actors::manifest::Network;
use crate::migration::reference::{get, put, rebuild_by_spec, R};
use crate::migration::spec::UpgradeSpec;

/// The nv24 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    // Lotus `UpgradeTuktukPowerRampDurationEpochs`.
    let duration: u64 = match spec.network {
        Network::Mainnet => 1_051_200,
        Network::Calibnet => 8_640,
    };
    anyhow::ensure!(spec.height > 0, "ramp start epoch {}", spec.height);
    rebuild_by_spec(store, state_root, spec, |name, _, a| {
        if name != "storagepower" {
            return Ok(None);
        }
        let st: v14::State = get(store, &a.head)?;
        let out = v15::State {
            total_raw_byte_power: st.total_raw_byte_power,
            total_bytes_committed: st.total_bytes_committed,
            total_quality_adj_power: st.total_quality_adj_power,
            total_qa_bytes_committed: st.total_qa_bytes_committed,
            total_pledge_collateral: st.total_pledge_collateral,
            this_epoch_raw_byte_power: st.this_epoch_raw_byte_power,
            this_epoch_quality_adj_power: st.this_epoch_quality_adj_power,
            this_epoch_pledge_collateral: st.this_epoch_pledge_collateral,
            this_epoch_qa_power_smoothed:
                fil_actors_shared::v15::builtin::reward::smooth::FilterEstimate {
                    position: st.this_epoch_qa_power_smoothed.position,
                    velocity: st.this_epoch_qa_power_smoothed.velocity,
                },
            miner_count: st.miner_count,
            miner_above_min_power_count: st.miner_above_min_power_count,
            ramp_start_epoch: spec.height,
            ramp_duration_epochs: duration,
            cron_event_queue: st.cron_event_queue,
            first_cron_epoch: st.first_cron_epoch,
            claims: st.claims,
            proof_validation_batch: st.proof_validation_batch,
        };
        Ok(Some(put(store, &out)?))
    })
}
