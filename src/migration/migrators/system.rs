//! The system actor: its state is `[builtin_actors]`, the new manifest's data CID.

use cid::Cid;

use super::ActorMigrator;
use crate::error::{Error, Result};
use crate::migration::context::{ActorInput, MigrationCtx};

/// Points the system actor at the new manifest data (and stores that block).
#[derive(Debug, Default)]
pub struct SystemMigrator;

impl ActorMigrator for SystemMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, _actor: &ActorInput) -> Result<Cid> {
        let m = &ctx.spec.new_manifest;
        m.store(ctx.store)?;
        let bytes = fvm_ipld_encoding::to_vec(&fil_actor_system_state::v12::State {
            builtin_actors: m.data_cid,
        })
        .map_err(|e| Error::Encode {
            what: "system state",
            reason: e.to_string(),
        })?;
        Ok(ctx.put(&bytes))
    }
}
