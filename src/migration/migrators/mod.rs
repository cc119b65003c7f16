//! Per-actor migrators. Each turns an actor's old head into its new head; the
//! runner swaps the code CID by manifest name for all of them. The two every
//! upgrade has live here; an upgrade's own are in [`super::upgrades`].

pub mod code;
pub mod system;

use cid::Cid;

use super::context::{ActorInput, MigrationCtx};
use crate::error::Result;

/// Migrates one actor's state.
pub trait ActorMigrator: Send + Sync {
    /// Returns the actor's new head.
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid>;

    /// Whether the actor is migrated only after every other one (serially,
    /// from the input actor), because its new state depends on what the
    /// other migrators collected (nv22's market needs every miner's deals).
    fn deferred(&self) -> bool {
        false
    }

    /// For a deferred migrator, asked once before the pass: whether it can
    /// work from only the actors that changed since the run the cache
    /// remembers (a remapped actors tree visits no others); if not, every
    /// actor is visited.
    fn incremental_ok(&self, _ctx: &MigrationCtx<'_>) -> Result<bool> {
        Ok(false)
    }
}

/// A migrator by the name a spec gives it.
pub type Named = (String, Box<dyn ActorMigrator>);

/// `migrator` under the name a spec gives it.
pub fn named(name: &str, migrator: impl ActorMigrator + 'static) -> Named {
    (name.to_string(), Box::new(migrator))
}

/// Runs on the output actors tree once every actor (deferred ones too) is
/// in it: a change no single actor's migration can make (nv23 turns the
/// f090 multisig into an account). It must be a function of the input
/// tree applied to the output, so that running it again on a remapped
/// tree (which reuses the previous output where nothing changed) is exact.
pub trait PostMigrator: Send + Sync {
    /// Returns the new output actors tree.
    fn apply(&self, ctx: &MigrationCtx<'_>, input_tree: &Cid, output_tree: Cid) -> Result<Cid>;
}
