//! An independent, typed nv21 migration written the way the reference
//! implementation does it: decode with the `fil_actor_miner_state` v11 types,
//! build v12 types field by field, and rebuild every tree with `fvm_ipld_amt`
//! / `fvm_ipld_hamt` from scratch. It shares no code with the engine except
//! the published-manifest data.

use cid::Cid;
use fil_actor_miner_state::{v11, v12};
use fil_migrate::actors::manifest::{Manifest, Network};
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::CborStore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use multihash_codetable::Code;

#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug, PartialEq)]
struct Actor {
    code: Cid,
    head: Cid,
    sequence: u64,
    balance: fvm_shared3::econ::TokenAmount,
    delegated_address: Option<fvm_shared3::address::Address>,
}

#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug)]
struct Root {
    version: u64,
    actors: Cid,
    info: Cid,
}

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
            Some(_) => s.activation - s.replaced_sector_age,
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

fn sectors<S: Blockstore>(store: &S, root: &Cid) -> Cid {
    let input: Amt<v11::SectorOnChainInfo, _> = Amt::load(root, store).unwrap();
    let mut out: Amt<v12::SectorOnChainInfo, _> = Amt::new_with_bit_width(store, 5);
    input
        .for_each(|i, s| {
            out.set(i, sector(s)).unwrap();
            Ok(())
        })
        .unwrap();
    out.flush().unwrap()
}

fn miner<S: Blockstore>(store: &S, head: &Cid) -> Cid {
    let st: v11::State = store.get_cbor(head).unwrap().unwrap();
    let policy = fil_actors_shared::v11::runtime::Policy::default();
    let e11 = store
        .put_cbor(&v11::Deadline::new(store).unwrap(), Code::Blake2b256)
        .unwrap();
    let es11 = store
        .put_cbor(&v11::Deadlines::new(&policy, e11), Code::Blake2b256)
        .unwrap();
    let e12 = store
        .put_cbor(&v12::Deadline::new(store).unwrap(), Code::Blake2b256)
        .unwrap();
    let policy12 = fil_actors_shared::v12::runtime::Policy::default();
    let es12 = store
        .put_cbor(&v12::Deadlines::new(&policy12, e12), Code::Blake2b256)
        .unwrap();
    let deadlines = if st.deadlines == es11 {
        es12
    } else {
        let dls: v11::Deadlines = store.get_cbor(&st.deadlines).unwrap().unwrap();
        let due = dls
            .due
            .iter()
            .map(|c| {
                if *c == e11 {
                    return e12;
                }
                let d: v11::Deadline = store.get_cbor(c).unwrap().unwrap();
                let out = v12::Deadline {
                    partitions: d.partitions,
                    expirations_epochs: d.expirations_epochs,
                    partitions_posted: d.partitions_posted.clone(),
                    early_terminations: d.early_terminations.clone(),
                    live_sectors: d.live_sectors,
                    total_sectors: d.total_sectors,
                    faulty_power: pp(&d.faulty_power),
                    optimistic_post_submissions: d.optimistic_post_submissions,
                    sectors_snapshot: sectors(store, &d.sectors_snapshot),
                    partitions_snapshot: d.partitions_snapshot,
                    optimistic_post_submissions_snapshot: d.optimistic_post_submissions_snapshot,
                };
                store.put_cbor(&out, Code::Blake2b256).unwrap()
            })
            .collect();
        store
            .put_cbor(&v12::Deadlines { due }, Code::Blake2b256)
            .unwrap()
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
        sectors: sectors(store, &st.sectors),
        proving_period_start: st.proving_period_start,
        current_deadline: st.current_deadline,
        deadlines,
        early_terminations: st.early_terminations.clone(),
        deadline_cron_active: st.deadline_cron_active,
    };
    store.put_cbor(&out, Code::Blake2b256).unwrap()
}

/// The nv21 migration of `state_root`, computed the reference way.
pub fn reference_nv21<S: Blockstore>(store: &S, state_root: &Cid, network: Network) -> Cid {
    let old = Manifest::load(network, 11).unwrap();
    let new = Manifest::load(network, 12).unwrap();
    let root: Root = store.get_cbor(state_root).unwrap().unwrap();
    assert_eq!(root.version, 5);
    let input: Hamt<_, Actor, BytesKey> =
        Hamt::load_with_bit_width(&root.actors, store, 5).unwrap();
    let mut out: Hamt<_, Actor, BytesKey> = Hamt::new_with_bit_width(store, 5);
    input
        .for_each(|k, a| {
            let name = old.name_of(&a.code).expect("known code");
            let head = match name {
                "system" => store
                    .put_cbor(
                        &fil_actor_system_state::v12::State {
                            builtin_actors: new.data_cid,
                        },
                        Code::Blake2b256,
                    )
                    .unwrap(),
                "storageminer" => miner(store, &a.head),
                _ => a.head,
            };
            let mut b = a.clone();
            b.code = new.code_of(name).expect("new code");
            b.head = head;
            out.set(k.clone(), b).unwrap();
            Ok(())
        })
        .unwrap();
    let actors = out.flush().unwrap();
    store
        .put_cbor(
            &Root {
                version: 5,
                actors,
                info: root.info,
            },
            Code::Blake2b256,
        )
        .unwrap()
}
