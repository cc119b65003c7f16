//! Market state v18 → v19: `pending_deal_allocation_ids` (index 11) is
//! dropped, `provider_sectors` moves up to take its place. The dropped HAMT
//! is simply no longer referenced.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::tuple;
use crate::error::Result;
use crate::ipld::links::walkable_links_of;
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::migrators::ActorMigrator;

const FIELDS_V18: u64 = 13;
const PENDING_DEAL_ALLOCATION_IDS: usize = 11;

/// Market state v18 → v19.
pub struct DropPendingAllocations;

impl<B: Blockstore + Sync> ActorMigrator<B> for DropPendingAllocations {
    fn migrate_state(&self, ctx: &MigrationCtx<'_, B>, actor: &ActorInput) -> Result<Cid> {
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, FIELDS_V18, "market state v18", &actor.head)?;
        let dropped = tuple::cid_at(
            &head,
            &fields[PENDING_DEAL_ALLOCATION_IDS],
            "market pending_deal_allocation_ids",
            &actor.head,
        )?;
        let kept: Vec<Cid> = walkable_links_of(&actor.head, &head)?
            .into_iter()
            .filter(|l| *l != dropped)
            .collect();
        ctx.store.vouch(&kept);
        let parts: Vec<&[u8]> = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != PENDING_DEAL_ALLOCATION_IDS)
            .map(|(_, r)| &head[r.clone()])
            .collect();
        Ok(ctx.put(&tuple::assemble(&parts)))
    }
}
