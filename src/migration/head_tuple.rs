//! An actor's head read as the CBOR tuple it is, the opening and closing
//! every state migrator shares: read the head, split it into its fields,
//! take links from it; and (for a migrator that keeps most of the state)
//! vouch for the links the new head keeps, replace the changed fields, put
//! the new head and flush it when over budget.

use std::ops::Range;
use std::sync::Arc;

use cid::Cid;

use super::context::{ActorInput, MigrationCtx};
use crate::actors::tuple;
use crate::error::Result;
use crate::ipld::links::walkable_links_of;

/// A head block and the byte ranges of its fields.
pub struct HeadTuple {
    /// The head's CID (errors name it).
    pub cid: Cid,
    /// The block.
    pub bytes: Arc<[u8]>,
    /// Each field's bytes in `bytes`.
    pub fields: Vec<Range<usize>>,
}

impl HeadTuple {
    /// Reads `actor`'s head, which must be a tuple of `fields` elements
    /// (`what` names the layout in errors: "miner state v15").
    pub fn read(
        ctx: &MigrationCtx<'_>,
        actor: &ActorInput,
        fields: u64,
        what: &'static str,
    ) -> Result<Self> {
        let bytes = ctx.get(&actor.head, None)?;
        let fields = tuple::elements(&bytes, fields, what, &actor.head)?;
        Ok(HeadTuple {
            cid: actor.head,
            bytes,
            fields,
        })
    }

    /// The link in field `i` (`what` names it in errors).
    pub fn link(&self, i: usize, what: &'static str) -> Result<Cid> {
        tuple::cid_at(&self.bytes, &self.fields[i], what, &self.cid)
    }

    /// The bytes of field `i`.
    pub fn field(&self, i: usize) -> &[u8] {
        &self.bytes[self.fields[i].clone()]
    }

    /// Every link of the head, read from the input.
    pub fn links(&self) -> Result<Vec<Cid>> {
        walkable_links_of(&self.cid, &self.bytes)
    }

    /// The new head: these fields replaced, the others kept as they are
    /// (their links vouched for: they were read from the input, so the
    /// flush need not look each up again), stored, and flushed if the
    /// buffer is over budget.
    pub fn rewrite(&self, ctx: &MigrationCtx<'_>, replacements: &[(usize, &[u8])]) -> Result<Cid> {
        ctx.store.vouch(&self.links()?);
        let new = tuple::replace(&self.bytes, &self.fields, replacements);
        let head = ctx.put(&new);
        ctx.flush_if_over_budget(&head)?;
        Ok(head)
    }
}
