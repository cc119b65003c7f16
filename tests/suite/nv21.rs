//! End-to-end nv21: the engine's root equals an independent typed
//! implementation's, on every path (thread counts, budgets, cached, diffed,
//! from scratch).

use crate::common;

use cid::Cid;
use common::states::{generate, small_config};
use fil_actor_miner_state::v11;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, put_cbor, StateRoot};
use fil_migrate::ipld::amt::{for_each_value, AmtPatcher, Patch};
use fil_migrate::ipld::hamt::for_each_entry;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{
    migrate_state, CancelToken, MemoryCache, MigrationOptions, MigrationReport, NoCache, Upgrade,
};
use fil_migrate::store::MemStore;
use fvm_ipld_blockstore::Blockstore;

fn opts(threads: usize, budget: u64) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: budget,
        cancel: CancelToken::new(),
        progress: false,
        ..Default::default()
    }
}

fn run(
    store: &MemStore,
    root: &Cid,
    cache: &dyn fil_migrate::migration::MigrationCache,
    o: &MigrationOptions,
) -> (Cid, MigrationReport) {
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let out = migrate_state(store, root, &spec, cache, o).unwrap();
    (out.state_root, out.report)
}

#[test]
fn migrated_root_equals_the_typed_reference_on_mainnet_and_calibnet() {
    for (network, miners, sectors) in [(Network::Mainnet, 5, 1_500), (Network::Calibnet, 2, 700)] {
        let (store, root) = generate(&small_config(network, miners, sectors, 7));
        let spec = Upgrade::load("nv21", network).unwrap();
        let ours = migrate_state(
            &store,
            &root,
            &spec,
            &MemoryCache::default(),
            &opts(2, 64 << 20),
        )
        .unwrap();
        let reference =
            reference_root(&store, &root, &Upgrade::load("nv21", network).unwrap()).unwrap();
        assert_eq!(ours.state_root, reference, "{network}");
        assert_eq!(
            ours.report.actors_by_migrator.get("nv21_miner"),
            Some(&miners)
        );
    }
}

#[test]
fn same_root_for_every_thread_count_budget_and_cache_state() {
    let (store, root) = generate(&small_config(Network::Mainnet, 3, 3_000, 11));
    let reference = reference_root(
        &store,
        &root,
        &Upgrade::load("nv21", Network::Mainnet).unwrap(),
    )
    .unwrap();
    for (threads, budget) in [(1, 1 << 30), (2, 1 << 30), (1, 16 << 10), (2, 16 << 10)] {
        let (a, report) = run(
            &store,
            &root,
            &MemoryCache::default(),
            &opts(threads, budget),
        );
        assert_eq!(a, reference, "threads {threads}, budget {budget}");
        if budget < 1 << 20 {
            assert!(report.blocks_written > 0);
        }
        let (b, report) = run(&store, &root, &NoCache, &opts(threads, budget));
        assert_eq!(b, reference, "no cache: threads {threads}, budget {budget}");
        assert_eq!(report.sectors_via_diff, 0);
    }
}

/// A successor of `root` as a chain would make it: in one miner, some
/// sectors removed, some modified, some added; the miner state points at
/// the new sectors. Returns the new state root.
fn churn_one_miner(store: &MemStore, root: &Cid) -> Cid {
    let sr: StateRoot = get_cbor(store, root, "state root").unwrap();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let miner_code = fil_migrate::actors::manifest::Manifest::load(Network::Mainnet, 11)
        .unwrap()
        .code_of("storageminer")
        .unwrap();
    let mut done = false;
    for_each_entry(store, &sr.actors, 5, |k, v| {
        let mut actor: fil_migrate::actors::state_tree::ActorState =
            fvm_ipld_encoding::from_slice(v).unwrap();
        if actor.code == miner_code && !done {
            done = true;
            let mut st: v11::State = get_cbor(store, &actor.head, "miner").unwrap();
            let mut infos = Vec::new();
            for_each_value(store, &st.sectors, |i, b| {
                infos.push((
                    i,
                    fvm_ipld_encoding::from_slice::<v11::SectorOnChainInfo>(b).unwrap(),
                ));
                Ok(())
            })
            .unwrap();
            let max = infos.last().unwrap().0;
            let mut p = AmtPatcher::open(store, &st.sectors).unwrap();
            let mut changes: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
            for (i, info) in infos.iter() {
                if i % 97 == 3 {
                    changes.push((*i, None));
                } else if i % 89 == 5 {
                    let mut m = info.clone();
                    m.expiration += 2880 * 30;
                    changes.push((*i, Some(fvm_ipld_encoding::to_vec(&m).unwrap())));
                }
            }
            for k in 1..=40u64 {
                let mut m = infos[0].1.clone();
                m.sector_number = max + k;
                m.sector_key_cid = (k % 3 == 0).then_some(m.sealed_cid);
                m.replaced_sector_age = 100 * k as i64;
                changes.push((max + k, Some(fvm_ipld_encoding::to_vec(&m).unwrap())));
            }
            for (i, c) in &changes {
                match c {
                    Some(b) => p.apply(Patch::Set(*i, b)).unwrap(),
                    None => p.apply(Patch::Delete(*i)).unwrap(),
                }
            }
            st.sectors = p.finish().unwrap();
            actor.head = put_cbor(store, &st).unwrap();
        }
        entries.push((k.to_vec(), fvm_ipld_encoding::to_vec(&actor).unwrap()));
        Ok(())
    })
    .unwrap();
    let actors = fil_migrate::synth::singletons::hamt_from(store, entries).unwrap();
    StateRoot {
        version: 5,
        actors,
        info: sr.info,
    }
    .store(store)
    .unwrap()
}

#[test]
fn cached_diffed_and_from_scratch_paths_agree_with_the_reference() {
    let (store, s0) = generate(&small_config(Network::Mainnet, 2, 4_000, 3));
    let cache = MemoryCache::default();
    let (r0, rep0) = run(&store, &s0, &cache, &opts(2, 1 << 30));
    assert_eq!(
        r0,
        reference_root(
            &store,
            &s0,
            &Upgrade::load("nv21", Network::Mainnet).unwrap()
        )
        .unwrap()
    );
    assert!(rep0.sectors_from_scratch >= 8_000);

    // Same state again: every sectors AMT is a cache hit.
    let (again, rep) = run(&store, &s0, &cache, &opts(2, 1 << 30));
    assert_eq!(again, r0);
    assert_eq!(rep.sectors_from_scratch, 0);
    assert_eq!(rep.sectors_via_diff, 0);

    // A successor: the changed miner is migrated by diff.
    let s1 = churn_one_miner(&store, &s0);
    let (diffed, rep) = run(&store, &s1, &cache, &opts(2, 1 << 30));
    let (scratch, _) = run(&store, &s1, &NoCache, &opts(1, 1 << 30));
    let reference = reference_root(
        &store,
        &s1,
        &Upgrade::load("nv21", Network::Mainnet).unwrap(),
    )
    .unwrap();
    assert_eq!(scratch, reference);
    assert_eq!(diffed, reference);
    assert!(
        rep.sectors_via_diff > 40,
        "diff path used: {}",
        rep.sectors_via_diff
    );
    assert_eq!(rep.sectors_from_scratch, 0, "nothing rebuilt from scratch");
}

#[test]
fn an_actor_with_unknown_code_is_an_error_naming_it() {
    use fil_migrate::actors::state_tree::ActorState;
    use fil_migrate::ipld::hamt::{get_value, replace_value};
    let (store, root) = generate(&small_config(Network::Mainnet, 1, 10, 1));
    // The burnt-funds account gets a code of the calibnet bundle.
    let mut sr: StateRoot = get_cbor(&store, &root, "root").unwrap();
    let key = fvm_shared3::address::Address::new_id(99).to_bytes();
    let mut a: ActorState =
        fvm_ipld_encoding::from_slice(&get_value(&store, &sr.actors, 5, &key).unwrap().unwrap())
            .unwrap();
    let calib = fil_migrate::actors::manifest::Manifest::load(Network::Calibnet, 11).unwrap();
    a.code = calib.code_of("account").unwrap();
    let v = fvm_ipld_encoding::to_vec(&a).unwrap();
    sr.actors = replace_value(&store, &sr.actors, 5, &key, &v)
        .unwrap()
        .unwrap();
    let bad = put_cbor(&store, &sr).unwrap();
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let err = migrate_state(&store, &bad, &spec, &NoCache, &opts(1, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not in the mainnet actors v11 manifest") && err.contains("actor f099"),
        "{err}"
    );
}

#[test]
fn an_incomplete_spec_is_refused() {
    let text = include_str!("../../src/migration/upgrades/nv21/spec.toml")
        .replace("default = \"code\"", "");
    let err = Upgrade::parse(&text, Network::Mainnet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("incomplete") && err.contains("account"),
        "{err}"
    );
}

#[test]
fn cancellation_stops_the_run_with_cancelled() {
    let (store, root) = generate(&small_config(Network::Mainnet, 1, 20_000, 1));
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let o = opts(1, 1 << 30);
    o.cancel.cancel();
    let err = migrate_state(&store, &root, &spec, &NoCache, &o).unwrap_err();
    assert!(matches!(err, fil_migrate::Error::Cancelled), "{err}");
}

#[test]
fn a_missing_block_in_the_input_is_an_error_naming_the_actor() {
    let (store, root) = generate(&small_config(Network::Mainnet, 1, 100, 1));
    // Copy everything except one miner sectors leaf into a new store.
    let sr: StateRoot = get_cbor(&store, &root, "root").unwrap();
    let mut miner_head = None;
    for_each_entry(&store, &sr.actors, 5, |_, v| {
        let a: fil_migrate::actors::state_tree::ActorState =
            fvm_ipld_encoding::from_slice(v).unwrap();
        if fil_migrate::actors::manifest::identify(&a.code).map(|x| x.0)
            == Some("storageminer".into())
        {
            miner_head = Some(a.head);
        }
        Ok(())
    })
    .unwrap();
    let st: v11::State = get_cbor(&store, &miner_head.unwrap(), "miner").unwrap();
    let broken = MemStore::new();
    for c in common::reachable(&store, &root) {
        if c != st.sectors {
            broken
                .put_keyed(&c, &store.get(&c).unwrap().unwrap())
                .unwrap();
        }
    }
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let err = migrate_state(&broken, &root, &spec, &NoCache, &opts(2, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&st.sectors.to_string()) && err.contains("storageminer"),
        "{err}"
    );
}
