//! nv24 TukTuk (actors v14 → v15, FIP-0081; docs/upgrades/nv24.md): the power actor's
//! state gains the pledge ramp, `ramp_start_epoch` (the upgrade height) and
//! `ramp_duration_epochs` (per network), inserted after
//! `miner_above_min_power_count`. Every other field's bytes are kept.

pub(crate) mod reference;

use cid::Cid;

use crate::actors::manifest::Network;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::migrators::{named, ActorMigrator};
use crate::migration::upgrade::UpgradeDef;

/// nv24 TukTuk.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv24",
    spec_text: include_str!("spec.toml"),
    migrators: |_, _| Ok(vec![named("nv24_power", PowerRamp)]),
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: None,
};

/// Fields of the v14 power state.
const FIELDS_V14: u64 = 15;
/// The new fields go before this index (`cron_event_queue`).
const RAMP_AT: usize = 11;

/// Epochs in a year (365 days of 2880 epochs).
const EPOCHS_IN_YEAR: u64 = 365 * 2880;

/// The ramp's length on `network`: a year on mainnet, three days on
/// calibnet (Lotus `UpgradeTuktukPowerRampDurationEpochs`).
pub fn ramp_duration_epochs(network: Network) -> u64 {
    match network {
        Network::Mainnet => EPOCHS_IN_YEAR,
        Network::Calibnet => 3 * 2880,
    }
}

/// Power state v14 → v15.
pub struct PowerRamp;

impl ActorMigrator for PowerRamp {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        // Go rejects a ramp that would never start or never end; so do we.
        if ctx.spec.height <= 0 {
            return Err(Error::Spec {
                upgrade: ctx.spec.name.clone(),
                reason: format!(
                    "the ramp start epoch (the upgrade height) is {}, not positive",
                    ctx.spec.height
                ),
            });
        }
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, FIELDS_V14, "power state v14", &actor.head)?;
        let start = tuple::encode_int(ctx.spec.height);
        let duration = tuple::encode_int(ramp_duration_epochs(ctx.spec.network) as i64);
        let mut parts: Vec<&[u8]> = fields.iter().map(|r| &head[r.clone()]).collect();
        parts.splice(RAMP_AT..RAMP_AT, [start.as_slice(), duration.as_slice()]);
        Ok(ctx.put(&tuple::assemble(&parts)))
    }
}
