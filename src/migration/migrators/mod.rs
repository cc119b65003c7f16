//! Per-actor migrators. Each turns an actor's old head into its new head; the
//! runner swaps the code CID by manifest name for all of them.

pub mod code;
pub mod nv21_miner;
pub mod system;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::context::{ActorInput, MigrationCtx};
use crate::error::Result;

/// Migrates one actor's state.
pub trait ActorMigrator<B: Blockstore>: Send + Sync {
    /// Returns the actor's new head.
    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid>;
}
