//! What a state is, read from the state itself: the actors bundle from the
//! system actor's manifest link, the network from the init actor's
//! `NetworkName`. `--upgrade auto` picks the upgrade from these, and every
//! run checks them against the upgrade it was asked for: migrating a state
//! of the wrong version or network would otherwise fail midway (an actor's
//! code "not in the manifest") or, worse, succeed with the wrong bundle.

use super::spec::UpgradeSpec;
use super::upgrade::Upgrade;
use super::upgrades::shipped;
pub use crate::actors::facts::{state_facts, StateFacts};
use crate::actors::manifest::Network;
use crate::error::{Error, Result};

/// Checks that `spec` migrates a state with these facts: its network and
/// its input bundle.
pub fn check_spec(facts: &StateFacts, spec: &UpgradeSpec) -> Result<()> {
    // A name with no bundles here was resolved by the caller; its bundle
    // is checked below all the same.
    if let Some(n) = facts.network().filter(|n| *n != spec.network) {
        return Err(Error::WrongState(format!(
            "the state is a {n} state (its init actor's network name is {:?}), but {} here is {}'s",
            facts.network_name, spec.name, spec.network,
        )));
    }
    if facts.manifest_data != spec.old_manifest.data_cid {
        return Err(Error::WrongState(format!(
            "the state runs {}, but {} migrates actors v{} ({} {})",
            facts.describe(),
            spec.name,
            spec.old_manifest.actors_version,
            spec.network,
            spec.old_manifest.release
        )));
    }
    Ok(())
}

/// The shipped upgrade that starts from the state's bundle on `network`
/// (see [`StateFacts::resolve_network`]).
pub fn next_upgrade(facts: &StateFacts, network: Network) -> Result<Upgrade> {
    shipped(network)
        .into_iter()
        .find(|s| s.old_manifest.data_cid == facts.manifest_data)
        .ok_or_else(|| {
            Error::WrongState(format!(
                "no upgrade in this build starts from {} on {network}",
                facts.describe()
            ))
        })
}
