//! The synthetic generator: every actor state decodes with the real v11
//! types, deadlines cover exactly the live sectors, same arguments give the
//! same root, and churned successors share every untouched subtree.

use crate::common;

use std::collections::BTreeSet;

use cid::Cid;
use common::states::{generate, small_config};
use fil_actor_miner_state::v11 as miner;
use fil_migrate::actors::manifest::{Manifest, Network};
use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
use fil_migrate::ipld::cids::cbor_cid;
use fil_migrate::ipld::hamt::for_each_entry;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::{BufferOptions, BufferedBlockstore, MemStore};
use fil_migrate::synth::churn::{churn_state, ChurnConfig, ChurnStats};
use fil_migrate::synth::faults::FaultRates;
use fvm_ipld_amt::Amt;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use fvm_shared3::bigint::BigInt;

fn actors(store: &MemStore, root: &Cid) -> Vec<(Vec<u8>, ActorState)> {
    let sr: StateRoot = get_cbor(store, root, "root").unwrap();
    let mut out = Vec::new();
    for_each_entry(store, &sr.actors, 5, |k, v| {
        out.push((k.to_vec(), fvm_ipld_encoding::from_slice(v).unwrap()));
        Ok(())
    })
    .unwrap();
    out
}

fn get<T: serde::de::DeserializeOwned>(store: &MemStore, c: &Cid) -> T {
    get_cbor(store, c, "typed").unwrap()
}

/// Checks one miner fully with the v11 types; returns its live sector count.
fn check_miner(store: &MemStore, head: &Cid) -> u64 {
    let st: miner::State = get(store, head);
    let info: miner::MinerInfo = get(store, &st.info);
    let _vesting: miner::VestingFunds = get(store, &st.vesting_funds);
    let _alloc: BitField = get(store, &st.allocated_sectors);
    let pre: Hamt<_, miner::SectorPreCommitOnChainInfo, BytesKey> =
        Hamt::load_with_bit_width(&st.pre_committed_sectors, store, 5).unwrap();
    pre.for_each(|_, _| Ok(())).unwrap();
    let sectors: Amt<miner::SectorOnChainInfo, _> = Amt::load(&st.sectors, store).unwrap();
    let mut numbers = BTreeSet::new();
    sectors
        .for_each(|i, s| {
            assert_eq!(s.sector_number, i);
            assert!(s.activation < s.expiration);
            assert_eq!(s.sealed_cid.codec(), 0xf102);
            assert_eq!(
                s.sector_key_cid.is_some(),
                s.replaced_sector_age > 0 || s.sector_key_cid.is_some()
            );
            numbers.insert(i);
            Ok(())
        })
        .unwrap();
    let dls: miner::Deadlines = get(store, &st.deadlines);
    let mut covered = BTreeSet::new();
    for c in &dls.due {
        let dl: miner::Deadline = get(store, c);
        let snap: Amt<miner::SectorOnChainInfo, _> =
            Amt::load(&dl.sectors_snapshot, store).unwrap();
        snap.for_each(|_, _| Ok(())).unwrap();
        let parts: Amt<miner::Partition, _> = Amt::load(&dl.partitions, store).unwrap();
        let mut live = 0;
        parts
            .for_each(|_, p| {
                for s in p.sectors.iter() {
                    assert!(covered.insert(s), "sector {s} in two partitions");
                    live += 1;
                }
                assert!(p.faults.iter().all(|f| p.sectors.get(f)));
                assert!(
                    p.recoveries.iter().all(|r| p.faults.get(r)),
                    "a recovery is declared only for a faulty sector"
                );
                let size = BigInt::from(info.sector_size as u64);
                assert_eq!(p.faulty_power.raw, &size * p.faults.len());
                assert_eq!(p.recovering_power.raw, &size * p.recoveries.len());
                let q: Amt<miner::ExpirationSet, _> =
                    Amt::load(&p.expirations_epochs, store).unwrap();
                let mut in_queue = 0;
                q.for_each(|_, e| {
                    in_queue += e.on_time_sectors.len();
                    Ok(())
                })
                .unwrap();
                assert_eq!(
                    in_queue,
                    p.sectors.len(),
                    "expiration queue covers the partition"
                );
                Ok(())
            })
            .unwrap();
        assert_eq!(dl.live_sectors, live);
    }
    assert_eq!(
        covered, numbers,
        "partitions cover exactly the live sectors"
    );
    numbers.len() as u64
}

#[test]
fn every_generated_actor_state_decodes_with_the_v11_types() {
    let cfg = small_config(Network::Mainnet, 5, 3_000, 4);
    let (store, root) = generate(&cfg);
    let manifest = Manifest::load(Network::Mainnet, 11).unwrap();
    let mut names = BTreeSet::new();
    let mut sectors = 0;
    for (_, a) in actors(&store, &root) {
        let name = manifest
            .name_of(&a.code)
            .expect("every code is in the published v11 manifest");
        names.insert(name.to_string());
        match name {
            "system" => {
                let st: fil_actor_system_state::v11::State = get(&store, &a.head);
                let data = store.get(&st.builtin_actors).unwrap().unwrap();
                let m = fvm_ipld_encoding::to_vec(&(1u64, cbor_cid(&data))).unwrap();
                assert_eq!(
                    cbor_cid(&m),
                    manifest.manifest_cid,
                    "manifest hashes to the published CID"
                );
            }
            "init" => {
                let st: fil_actor_init_state::v11::State = get(&store, &a.head);
                let map: Hamt<_, u64, BytesKey> =
                    Hamt::load_with_bit_width(&st.address_map, &store, 5).unwrap();
                map.for_each(|_, _| Ok(())).unwrap();
            }
            "cron" => {
                let _: fil_actor_cron_state::v11::State = get(&store, &a.head);
            }
            "reward" => {
                let _: fil_actor_reward_state::v11::State = get(&store, &a.head);
            }
            "storagepower" => {
                let st: fil_actor_power_state::v11::State = get(&store, &a.head);
                assert_eq!(st.miner_count, 5);
            }
            "storagemarket" => {
                let _: fil_actor_market_state::v11::State = get(&store, &a.head);
            }
            "verifiedregistry" => {
                let _: fil_actor_verifreg_state::v11::State = get(&store, &a.head);
            }
            "datacap" => {
                let _: fil_actor_datacap_state::v11::State = get(&store, &a.head);
            }
            "account" => {
                let _: fil_actor_account_state::v11::State = get(&store, &a.head);
            }
            "multisig" => {
                let _: fil_actor_multisig_state::v11::State = get(&store, &a.head);
            }
            "evm" => {
                let _: fil_actor_evm_state::v11::State = get(&store, &a.head);
            }
            "storageminer" => sectors += check_miner(&store, &a.head),
            _ => {}
        }
    }
    assert_eq!(sectors, 15_000);
    for n in [
        "system",
        "init",
        "cron",
        "reward",
        "storagepower",
        "storagemarket",
        "verifiedregistry",
        "datacap",
        "account",
        "multisig",
        "evm",
        "ethaccount",
        "eam",
        "storageminer",
        "placeholder",
    ] {
        assert!(names.contains(n), "no {n} actor");
    }
}

#[test]
fn same_arguments_give_the_same_root_and_seeds_differ() {
    let a = generate(&small_config(Network::Calibnet, 2, 500, 9)).1;
    let b = generate(&small_config(Network::Calibnet, 2, 500, 9)).1;
    let c = generate(&small_config(Network::Calibnet, 2, 500, 10)).1;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn churn(store: &MemStore, root: &Cid, cfg: &ChurnConfig) -> Cid {
    churn_with_stats(store, root, cfg).0
}

fn churn_with_stats(store: &MemStore, root: &Cid, cfg: &ChurnConfig) -> (Cid, ChurnStats) {
    let buf = BufferedBlockstore::new(
        store,
        BufferOptions {
            budget_bytes: 1 << 20,
            ..Default::default()
        },
    );
    let (r, stats) = churn_state(&buf, root, cfg).unwrap();
    buf.flush(&r).unwrap();
    (r, stats)
}

#[test]
fn a_churned_successor_shares_untouched_subtrees_stays_consistent_and_migrates_by_diff() {
    let (store, s0) = generate(&small_config(Network::Mainnet, 2, 20_000, 5));
    let s1 = churn(&store, &s0, &ChurnConfig::default());
    let before: BTreeSet<Cid> = common::reachable(&store, &s0).into_iter().collect();
    let after: Vec<Cid> = common::reachable(&store, &s1);
    let shared = after.iter().filter(|c| before.contains(c)).count();
    assert!(
        shared * 100 >= after.len() * 85,
        "only {shared} of {} blocks shared",
        after.len()
    );
    let mut miners = 0;
    let manifest = Manifest::load(Network::Mainnet, 11).unwrap();
    for (_, a) in actors(&store, &s1) {
        if manifest.name_of(&a.code) == Some("storageminer") {
            check_miner(&store, &a.head);
            miners += 1;
        }
    }
    assert_eq!(miners, 3, "one new miner");

    // Premigrate s0, migrate s1 through the diff path: equals the reference.
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let o = MigrationOptions {
        threads: 2,
        memory_budget: 1 << 30,
        ..Default::default()
    };
    let cache = MemoryCache::default();
    migrate_state(&store, &s0, &spec, &cache, &o).unwrap();
    let out = migrate_state(&store, &s1, &spec, &cache, &o).unwrap();
    assert!(out.report.sectors_via_diff > 0);
    assert_eq!(
        out.state_root,
        reference_root(
            &store,
            &s1,
            &Upgrade::load("nv21", Network::Mainnet).unwrap()
        )
        .unwrap()
    );
    assert_eq!(
        out.state_root,
        migrate_state(&store, &s1, &spec, &NoCache, &o)
            .unwrap()
            .state_root
    );
}

/// Every sector of partitions `posted` of miner `head`'s deadline `d`, and
/// the partitions its proof named.
fn posted_partitions(store: &MemStore, head: &Cid) -> Vec<(miner::Deadline, Vec<u64>)> {
    let st: miner::State = get(store, head);
    let dls: miner::Deadlines = get(store, &st.deadlines);
    dls.due
        .iter()
        .map(|c| {
            let dl: miner::Deadline = get(store, c);
            let mut named = Vec::new();
            for root in [
                dl.optimistic_post_submissions,
                dl.optimistic_post_submissions_snapshot,
            ] {
                let posts: Amt<miner::WindowedPoSt, _> = Amt::load(&root, store).unwrap();
                posts
                    .for_each(|_, p| {
                        named.extend(p.partitions.iter());
                        Ok(())
                    })
                    .unwrap();
            }
            (dl, named)
        })
        .collect()
}

#[test]
fn window_post_churn_misses_partitions_declares_faults_and_recovers_them() {
    let (store, s0) = generate(&small_config(Network::Mainnet, 3, 30_000, 7));
    let cfg = ChurnConfig {
        // A proving period: every deadline's window passes, so each rate
        // shows on a few partitions.
        epochs: 2880,
        window_post: true,
        faults: FaultRates {
            missed_partition: 0.2,
            declared_fault: 0.01,
            declared_recovery: 0.5,
        },
        ..Default::default()
    };
    let (s1, first) = churn_with_stats(&store, &s0, &cfg);
    let (s2, second) = churn_with_stats(&store, &s1, &ChurnConfig { seed: 3, ..cfg });
    assert!(first.faults.missed_partitions > 0, "{:?}", first.faults);
    assert!(first.faults.new_faults > 0, "{:?}", first.faults);
    assert!(first.faults.recoveries_declared > 0, "{:?}", first.faults);
    assert!(
        second.faults.recovered > 0,
        "recoveries declared in one churn are proven in the next: {:?}",
        second.faults
    );
    let manifest = Manifest::load(Network::Mainnet, 11).unwrap();
    let mut missed = 0;
    for (_, a) in actors(&store, &s2) {
        if manifest.name_of(&a.code) != Some("storageminer") {
            continue;
        }
        check_miner(&store, &a.head);
        for (dl, named) in posted_partitions(&store, &a.head) {
            let parts: Amt<miner::Partition, _> = Amt::load(&dl.partitions, &store).unwrap();
            for i in 0..parts.count() {
                let p = parts.get(i).unwrap().unwrap();
                let whole = !p.sectors.is_empty() && p.faults == p.sectors;
                if !named.is_empty() && !named.contains(&i) {
                    // A posted deadline's proof leaves out only a missed
                    // partition, and that one is faulty whole.
                    assert!(whole, "partition {i} left out of the proof but not faulty");
                }
                if whole && !named.contains(&i) {
                    missed += 1;
                }
            }
        }
    }
    assert!(missed > 0, "no proof left a missed partition out");

    // The final migration of the churned state, premigrated on its
    // predecessor, equals the typed reference.
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let o = MigrationOptions {
        threads: 2,
        ..Default::default()
    };
    let cache = MemoryCache::default();
    migrate_state(&store, &s1, &spec, &cache, &o).unwrap();
    let out = migrate_state(&store, &s2, &spec, &cache, &o).unwrap();
    assert_eq!(out.state_root, reference_root(&store, &s2, &spec).unwrap());
}
