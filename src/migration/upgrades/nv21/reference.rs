//! The typed reference path for nv21, written the way the reference
//! implementations do it: decode with the `fil_actor_miner_state` v11 types,
//! build the v12 types field by field, and rebuild every tree with
//! `fvm_ipld_amt` / `fvm_ipld_hamt` from scratch (`for_each` / `set` /
//! `flush`). It shares no code with the engine except the published-manifest
//! data, so the tests use it as the independent oracle and the benchmarks as
//! the baseline the engine is measured against. It holds whole trees in
//! memory, as those libraries do.

use cid::Cid;
use fil_actor_miner_state::{v11, v12};
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::CborStore;
use multihash_codetable::Code;

use crate::migration::reference::{rebuild_by_spec, R};
use crate::migration::spec::UpgradeSpec;

fn t4(t: &fvm_shared3::econ::TokenAmount) -> fvm_shared4::econ::TokenAmount {
    fvm_shared4::econ::TokenAmount::from_atto(t.atto().clone())
}

fn pp(p: &v11::PowerPair) -> v12::PowerPair {
    v12::PowerPair {
        raw: p.raw.clone(),
        qa: p.qa.clone(),
    }
}

fn sector(s: &v11::SectorOnChainInfo) -> v12::SectorOnChainInfo {
    v12::SectorOnChainInfo {
        sector_number: s.sector_number,
        seal_proof: fvm_shared4::sector::RegisteredSealProof::from(i64::from(s.seal_proof)),
        sealed_cid: s.sealed_cid,
        deal_ids: s.deal_ids.clone(),
        activation: match s.sector_key_cid {
            Some(_) => s.activation.wrapping_sub(s.replaced_sector_age), // int64, as Go
            None => s.activation,
        },
        expiration: s.expiration,
        deal_weight: s.deal_weight.clone(),
        verified_deal_weight: s.verified_deal_weight.clone(),
        initial_pledge: t4(&s.initial_pledge),
        expected_day_reward: t4(&s.expected_day_reward),
        expected_storage_pledge: t4(&s.expected_storage_pledge),
        power_base_epoch: s.activation,
        replaced_day_reward: t4(&s.replaced_day_reward),
        sector_key_cid: s.sector_key_cid,
        flags: if s.simple_qa_power {
            v12::SectorOnChainInfoFlags::SIMPLE_QA_POWER
        } else {
            v12::SectorOnChainInfoFlags::empty()
        },
    }
}

/// Within-run memo of migrated sectors AMTs by input root (the reference
/// keeps the same `sectorsAmt-` cache within a run).
type Memo = std::cell::RefCell<std::collections::HashMap<Cid, Cid>>;

fn sectors<S: Blockstore>(store: &S, root: &Cid, memo: &Memo) -> R<Cid> {
    if let Some(c) = memo.borrow().get(root) {
        return Ok(*c);
    }
    let out = sectors_uncached(store, root)?;
    memo.borrow_mut().insert(*root, out);
    Ok(out)
}

fn sectors_uncached<S: Blockstore>(store: &S, root: &Cid) -> R<Cid> {
    let input: Amt<v11::SectorOnChainInfo, _> = Amt::load(root, store)?;
    let mut out: Amt<v12::SectorOnChainInfo, _> = Amt::new_with_bit_width(store, 5);
    input.for_each(|i, s| {
        out.set(i, sector(s))?;
        Ok(())
    })?;
    Ok(out.flush()?)
}

fn miner<S: Blockstore>(store: &S, head: &Cid, memo: &Memo) -> R<Cid> {
    let st: v11::State = store
        .get_cbor(head)?
        .ok_or_else(|| anyhow::anyhow!("missing block"))?;
    let policy = fil_actors_shared::v11::runtime::Policy::default();
    let e11 = store.put_cbor(&v11::Deadline::new(store)?, Code::Blake2b256)?;
    let es11 = store.put_cbor(&v11::Deadlines::new(&policy, e11), Code::Blake2b256)?;
    let e12 = store.put_cbor(&v12::Deadline::new(store)?, Code::Blake2b256)?;
    let policy12 = fil_actors_shared::v12::runtime::Policy::default();
    let es12 = store.put_cbor(&v12::Deadlines::new(&policy12, e12), Code::Blake2b256)?;
    let deadlines = if st.deadlines == es11 {
        es12
    } else {
        let dls: v11::Deadlines = store
            .get_cbor(&st.deadlines)?
            .ok_or_else(|| anyhow::anyhow!("missing block"))?;
        let due = dls
            .due
            .iter()
            .map(|c| {
                if *c == e11 {
                    return Ok(e12);
                }
                let d: v11::Deadline = store
                    .get_cbor(c)?
                    .ok_or_else(|| anyhow::anyhow!("missing block"))?;
                let out = v12::Deadline {
                    partitions: d.partitions,
                    expirations_epochs: d.expirations_epochs,
                    partitions_posted: d.partitions_posted.clone(),
                    early_terminations: d.early_terminations.clone(),
                    live_sectors: d.live_sectors,
                    total_sectors: d.total_sectors,
                    faulty_power: pp(&d.faulty_power),
                    optimistic_post_submissions: d.optimistic_post_submissions,
                    sectors_snapshot: sectors(store, &d.sectors_snapshot, memo)?,
                    partitions_snapshot: d.partitions_snapshot,
                    optimistic_post_submissions_snapshot: d.optimistic_post_submissions_snapshot,
                };
                store.put_cbor(&out, Code::Blake2b256)
            })
            .collect::<R<Vec<_>>>()?;
        store.put_cbor(&v12::Deadlines { due }, Code::Blake2b256)?
    };
    let out = v12::State {
        info: st.info,
        pre_commit_deposits: t4(&st.pre_commit_deposits),
        locked_funds: t4(&st.locked_funds),
        vesting_funds: st.vesting_funds,
        fee_debt: t4(&st.fee_debt),
        initial_pledge: t4(&st.initial_pledge),
        pre_committed_sectors: st.pre_committed_sectors,
        pre_committed_sectors_cleanup: st.pre_committed_sectors_cleanup,
        allocated_sectors: st.allocated_sectors,
        sectors: sectors(store, &st.sectors, memo)?,
        proving_period_start: st.proving_period_start,
        current_deadline: st.current_deadline,
        deadlines,
        early_terminations: st.early_terminations.clone(),
        deadline_cron_active: st.deadline_cron_active,
    };
    store.put_cbor(&out, Code::Blake2b256)
}

/// The nv21 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    let memo = Memo::default();
    rebuild_by_spec(store, state_root, spec, |name, _, a| match name {
        "storageminer" => Ok(Some(miner(store, &a.head, &memo)?)),
        _ => Ok(None),
    })
}
