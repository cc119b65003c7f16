//! An upgrade as one value: its definition ([`UpgradeDef`], one per
//! upgrade folder under [`super::upgrades`], listed in that module's
//! registry) and its spec loaded for a network ([`UpgradeSpec`]). The
//! runner, verification and the reference check receive an [`Upgrade`] and
//! call what its definition holds; none of them names an upgrade.

use cid::Cid;

use super::context::RunStore;
use super::migrators::{Named, PostMigrator};
use super::spec::UpgradeSpec;
use crate::actors::manifest::Network;
use crate::error::Result;
use crate::store::DynStore;

/// Builds an upgrade's own migrators for one run (the runner adds `code`
/// and `system`). They may share what they collect, as nv22's miner and
/// market do; `store` is the run's buffered store.
pub type MigratorsFn = fn(&UpgradeSpec, &RunStore<'_>) -> Result<Vec<Named>>;

/// Builds an upgrade's post-migrators, in the order they run.
pub type PostMigratorsFn = fn() -> Vec<Box<dyn PostMigrator>>;

/// The typed reference migration of a state: decode with the version's
/// `fil_actor_*_state` types, rebuild every tree with `fvm_ipld_amt` /
/// `fvm_ipld_hamt` (see [`super::reference`]).
pub type ReferenceFn = fn(&DynStore<'_>, &Cid, &UpgradeSpec) -> anyhow::Result<Cid>;

/// A check of a migrated state beyond comparing roots (`--verify`): what it
/// found, in a line ("126 sectors of 3 miners decode as v12").
pub type OutputCheckFn = fn(&DynStore<'_>, &Cid, &UpgradeSpec) -> Result<String>;

/// Everything about one upgrade that is code rather than data.
pub struct UpgradeDef {
    /// Its name, the spec's `name` ("nv22", "nv21fix").
    pub name: &'static str,
    /// The spec, TOML: heights, bundles, the migrator of each actor.
    pub spec_text: &'static str,
    /// The migrators the spec may name besides `code` and `system`.
    pub migrators: MigratorsFn,
    /// What runs on the whole output tree after every actor.
    pub post_migrators: PostMigratorsFn,
    /// The independent typed path the engine's result must equal.
    pub reference: ReferenceFn,
    /// A further check of the output under `--verify`, if any.
    pub output_check: Option<OutputCheckFn>,
}

impl std::fmt::Debug for UpgradeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeDef")
            .field("name", &self.name)
            .finish()
    }
}

/// An upgrade ready to run on one network: its spec for that network and
/// its definition. It reads as its spec (`upgrade.height`).
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// The spec for the network.
    pub spec: UpgradeSpec,
    /// The code.
    pub def: &'static UpgradeDef,
}

impl Upgrade {
    /// `def`'s spec parsed and checked for `network`.
    pub fn of(def: &'static UpgradeDef, network: Network) -> Result<Self> {
        let spec = UpgradeSpec::parse(def.spec_text, network)?;
        if spec.name != def.name {
            return Err(crate::error::Error::Spec {
                upgrade: def.name.into(),
                reason: format!("its spec is named {:?}", spec.name),
            });
        }
        Ok(Upgrade { spec, def })
    }

    /// The typed reference migration of the state at `root` in `store`.
    pub fn reference_root<S: fvm_ipld_blockstore::Blockstore + Sync>(
        &self,
        store: &S,
        root: &Cid,
    ) -> Result<Cid> {
        (self.def.reference)(&DynStore::new(store), root, &self.spec).map_err(|e| {
            crate::error::Error::Reference {
                upgrade: self.name.clone(),
                reason: format!("{e:#}"),
            }
        })
    }
}

impl std::ops::Deref for Upgrade {
    type Target = UpgradeSpec;

    fn deref(&self) -> &UpgradeSpec {
        &self.spec
    }
}
