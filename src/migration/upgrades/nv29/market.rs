//! Market state v18 → v19: `pending_deal_allocation_ids` (index 11) is
//! dropped, `provider_sectors` moves up to take its place. The dropped HAMT
//! is simply no longer referenced.

use cid::Cid;

use crate::actors::tuple;
use crate::error::Result;
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::head_tuple::HeadTuple;
use crate::migration::migrators::ActorMigrator;

const FIELDS_V18: u64 = 13;
const PENDING_DEAL_ALLOCATION_IDS: usize = 11;

/// Market state v18 → v19.
pub struct DropPendingAllocations;

impl ActorMigrator for DropPendingAllocations {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let head = HeadTuple::read(ctx, actor, FIELDS_V18, "market state v18")?;
        let dropped = head.link(
            PENDING_DEAL_ALLOCATION_IDS,
            "market pending_deal_allocation_ids",
        )?;
        let kept: Vec<Cid> = head
            .links()?
            .into_iter()
            .filter(|l| *l != dropped)
            .collect();
        ctx.store.vouch(&kept);
        let parts: Vec<&[u8]> = (0..head.fields.len())
            .filter(|i| *i != PENDING_DEAL_ALLOCATION_IDS)
            .map(|i| head.field(i))
            .collect();
        Ok(ctx.put(&tuple::assemble(&parts)))
    }
}
