//! Declarative upgrade specs (each upgrade folder's `spec.toml`): heights
//! per network, the actors versions (and so manifests) on each side, and
//! which migrator each actor gets. A spec is data; the code that goes with
//! it is the folder's [`super::upgrade::UpgradeDef`].

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::actors::manifest::{Manifest, Network};
use crate::error::{Error, Result};

/// The migrator every upgrade has: new code CID, same head.
pub const CODE_MIGRATOR: &str = "code";
/// The system actor's migrator: head becomes `[new manifest data]`.
pub const SYSTEM_MIGRATOR: &str = "system";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: String,
    description: String,
    network_version: u32,
    from_actors_version: u32,
    to_actors_version: u32,
    heights: BTreeMap<String, i64>,
    /// Input bundle release per network, where not the version's final one.
    #[serde(default)]
    from_bundles: BTreeMap<String, String>,
    /// Output bundle release per network, where not the version's final one.
    #[serde(default)]
    bundles: BTreeMap<String, String>,
    migrators: BTreeMap<String, String>,
}

/// A validated upgrade spec for one network.
#[derive(Debug, Clone)]
pub struct UpgradeSpec {
    /// Upgrade name ("nv21").
    pub name: String,
    /// The network version the upgrade starts.
    pub network_version: u32,
    /// Human description.
    pub description: String,
    /// Network.
    pub network: Network,
    /// Upgrade epoch on that network.
    pub height: i64,
    /// Manifest of the input actors.
    pub old_manifest: Manifest,
    /// Manifest of the output actors.
    pub new_manifest: Manifest,
    /// Migrator name per actor name of the old manifest (`code`,
    /// `system`, or one of the upgrade's own, see [`super::upgrades`]).
    pub migrators: BTreeMap<String, String>,
}

impl UpgradeSpec {
    /// Parses and validates a spec text for `network`.
    pub fn parse(text: &str, network: Network) -> Result<Self> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| Error::Spec {
            upgrade: "(unparsed)".into(),
            reason: format!("spec: {e}"),
        })?;
        let height = *raw
            .heights
            .get(&network.to_string())
            .ok_or_else(|| Error::Spec {
                upgrade: raw.name.clone(),
                reason: format!("no height for {network}"),
            })?;
        let manifest = |releases: &BTreeMap<String, String>, version: u32| {
            let m = match releases.get(&network.to_string()) {
                Some(release) => Manifest::load_release(network, release)?,
                None => Manifest::load(network, version)?,
            };
            if m.actors_version != version {
                return Err(Error::Spec {
                    upgrade: raw.name.clone(),
                    reason: format!(
                        "bundle {} is actors v{}, not v{version}",
                        m.release, m.actors_version
                    ),
                });
            }
            Ok(m)
        };
        let old_manifest = manifest(&raw.from_bundles, raw.from_actors_version)?;
        let new_manifest = manifest(&raw.bundles, raw.to_actors_version)?;
        let default = raw.migrators.get("default").cloned();
        let mut migrators = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, _) in &old_manifest.entries {
            match raw.migrators.get(name).cloned().or(default.clone()) {
                Some(kind) => {
                    if new_manifest.code_of(name).is_none() {
                        return Err(Error::Spec {
                            upgrade: raw.name.clone(),
                            reason: format!(
                                "actor {name:?} has no code in the actors v{} manifest",
                                raw.to_actors_version
                            ),
                        });
                    }
                    migrators.insert(name.clone(), kind);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Spec {
                upgrade: raw.name.clone(),
                reason: format!("incomplete: no migrator for {}", missing.join(", ")),
            });
        }
        for name in raw.migrators.keys() {
            if name != "default" && old_manifest.code_of(name).is_none() {
                return Err(Error::Spec {
                    upgrade: raw.name.clone(),
                    reason: format!(
                        "migrator given for {name:?}, which is not in the actors v{} manifest",
                        raw.from_actors_version
                    ),
                });
            }
        }
        Ok(UpgradeSpec {
            name: raw.name,
            network_version: raw.network_version,
            description: raw.description,
            network,
            height,
            old_manifest,
            new_manifest,
            migrators,
        })
    }
}
