//! The typed reference path for nv25 (docs/upgrades/nv25.md, as go-state-types
//! `builtin/v16/migration` and Forest's `type_migrations/*_v15_to_v16`
//! run it): every miner's state, vesting table and deadlines decoded as
//! v15 and rebuilt as v16, live power summed over each deadline's
//! partitions with `fvm_ipld_amt`; every EVM state rebuilt as v16.

use cid::Cid;
use fil_actor_miner_state::{v15, v16};
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;

use crate::migration::reference::{get, put, rebuild_by_spec, R};
use crate::migration::spec::UpgradeSpec;

/// The nv25 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    rebuild_by_spec(store, state_root, spec, |name, _, a| match name {
        "storageminer" => Ok(Some(miner(store, &a.head)?)),
        "evm" => Ok(Some(evm(store, &a.head)?)),
        _ => Ok(None),
    })
}

fn miner<S: Blockstore>(store: &S, head: &Cid) -> R<Cid> {
    let st: v15::State = get(store, head)?;
    let funds: v15::VestingFunds = get(store, &st.vesting_funds)?;
    let vesting_funds = match funds.funds.split_first() {
        None => v16::VestingFunds(None),
        Some((first, rest)) => {
            let tail: Vec<v16::VestingFund> = rest
                .iter()
                .map(|f| v16::VestingFund {
                    epoch: f.epoch,
                    amount: f.amount.clone(),
                })
                .collect();
            v16::VestingFunds(Some(v16::VestingFundsInner {
                head: v16::VestingFund {
                    epoch: first.epoch,
                    amount: first.amount.clone(),
                },
                tail: put(store, &tail)?,
            }))
        }
    };
    let dls: v15::Deadlines = get(store, &st.deadlines)?;
    let mut due = Vec::with_capacity(dls.due.len());
    for c in &dls.due {
        let dl: v15::Deadline = get(store, c)?;
        let partitions: Amt<v15::Partition, _> = Amt::load(&dl.partitions, store)?;
        let mut live = v16::PowerPair::zero();
        partitions.for_each(|_, p| {
            live.raw += &p.live_power.raw;
            live.qa += &p.live_power.qa;
            Ok(())
        })?;
        due.push(put(
            store,
            &v16::Deadline {
                partitions: dl.partitions,
                expirations_epochs: dl.expirations_epochs,
                partitions_posted: dl.partitions_posted,
                early_terminations: dl.early_terminations,
                live_sectors: dl.live_sectors,
                total_sectors: dl.total_sectors,
                faulty_power: v16::PowerPair {
                    raw: dl.faulty_power.raw,
                    qa: dl.faulty_power.qa,
                },
                optimistic_post_submissions: dl.optimistic_post_submissions,
                sectors_snapshot: dl.sectors_snapshot,
                partitions_snapshot: dl.partitions_snapshot,
                optimistic_post_submissions_snapshot: dl.optimistic_post_submissions_snapshot,
                live_power: live,
                daily_fee: Default::default(),
            },
        )?);
    }
    let out = v16::State {
        info: st.info,
        pre_commit_deposits: st.pre_commit_deposits,
        locked_funds: st.locked_funds,
        vesting_funds,
        fee_debt: st.fee_debt,
        initial_pledge: st.initial_pledge,
        pre_committed_sectors: st.pre_committed_sectors,
        pre_committed_sectors_cleanup: st.pre_committed_sectors_cleanup,
        allocated_sectors: st.allocated_sectors,
        sectors: st.sectors,
        proving_period_start: st.proving_period_start,
        current_deadline: st.current_deadline,
        deadlines: put(store, &v16::Deadlines { due })?,
        early_terminations: st.early_terminations,
        deadline_cron_active: st.deadline_cron_active,
    };
    put(store, &out)
}

fn evm<S: Blockstore>(store: &S, head: &Cid) -> R<Cid> {
    use fil_actor_evm_state::{v15 as e15, v16 as e16};
    let st: e15::State = get(store, head)?;
    let hash: [u8; 32] = st.bytecode_hash.into();
    put(
        store,
        &e16::State {
            bytecode: st.bytecode,
            bytecode_hash: e16::BytecodeHash::from(hash),
            contract_state: st.contract_state,
            transient_data: None,
            nonce: st.nonce,
            tombstone: st.tombstone.map(|t| e16::Tombstone {
                origin: t.origin,
                nonce: t.nonce,
            }),
        },
    )
}
