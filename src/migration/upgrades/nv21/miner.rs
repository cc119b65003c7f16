//! The nv21 miner migrator (docs/upgrades/nv21.md): every sector info of the `sectors`
//! AMT and of each non-empty deadline's `sectors_snapshot` goes v11 → v12;
//! every other byte of the state and deadlines is copied.
//!
//! A miner's sectors AMT is migrated by the cheapest path available, all
//! three giving the same root: a cache hit on `sectorsAmt-<in>`; a diff of
//! the miner's previously migrated input against this one, applied to the
//! previous output; or a bottom-up build from scratch. Deadline snapshots are
//! diffed against the miner's *current* sectors (just migrated), so each
//! sector info is transformed once.

use cid::Cid;
use fil_actor_miner_state::{v11, v12};
use fil_actors_shared::v11::runtime::Policy;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::sector_v11_v12::{transcode, transcode_prefix};
use crate::actors::state_tree::put_cbor;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::amt::AmtBuilder;
use crate::migration::amt_value_map::{migrate_amt, migrate_amt_version, ValueTransform};
use crate::migration::cache::{
    actor_head_key, prev_sectors_in_key, prev_sectors_out_key, sectors_amt_key,
};
use crate::migration::context::{ActorInput, MigrationCtx};
use crate::migration::head_tuple::HeadTuple;
use crate::migration::migrators::ActorMigrator;

pub use crate::actors::miner_layout::SECTORS_AMT_BITWIDTH;
use crate::actors::miner_layout::{
    DEADLINE_FIELDS, DEADLINE_SNAPSHOT, STATE_DEADLINES, STATE_FIELDS, STATE_SECTORS,
};

/// The nv21 miner migrator, with the empty structures of both versions.
#[derive(Debug, Clone)]
pub struct Nv21MinerMigrator {
    /// The empty sectors AMT (the same bytes in v11 and v12): most mainnet
    /// miners have no sectors, and theirs needs neither work nor a cache entry.
    empty_sectors: Cid,
    empty_deadline_v11: Cid,
    empty_deadlines_v11: Cid,
    empty_deadline_v12: Cid,
    empty_deadlines_v12: Cid,
}

impl Nv21MinerMigrator {
    /// Builds the empty deadline structures of v11 and v12 (and stores them).
    pub fn new<S: Blockstore>(store: &S) -> Result<Self> {
        let policy = Policy::default();
        let bad = |e: anyhow::Error| Error::Encode {
            what: "empty deadline",
            reason: format!("{e:#}"),
        };
        let d11 = put_cbor(store, &v11::Deadline::new(store).map_err(bad)?)?;
        let ds11 = put_cbor(store, &v11::Deadlines::new(&policy, d11))?;
        let d12 = put_cbor(store, &v12::Deadline::new(store).map_err(bad)?)?;
        let policy12 = fil_actors_shared::v12::runtime::Policy::default();
        let ds12 = put_cbor(store, &v12::Deadlines::new(&policy12, d12))?;
        let empty_sectors = AmtBuilder::new(store, SECTORS_AMT_BITWIDTH)?.finish()?;
        Ok(Nv21MinerMigrator {
            empty_sectors,
            empty_deadline_v11: d11,
            empty_deadlines_v11: ds11,
            empty_deadline_v12: d12,
            empty_deadlines_v12: ds12,
        })
    }
}

impl ActorMigrator for Nv21MinerMigrator {
    fn migrate_state(&self, ctx: &MigrationCtx<'_>, actor: &ActorInput) -> Result<Cid> {
        let head = HeadTuple::read(ctx, actor, STATE_FIELDS, "miner state v11")?;
        let sectors_in = head.link(STATE_SECTORS, "miner state sectors")?;
        // A miner with sectors whose entry changed but whose state did not
        // (a balance change) is a cache hit: the reference's
        // `<addr>-head-<head>`. An empty miner costs less to migrate again
        // than an entry, and mainnet has ~0.7M of them.
        let has_sectors = sectors_in != self.empty_sectors;
        let head_key = has_sectors.then(|| actor_head_key(&actor.address, &actor.head));
        ctx.memoised_head(head_key.as_deref(), || {
            let deadlines_in = head.link(STATE_DEADLINES, "miner state deadlines")?;
            let sectors_out = if has_sectors {
                migrate_amt(ctx, &SectorsV11V12, &actor.address, &sectors_in)?
            } else {
                sectors_in
            };
            let deadlines_out = self.migrate_deadlines(ctx, &actor.address, &deadlines_in)?;
            let s = tuple::encode_cid(&sectors_out);
            let d = tuple::encode_cid(&deadlines_out);
            head.rewrite(ctx, &[(STATE_SECTORS, &s), (STATE_DEADLINES, &d)])
        })
    }
}

impl Nv21MinerMigrator {
    fn migrate_deadlines(
        &self,
        ctx: &MigrationCtx<'_>,
        miner: &str,
        deadlines: &Cid,
    ) -> Result<Cid> {
        if *deadlines == self.empty_deadlines_v11 {
            return Ok(self.empty_deadlines_v12);
        }
        let bytes = ctx.get(deadlines, None)?;
        let mut dls: v11::Deadlines =
            fvm_ipld_encoding::from_slice(&bytes).map_err(|e| Error::Malformed {
                what: "miner deadlines v11",
                cid: *deadlines,
                reason: e.to_string(),
            })?;
        for due in dls.due.iter_mut() {
            if *due == self.empty_deadline_v11 {
                *due = self.empty_deadline_v12;
                continue;
            }
            let dl = ctx.get(due, Some(*deadlines))?;
            let fields = tuple::elements(&dl, DEADLINE_FIELDS, "miner deadline v11", due)?;
            let snap_in = tuple::cid_at(
                &dl,
                &fields[DEADLINE_SNAPSHOT],
                "deadline sectors_snapshot",
                due,
            )?;
            let snap_out = migrate_amt_version(ctx, &SectorsV11V12, miner, &snap_in)?;
            let enc = tuple::encode_cid(&snap_out);
            *due = ctx.put(&tuple::replace(&dl, &fields, &[(DEADLINE_SNAPSHOT, &enc)]));
        }
        let out = fvm_ipld_encoding::to_vec(&v12::Deadlines { due: dls.due }).map_err(|e| {
            Error::Encode {
                what: "deadlines",
                reason: e.to_string(),
            }
        })?;
        Ok(ctx.put(&out))
    }
}

/// Sector infos v11 → v12, under the reference's keys (`sectorsAmt-<in>`,
/// `prevSectorsIn-<miner>`, `prevSectorsOut-<miner>`).
pub struct SectorsV11V12;

fn sector_error(amt: &Cid, index: u64, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what: "sectors AMT",
        cid: *amt,
        reason: format!("sector {index}: {e}"),
    }
}

impl ValueTransform for SectorsV11V12 {
    const BIT_WIDTH: u32 = SECTORS_AMT_BITWIDTH;

    fn prefix(&self, amt: &Cid, index: u64, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        transcode_prefix(input, out).map_err(|e| sector_error(amt, index, e))
    }

    fn whole(&self, amt: &Cid, index: u64, value: &[u8], out: &mut Vec<u8>) -> Result<()> {
        transcode(value, out).map_err(|e| sector_error(amt, index, e))
    }

    fn result_key(&self, root: &Cid) -> String {
        sectors_amt_key(root)
    }

    fn prev_in_key(&self, owner: &str) -> String {
        prev_sectors_in_key(owner)
    }

    fn prev_out_key(&self, owner: &str) -> String {
        prev_sectors_out_key(owner)
    }
}
