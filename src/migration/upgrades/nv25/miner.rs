//! Miner state v15 → v16 (docs/upgrades/nv25.md):
//! - `vesting_funds` turns from a link to a `[[epoch, amount]...]` block
//!   into an inline nullable `[head entry, tail link]`; the tail block holds
//!   the other entries as a bare array (`[]` for a one-entry table), and an
//!   empty table is `null` with no tail block. Entries are copied verbatim.
//! - each of the 48 deadlines gains `live_power`, the sum of the live power
//!   of every partition in it, and `daily_fee = 0`; the Deadlines block is
//!   rewritten with the new links.
//!
//! Every other field keeps its bytes. The empty deadline (most deadlines of
//! most miners) maps to one precomputed block without reading anything.

use cid::Cid;
use fil_actor_miner_state::v15;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::state_tree::put_cbor;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::walk::for_each_value;
use crate::ipld::cbor::{self, Cursor};
use crate::ipld::links::walkable_links_of;
use crate::migration::cache::actor_head_key;
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::head_tuple::HeadTuple;
use crate::migration::migrators::ActorMigrator;

use crate::actors::miner_layout::{
    DEADLINES, DEADLINE_FIELDS as DEADLINE_FIELDS_V15, DEADLINE_PARTITIONS, STATE_DEADLINES,
    STATE_FIELDS, STATE_VESTING,
};
const PARTITION_FIELDS: u64 = 11;
const PARTITION_LIVE_POWER: usize = 7;
const CBOR_NULL: u8 = 0xf6;
/// A zero `TokenAmount`: the empty byte string.
const ZERO_TOKEN: &[u8] = &[0x40];

/// The nv25 miner migrator, with the empty deadline of both versions.
#[derive(Debug, Clone)]
pub struct Nv25MinerMigrator {
    empty_deadline_v15: Cid,
    empty_deadline_v16: Cid,
    empty_deadlines_v15: Cid,
    empty_deadlines_v16: Cid,
}

impl Nv25MinerMigrator {
    /// Builds the empty v15 deadline and, by this migration's own rule, its
    /// v16 image (and stores both), so an empty deadline costs nothing.
    pub fn new<S: Blockstore>(store: &S) -> Result<Self> {
        let policy = fil_actors_shared::v15::runtime::Policy::default();
        let empty = v15::Deadline::new(store).map_err(|e| Error::Encode {
            what: "empty deadline",
            reason: e.to_string(),
        })?;
        let d15 = put_cbor(store, &empty)?;
        let ds15 = put_cbor(store, &v15::Deadlines::new(&policy, d15))?;
        let bytes =
            store
                .get(&d15)
                .map_err(Error::from_blockstore)?
                .ok_or(Error::MissingBlock {
                    cid: d15,
                    parent: None,
                })?;
        let d16_bytes = deadline_v16(store, &d15, &bytes)?;
        let d16 = crate::ipld::cids::cbor_cid(&d16_bytes);
        store
            .put_keyed(&d16, &d16_bytes)
            .map_err(Error::from_blockstore)?;
        let ds16_bytes = deadlines_block(&[d16; DEADLINES]);
        let ds16 = crate::ipld::cids::cbor_cid(&ds16_bytes);
        store
            .put_keyed(&ds16, &ds16_bytes)
            .map_err(Error::from_blockstore)?;
        Ok(Nv25MinerMigrator {
            empty_deadline_v15: d15,
            empty_deadline_v16: d16,
            empty_deadlines_v15: ds15,
            empty_deadlines_v16: ds16,
        })
    }
}

impl ActorMigrator for Nv25MinerMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let head = HeadTuple::read(ctx, actor, STATE_FIELDS, "miner state v15")?;
        let deadlines_in = head.link(STATE_DEADLINES, "miner state deadlines")?;
        // As the reference, the whole result is cached under
        // `<addr>-head-<head>` (Go wraps this migrator in CachedMigration);
        // a miner with no deadline content costs less to redo than to look up.
        let head_key = (deadlines_in != self.empty_deadlines_v15)
            .then(|| actor_head_key(&actor.address, &actor.head));
        ctx.memoised_head(head_key.as_deref(), || {
            let vesting_in = head.link(STATE_VESTING, "miner state vesting_funds")?;
            let vesting_out = self.vesting(ctx, &vesting_in, &actor.head)?;
            let deadlines_out = self.deadlines(ctx, &deadlines_in, &actor.head)?;
            let d = tuple::encode_cid(&deadlines_out);
            head.rewrite(ctx, &[(STATE_VESTING, &vesting_out), (STATE_DEADLINES, &d)])
        })
    }
}

impl Nv25MinerMigrator {
    /// The inline v16 vesting field for the v15 table at `vesting`.
    fn vesting(&self, ctx: &MigrationCtx<'_>, vesting: &Cid, state: &Cid) -> Result<Vec<u8>> {
        let data = ctx.get(vesting, Some(*state))?;
        let entries = vesting_entries(&data, vesting)?;
        let Some((first, rest)) = entries.split_first() else {
            return Ok(vec![CBOR_NULL]);
        };
        let tail: Vec<&[u8]> = rest.iter().map(|r| &data[r.clone()]).collect();
        let tail_cid = ctx.put(&tuple::assemble(&tail));
        let link = tuple::encode_cid(&tail_cid);
        Ok(tuple::assemble(&[&data[first.clone()], &link]))
    }

    /// The v16 Deadlines block for the v15 one at `deadlines`.
    fn deadlines(&self, ctx: &MigrationCtx<'_>, deadlines: &Cid, state: &Cid) -> Result<Cid> {
        if *deadlines == self.empty_deadlines_v15 {
            return Ok(self.empty_deadlines_v16);
        }
        let bytes = ctx.get(deadlines, Some(*state))?;
        let dls: v15::Deadlines =
            fvm_ipld_encoding::from_slice(&bytes).map_err(|e| Error::Malformed {
                what: "miner deadlines v15",
                cid: *deadlines,
                reason: e.to_string(),
            })?;
        let mut due = [Cid::default(); DEADLINES];
        if dls.due.len() != DEADLINES {
            return Err(Error::Malformed {
                what: "miner deadlines v15",
                cid: *deadlines,
                reason: format!("{} deadlines, expected {DEADLINES}", dls.due.len()),
            });
        }
        for (out, dl) in due.iter_mut().zip(&dls.due) {
            *out = if *dl == self.empty_deadline_v15 {
                self.empty_deadline_v16
            } else {
                let data = ctx.get(dl, Some(*deadlines))?;
                ctx.store.vouch(&walkable_links_of(dl, &data)?);
                ctx.put(&deadline_v16(ctx.store, dl, &data)?)
            };
        }
        Ok(ctx.put(&deadlines_block(&due)))
    }
}

/// The byte ranges of a v15 vesting table's entries (`[[entry...]]`).
fn vesting_entries(data: &[u8], cid: &Cid) -> Result<Vec<std::ops::Range<usize>>> {
    let c = |e: cbor::CborError| Error::Cbor {
        cid: *cid,
        offset: e.offset,
        reason: format!("vesting funds v15: {}", e.reason),
    };
    let mut cur = Cursor::new(data);
    let outer = cur.array().map_err(c)?;
    if outer != 1 {
        return Err(Error::Malformed {
            what: "vesting funds v15",
            cid: *cid,
            reason: format!("a tuple of {outer} fields, expected 1"),
        });
    }
    let n = cur.array().map_err(c)?;
    let entries = (0..n)
        .map(|_| cur.skip().map_err(c))
        .collect::<Result<Vec<_>>>()?;
    if !cur.at_end() {
        return Err(Error::Malformed {
            what: "vesting funds v15",
            cid: *cid,
            reason: "trailing bytes after the tuple".into(),
        });
    }
    Ok(entries)
}

/// A v16 deadline from the v15 one `data` (at `cid`): its 11 fields, then
/// the live power summed over every partition, then a zero daily fee.
fn deadline_v16<S: Blockstore>(store: &S, cid: &Cid, data: &[u8]) -> Result<Vec<u8>> {
    let fields = tuple::elements(data, DEADLINE_FIELDS_V15, "miner deadline v15", cid)?;
    let partitions = tuple::cid_at(
        data,
        &fields[DEADLINE_PARTITIONS],
        "deadline partitions",
        cid,
    )?;
    let mut live = v15::PowerPair::zero();
    for_each_value(store, &partitions, |index, value| {
        let bad = |reason: String| Error::Malformed {
            what: "miner partition v15",
            cid: partitions,
            reason: format!("partition {index}: {reason}"),
        };
        let p = tuple::elements(value, PARTITION_FIELDS, "miner partition v15", &partitions)
            .map_err(|e| bad(e.to_string()))?;
        let power: v15::PowerPair =
            fvm_ipld_encoding::from_slice(&value[p[PARTITION_LIVE_POWER].clone()])
                .map_err(|e| bad(format!("live_power: {e}")))?;
        live.raw += power.raw;
        live.qa += power.qa;
        Ok(())
    })?;
    let live = fvm_ipld_encoding::to_vec(&live).map_err(|e| Error::Encode {
        what: "live power",
        reason: e.to_string(),
    })?;
    let mut parts: Vec<&[u8]> = fields.iter().map(|r| &data[r.clone()]).collect();
    parts.push(&live);
    parts.push(ZERO_TOKEN);
    Ok(tuple::assemble(&parts))
}

/// A Deadlines block: `[[48 links]]`.
fn deadlines_block(due: &[Cid; DEADLINES]) -> Vec<u8> {
    let links: Vec<Vec<u8>> = due.iter().map(tuple::encode_cid).collect();
    let refs: Vec<&[u8]> = links.iter().map(Vec::as_slice).collect();
    tuple::assemble(&[&tuple::assemble(&refs)])
}
