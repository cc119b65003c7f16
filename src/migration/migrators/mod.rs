//! Per-actor migrators. Each turns an actor's old head into its new head; the
//! runner swaps the code CID by manifest name for all of them. The two every
//! upgrade has live here; an upgrade's own are in [`super::upgrades`].

pub mod code;
pub mod system;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::context::{ActorInput, MigrationCtx};
use crate::error::Result;

/// Migrates one actor's state.
pub trait ActorMigrator<B: Blockstore>: Send + Sync {
    /// Returns the actor's new head.
    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid>;

    /// Whether the actor is migrated only after every other one (serially,
    /// from the input actor), because its new state depends on what the
    /// other migrators collected (nv22's market needs every miner's deals).
    fn deferred(&self) -> bool {
        false
    }
}

/// A migrator by the name a spec gives it.
pub type Named<'a, B> = (String, Box<dyn ActorMigrator<B> + 'a>);
