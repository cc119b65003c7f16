//! Every upgrade this build runs: one folder each, holding its spec
//! (`spec.toml`, data) and, where it transforms more than code CIDs, its
//! migrators, post-migrators, typed reference path and output check, all
//! in the one [`UpgradeDef`] the folder exports. [`REGISTRY`] lists them;
//! nothing else in the crate names an upgrade. A code-only upgrade (the
//! calibnet fixes, nv26fix, nv27, nv28) is a folder with its spec and a
//! registry line.

pub mod nv21;
pub mod nv22;
pub mod nv23;
pub mod nv24;
pub mod nv25;
pub mod nv29;

use crate::actors::manifest::Network;
use crate::error::{Error, Result};
use crate::migration::reference::reference_code_only;
use crate::migration::spec::UpgradeSpec;
use crate::migration::upgrade::{Upgrade, UpgradeDef};

/// The upgrades of this build, in upgrade order.
pub static REGISTRY: &[&UpgradeDef] = &[
    &nv21::UPGRADE,
    &code_only("nv21fix", include_str!("nv21fix/spec.toml")),
    &code_only("nv21fix2", include_str!("nv21fix2/spec.toml")),
    &nv22::UPGRADE,
    &code_only("nv22fix", include_str!("nv22fix/spec.toml")),
    &nv23::UPGRADE,
    &nv24::UPGRADE,
    &nv25::UPGRADE,
    &code_only("nv26fix", include_str!("nv26fix/spec.toml")),
    &code_only("nv27", include_str!("nv27/spec.toml")),
    &code_only("nv28", include_str!("nv28/spec.toml")),
    &nv29::UPGRADE,
];

/// An upgrade that only swaps code CIDs (and the system actor's manifest):
/// the calibnet fixes, nv26fix, nv27, nv28.
const fn code_only(name: &'static str, spec_text: &'static str) -> UpgradeDef {
    UpgradeDef {
        name,
        spec_text,
        migrators: |_, _| Ok(Vec::new()),
        post_migrators: Vec::new,
        reference: |store, root, spec| reference_code_only(store, root, spec),
        output_check: None,
    }
}

/// The registered upgrade named `name`.
pub fn find(name: &str) -> Result<&'static UpgradeDef> {
    REGISTRY
        .iter()
        .copied()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown upgrade {name:?} (known: {})",
                names().join(", ")
            ))
        })
}

/// The registered upgrades' names, in order.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|d| d.name).collect()
}

/// Every registered upgrade that runs on `network`, in upgrade order.
pub fn shipped(network: Network) -> Vec<Upgrade> {
    REGISTRY
        .iter()
        .filter_map(|d| Upgrade::of(d, network).ok())
        .collect()
}

impl Upgrade {
    /// The registered upgrade `name` on `network`.
    pub fn load(name: &str, network: Network) -> Result<Self> {
        Upgrade::of(find(name)?, network)
    }

    /// A spec text (a registered upgrade's, edited) on `network`, run by the
    /// registered upgrade of its name.
    pub fn parse(text: &str, network: Network) -> Result<Self> {
        let spec = UpgradeSpec::parse(text, network)?;
        Ok(Upgrade {
            def: find(&spec.name)?,
            spec,
        })
    }
}
