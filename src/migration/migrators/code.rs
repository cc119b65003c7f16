//! The default migrator: same head, new code.

use cid::Cid;

use super::ActorMigrator;
use crate::error::Result;
use crate::migration::context::{ActorInput, MigrationCtx};

/// Keeps the head; the runner sets the new code.
#[derive(Debug, Default)]
pub struct CodeMigrator;

impl ActorMigrator for CodeMigrator {
    fn migrate_state(&self, _ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        Ok(actor.head)
    }
}
