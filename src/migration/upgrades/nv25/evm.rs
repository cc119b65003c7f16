//! EVM state v15 → v16: `transient_data` (FIP-0097 transient storage)
//! inserted as `null` after `contract_state`; the other five fields keep
//! their bytes (docs/upgrades/nv25.md).

use cid::Cid;

use crate::actors::tuple;
use crate::error::Result;
use crate::ipld::links::walkable_links_of;
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::migrators::ActorMigrator;

const FIELDS_V15: u64 = 5;
/// `transient_data` goes before this index (`nonce`).
const TRANSIENT_AT: usize = 3;
const CBOR_NULL: &[u8] = &[0xf6];

/// EVM state v15 → v16.
pub struct TransientData;

impl ActorMigrator for TransientData {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let head = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&head, FIELDS_V15, "EVM state v15", &actor.head)?;
        ctx.store.vouch(&walkable_links_of(&actor.head, &head)?);
        let mut parts: Vec<&[u8]> = fields.iter().map(|r| &head[r.clone()]).collect();
        parts.insert(TRANSIENT_AT, CBOR_NULL);
        Ok(ctx.put(&tuple::assemble(&parts)))
    }
}
