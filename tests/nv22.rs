//! End-to-end nv22: generated states with a market consistent with their
//! miners (every case of UPGRADES §3.3), migrated v11 → v12 by nv21 first;
//! the engine's root equals the typed reference's on every path.

#![allow(clippy::result_large_err)]

mod common;

use cid::Cid;
use common::states::{generate, small_config};
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::reference::reference_nv22;
use fil_migrate::migration::{
    migrate_state, MemoryCache, MigrationOptions, MigrationReport, NoCache, UpgradeSpec,
};
use fil_migrate::store::MemStore;

fn opts(threads: usize, budget: u64) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: budget,
        ..Default::default()
    }
}

/// A v12 state with a market: generated at v11, then nv21.
fn v12_state(
    network: Network,
    miners: u64,
    sectors: u64,
    deals: u64,
    seed: u64,
) -> (MemStore, Cid) {
    let mut cfg = small_config(network, miners, sectors, seed);
    cfg.deals_per_sector = deals;
    let (store, v11) = generate(&cfg);
    let nv21 = UpgradeSpec::load("nv21", network).unwrap();
    let v12 = migrate_state(&store, &v11, &nv21, &NoCache, &opts(2, 64 << 20))
        .unwrap()
        .state_root;
    (store, v12)
}

fn nv22(
    store: &MemStore,
    root: &Cid,
    network: Network,
    o: &MigrationOptions,
) -> (Cid, MigrationReport) {
    let spec = UpgradeSpec::load("nv22", network).unwrap();
    let out = migrate_state(store, root, &spec, &MemoryCache::default(), o).unwrap();
    (out.state_root, out.report)
}

#[test]
fn migrated_root_equals_the_typed_reference_on_mainnet_and_calibnet() {
    for (network, miners, sectors) in [(Network::Mainnet, 4, 1_500), (Network::Calibnet, 2, 700)] {
        let (store, root) = v12_state(network, miners, sectors, 4, 3);
        let spec = UpgradeSpec::load("nv22", network).unwrap();
        let reference = reference_nv22(&store, &root, &spec).unwrap();
        let (ours, report) = nv22(&store, &root, network, &opts(2, 64 << 20));
        assert_eq!(ours, reference, "{network}");
        assert_eq!(report.actors_by_migrator.get("nv22_miner"), Some(&miners));
        assert_eq!(report.actors_by_migrator.get("nv22_market"), Some(&1));
    }
}

/// What the migrated market holds, read with the v13 types.
#[derive(Debug, Default)]
struct MarketSummary {
    states: u64,
    with_sector: u64,
    slashed: u64,
    providers: u64,
    provider_sectors: u64,
    pending: u64,
}

fn market_summary(store: &MemStore, root: &Cid) -> MarketSummary {
    use fil_actor_market_state::v13;
    use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
    use fvm_ipld_hamt::{BytesKey, Hamt};
    let sr: StateRoot = get_cbor(store, root, "root").unwrap();
    let actors: Hamt<_, ActorState, BytesKey> =
        Hamt::load_with_bit_width(&sr.actors, store, 5).unwrap();
    let key = fvm_shared4::address::Address::new_id(5).to_bytes();
    let market = actors.get(&BytesKey(key)).unwrap().unwrap();
    let st: v13::State = get_cbor(store, &market.head, "market").unwrap();
    let mut s = MarketSummary::default();
    let states: fvm_ipld_amt::Amt<v13::DealState, _> =
        fvm_ipld_amt::Amt::load(&st.states, store).unwrap();
    states
        .for_each(|_, d| {
            s.states += 1;
            s.with_sector += u64::from(d.sector_number != 0);
            s.slashed += u64::from(d.slash_epoch != -1);
            Ok(())
        })
        .unwrap();
    let outer: Hamt<_, Cid, BytesKey> =
        Hamt::load_with_bit_width(&st.provider_sectors, store, 5).unwrap();
    outer
        .for_each(|_, inner| {
            s.providers += 1;
            let inner: Hamt<_, v13::SectorDealIDs, BytesKey> =
                Hamt::load_with_bit_width(inner, store, 5).unwrap();
            inner
                .for_each(|_, _| {
                    s.provider_sectors += 1;
                    Ok(())
                })
                .unwrap();
            Ok(())
        })
        .unwrap();
    let pending: Hamt<_, (), BytesKey> =
        Hamt::load_with_bit_width(&st.pending_proposals, store, 5).unwrap();
    pending
        .for_each(|_, _| {
            s.pending += 1;
            Ok(())
        })
        .unwrap();
    s
}

#[test]
fn the_generated_market_holds_every_case_and_the_migration_fills_it() {
    let (store, root) = v12_state(Network::Mainnet, 3, 2_000, 3, 5);
    let (out, _) = nv22(&store, &root, Network::Mainnet, &opts(2, 64 << 20));
    let s = market_summary(&store, &out);
    eprintln!("{s:?}");
    assert!(s.states > 1_000, "{s:?}");
    assert!(s.with_sector > s.states / 2, "{s:?}");
    assert!(s.with_sector < s.states, "{s:?}");
    assert!(s.slashed > 0, "{s:?}");
    assert_eq!(s.providers, 3, "{s:?}");
    assert!(s.provider_sectors > 500, "{s:?}");
    assert!(s.pending > 0, "{s:?}");
}
