//! Reward state v18 → v19 (FIP-0118, docs/upgrades/nv29.md), a post-migrator: the
//! stream addresses are resolved through the *input* init actor, which an
//! actor migrator does not see.
//!
//! The first eight fields keep their bytes; `total_minted_reward` is the old
//! `total_storage_power_reward`; the burn and explicit totals start at zero;
//! `simple_total` and `baseline_total` are dropped (v19 derives them); then
//! the SWA timelock, the SWA's ID address, the accrual rows and the link to
//! the streams block. Two streams start at the first epoch executed on the
//! migrated state (height + 1): the implicit consensus stream ramping from
//! 95% down to 50%, and the explicit service stream ramping from 5% up to
//! 10%, written by the SRA and paid wholly to the orchestrator.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared4::address::Address;

use super::bootstrap::{address_map, resolve, BootstrapParams, BURNT_FUNDS, DENOM, PERCENT};
use crate::actors::state_tree::ActorState;
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major};
use crate::ipld::hamt::{get_value, replace_value, DEFAULT_BIT_WIDTH};
use crate::migration::context::MigrationCtx;
use crate::migration::migrators::PostMigrator;

const INIT: u64 = 1;
const REWARD: u64 = 2;
const FIELDS_V18: u64 = 11;
/// Fields 0..8 are copied; 8 is `total_storage_power_reward`.
const COPIED: usize = 8;
const TOTAL_STORAGE_POWER_REWARD: usize = 8;
const ZERO_TOKEN: &[u8] = &[0x40];
const CONSENSUS_STREAM: u64 = 1;
const SERVICE_STREAM: u64 = 2;

/// The reward actor's v19 state and its bootstrap streams.
pub struct RewardStreams;

fn actor<S: Blockstore>(store: &S, tree: &Cid, id: u64) -> Result<Option<ActorState>> {
    let key = Address::new_id(id).to_bytes();
    get_value(store, tree, DEFAULT_BIT_WIDTH, &key)?
        .map(|v| {
            fvm_ipld_encoding::from_slice(&v).map_err(|e| Error::Malformed {
                what: "actor",
                cid: *tree,
                reason: format!("f0{id}: {e}"),
            })
        })
        .transpose()
}

impl PostMigrator for RewardStreams {
    fn apply(&self, ctx: &MigrationCtx<'_>, input: &Cid, output: Cid) -> Result<Cid> {
        let name = &ctx.spec.name;
        let required = |id: u64, role: &str| {
            actor(ctx.store, input, id)?.ok_or_else(|| {
                Error::WrongState(format!("{name}: the state has no {role} actor (f0{id})"))
            })
        };
        let init = required(INIT, "init")?;
        let reward = required(REWARD, "reward")?;
        let params = BootstrapParams::for_network(ctx.spec.network);
        let map = address_map(ctx.store, &init.head)?;
        let swa = resolve(ctx.store, &map, &params.swa, "SWA")?;
        let sra = resolve(ctx.store, &map, &params.sra, "SRA")?;
        let orchestrator = resolve(ctx.store, &map, &params.orchestrator, "orchestrator")?;
        let paych = ctx.spec.old_manifest.code_of("paymentchannel");
        for (role, id) in [("SWA", swa), ("SRA", sra), ("orchestrator", orchestrator)] {
            if id == BURNT_FUNDS {
                return Err(Error::WrongState(format!(
                    "{name}: the {role} resolves to the burnt-funds actor f0{BURNT_FUNDS}"
                )));
            }
            let a = actor(ctx.store, input, id)?.ok_or_else(|| {
                Error::WrongState(format!(
                    "{name}: the {role} resolves to f0{id}, which is not in the state tree"
                ))
            })?;
            if Some(a.code) == paych {
                return Err(Error::WrongState(format!(
                    "{name}: the {role} f0{id} is a payment channel"
                )));
            }
        }

        let activation = ctx.spec.height + 1;
        let slope = params.slope();
        let streams = streams_block(activation, slope, sra, orchestrator);
        let streams_root = ctx.put(&streams);

        let head = ctx.get(&reward.head, None)?;
        let fields = tuple::elements(&head, FIELDS_V18, "reward state v18", &reward.head)?;
        let timelock = tuple::encode_int(params.swa_timelock_epochs);
        let mut swa_address = Vec::new();
        cbor::write_bytes(&mut swa_address, &Address::new_id(swa).to_bytes());
        let mut accrued = Vec::new();
        cbor::write_header(&mut accrued, major::ARRAY, 1);
        cbor::write_header(&mut accrued, major::ARRAY, 2);
        cbor::write_int(&mut accrued, SERVICE_STREAM as i64);
        accrued.extend_from_slice(ZERO_TOKEN);
        let link = tuple::encode_cid(&streams_root);
        let mut parts: Vec<&[u8]> = fields[..COPIED].iter().map(|r| &head[r.clone()]).collect();
        parts.extend([
            &head[fields[TOTAL_STORAGE_POWER_REWARD].clone()],
            ZERO_TOKEN,
            ZERO_TOKEN,
            &timelock,
            &swa_address,
            &accrued,
            &link,
        ]);
        let new_head = ctx.put(&tuple::assemble(&parts));

        let mut out = actor(ctx.store, &output, REWARD)?.ok_or_else(|| {
            Error::WrongState(format!("{name}: the output tree lost the reward actor"))
        })?;
        out.head = new_head;
        let bytes = fvm_ipld_encoding::to_vec(&out).map_err(|e| Error::Encode {
            what: "reward actor",
            reason: e.to_string(),
        })?;
        Ok(replace_value(
            ctx.store,
            &output,
            DEFAULT_BIT_WIDTH,
            &Address::new_id(REWARD).to_bytes(),
            &bytes,
        )?
        .expect("the reward actor was just read"))
    }
}

/// `[v_start, slope, t_start, floor, cap]`.
fn weight(out: &mut Vec<u8>, v_start: u64, slope: i64, t_start: i64, floor: u64, cap: u64) {
    cbor::write_header(out, major::ARRAY, 5);
    cbor::write_int(out, v_start as i64);
    cbor::write_int(out, slope);
    cbor::write_int(out, t_start);
    cbor::write_int(out, floor as i64);
    cbor::write_int(out, cap as i64);
}

fn id_address(out: &mut Vec<u8>, id: u64) {
    cbor::write_bytes(out, &Address::new_id(id).to_bytes());
}

/// `StreamsState = [streams, tombstones = [], pending_writes_queue = []]`.
fn streams_block(activation: i64, slope: i64, sra: u64, orchestrator: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    cbor::write_header(&mut out, major::ARRAY, 3);
    cbor::write_header(&mut out, major::ARRAY, 2);
    // The implicit consensus stream.
    cbor::write_header(&mut out, major::ARRAY, 3);
    cbor::write_int(&mut out, CONSENSUS_STREAM as i64);
    weight(
        &mut out,
        95 * PERCENT,
        -slope,
        activation,
        50 * PERCENT,
        95 * PERCENT,
    );
    out.push(0xf6);
    // The explicit service stream: [writer, shares, payable, claimed_period].
    cbor::write_header(&mut out, major::ARRAY, 3);
    cbor::write_int(&mut out, SERVICE_STREAM as i64);
    weight(
        &mut out,
        5 * PERCENT,
        slope,
        activation,
        5 * PERCENT,
        10 * PERCENT,
    );
    cbor::write_header(&mut out, major::ARRAY, 4);
    id_address(&mut out, sra);
    cbor::write_header(&mut out, major::ARRAY, 1);
    cbor::write_header(&mut out, major::ARRAY, 2);
    id_address(&mut out, orchestrator);
    cbor::write_int(&mut out, DENOM as i64);
    cbor::write_header(&mut out, major::ARRAY, 0);
    cbor::write_header(&mut out, major::ARRAY, 0);
    // No tombstones, no pending writes.
    cbor::write_header(&mut out, major::ARRAY, 0);
    cbor::write_header(&mut out, major::ARRAY, 0);
    out
}
