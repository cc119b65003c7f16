//! Declarative upgrade specs (`migrations/*.toml`): heights per network, the
//! actors versions (and so manifests) on each side, and which migrator each
//! actor gets. A new upgrade is mostly a new spec plus one transform module.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::actors::manifest::{Manifest, Network};
use crate::error::{Error, Result};

/// The specs shipped with this build, by name.
const SPECS: &[(&str, &str)] = &[("nv21", include_str!("../../migrations/nv21.toml"))];

/// The migrators the runner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigratorKind {
    /// New code CID, same head.
    Code,
    /// System actor: head becomes `[new manifest data]`.
    System,
    /// nv21 miner: sector infos v11 → v12, deadline snapshots.
    Nv21Miner,
}

#[derive(Debug, Deserialize)]
struct RawSpec {
    name: String,
    description: String,
    from_actors_version: u32,
    to_actors_version: u32,
    heights: BTreeMap<String, i64>,
    migrators: BTreeMap<String, MigratorKind>,
}

/// A validated upgrade spec for one network.
#[derive(Debug, Clone)]
pub struct UpgradeSpec {
    /// Upgrade name ("nv21").
    pub name: String,
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
    /// Migrator per actor name of the old manifest.
    pub migrators: BTreeMap<String, MigratorKind>,
}

impl UpgradeSpec {
    /// Loads a shipped spec by name for `network`.
    pub fn load(name: &str, network: Network) -> Result<Self> {
        let text = SPECS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let known: Vec<&str> = SPECS.iter().map(|(n, _)| *n).collect();
                Error::Invalid(format!(
                    "unknown upgrade {name:?} (known: {})",
                    known.join(", ")
                ))
            })?;
        Self::parse(text, network)
    }

    /// Parses and validates a spec text for `network`.
    pub fn parse(text: &str, network: Network) -> Result<Self> {
        let raw: RawSpec =
            toml::from_str(text).map_err(|e| Error::Invalid(format!("upgrade spec: {e}")))?;
        let height = *raw.heights.get(&network.to_string()).ok_or_else(|| {
            Error::Invalid(format!("upgrade {} has no height for {network}", raw.name))
        })?;
        let old_manifest = Manifest::load(network, raw.from_actors_version)?;
        let new_manifest = Manifest::load(network, raw.to_actors_version)?;
        let default = raw.migrators.get("default").copied();
        let mut migrators = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, _) in &old_manifest.entries {
            match raw.migrators.get(name).copied().or(default) {
                Some(kind) => {
                    if new_manifest.code_of(name).is_none() {
                        return Err(Error::Invalid(format!(
                            "upgrade {}: actor {name:?} has no code in the actors v{} manifest",
                            raw.name, raw.to_actors_version
                        )));
                    }
                    migrators.insert(name.clone(), kind);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "upgrade {} is incomplete: no migrator for {}",
                raw.name,
                missing.join(", ")
            )));
        }
        for name in raw.migrators.keys() {
            if name != "default" && old_manifest.code_of(name).is_none() {
                return Err(Error::Invalid(format!(
                    "upgrade {}: migrator given for {name:?}, which is not in the actors v{} manifest",
                    raw.name, raw.from_actors_version
                )));
            }
        }
        Ok(UpgradeSpec {
            name: raw.name,
            description: raw.description,
            network,
            height,
            old_manifest,
            new_manifest,
            migrators,
        })
    }
}
