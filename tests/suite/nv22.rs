//! End-to-end nv22: generated states with a market consistent with their
//! miners (every case of docs/upgrades/nv22.md), migrated v11 → v12 by nv21 first;
//! the engine's root equals the typed reference's on every path.

use crate::common;

use cid::Cid;
use common::states::{generate, small_config};
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{
    migrate_state, MemoryCache, MigrationOptions, MigrationReport, NoCache, Upgrade,
};
use fil_migrate::store::MemStore;

fn opts(threads: usize, budget: u64) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: budget,
        ..Default::default()
    }
}

/// A v12 state with a market: generated at v11, then nv21 (on calibnet
/// also its two fix upgrades, to the final v12.0.0 nv22 starts from).
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
    let v11_data = Upgrade::load("nv21", network)
        .unwrap()
        .old_manifest
        .data_cid;
    let path = fil_migrate::migration::chain::upgrade_path(network, &v11_data, "nv21").unwrap();
    let roots =
        fil_migrate::migration::chain::migrate_through(&store, &v11, &path, &opts(2, 64 << 20))
            .unwrap();
    (store, *roots.last().unwrap())
}

fn nv22(
    store: &MemStore,
    root: &Cid,
    network: Network,
    o: &MigrationOptions,
) -> (Cid, MigrationReport) {
    let spec = Upgrade::load("nv22", network).unwrap();
    let out = migrate_state(store, root, &spec, &MemoryCache::default(), o).unwrap();
    (out.state_root, out.report)
}

#[test]
fn migrated_root_equals_the_typed_reference_on_mainnet_and_calibnet() {
    for (network, miners, sectors) in [(Network::Mainnet, 4, 1_500), (Network::Calibnet, 2, 700)] {
        let (store, root) = v12_state(network, miners, sectors, 4, 3);
        let spec = Upgrade::load("nv22", network).unwrap();
        let reference = reference_root(&store, &root, &spec).unwrap();
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

#[test]
fn same_root_for_every_thread_count_budget_and_cache_state() {
    let (store, root) = v12_state(Network::Mainnet, 3, 2_500, 3, 11);
    let spec = Upgrade::load("nv22", Network::Mainnet).unwrap();
    let reference = reference_root(&store, &root, &spec).unwrap();
    for (threads, budget) in [(1, 16 << 10), (2, 16 << 10), (1, 256 << 20), (2, 256 << 20)] {
        let (ours, _) = nv22(&store, &root, Network::Mainnet, &opts(threads, budget));
        assert_eq!(ours, reference, "{threads} threads, {budget} bytes");
    }
    // A cache filled by a first run (a premigration of the same state).
    let cache = MemoryCache::default();
    let first = migrate_state(&store, &root, &spec, &cache, &opts(2, 1 << 20)).unwrap();
    let second = migrate_state(&store, &root, &spec, &cache, &opts(2, 1 << 20)).unwrap();
    assert_eq!(first.state_root, reference);
    assert_eq!(second.state_root, reference);
}

/// Rewrites actor `id`'s head in the state `root` with `edit(old head) → new head`.
fn edit_actor(store: &MemStore, root: &Cid, id: u64, edit: impl FnOnce(Cid) -> Cid) -> Cid {
    use fil_migrate::actors::state_tree::{get_cbor, put_cbor, ActorState, StateRoot};
    use fil_migrate::ipld::hamt::{get_value, replace_value};
    let mut sr: StateRoot = get_cbor(store, root, "root").unwrap();
    let key = fvm_shared3::address::Address::new_id(id).to_bytes();
    let raw = get_value(store, &sr.actors, 5, &key).unwrap().unwrap();
    let mut a: ActorState = fvm_ipld_encoding::from_slice(&raw).unwrap();
    a.head = edit(a.head);
    let v = fvm_ipld_encoding::to_vec(&a).unwrap();
    sr.actors = replace_value(store, &sr.actors, 5, &key, &v)
        .unwrap()
        .unwrap();
    put_cbor(store, &sr).unwrap()
}

/// Edits the v12 market state of `root`.
fn edit_market(
    store: &MemStore,
    root: &Cid,
    edit: impl FnOnce(&mut fil_actor_market_state::v12::State),
) -> Cid {
    use fil_migrate::actors::state_tree::{get_cbor, put_cbor};
    edit_actor(store, root, 5, |head| {
        let mut st: fil_actor_market_state::v12::State = get_cbor(store, &head, "market").unwrap();
        edit(&mut st);
        put_cbor(store, &st).unwrap()
    })
}

fn nv22_error(store: &MemStore, root: &Cid) -> String {
    let spec = Upgrade::load("nv22", Network::Mainnet).unwrap();
    match migrate_state(store, root, &spec, &NoCache, &opts(2, 1 << 20)) {
        Ok(o) => panic!("migrated to {}", o.state_root),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_deal_state_without_its_proposal_is_an_error_naming_the_deal() {
    use fil_actor_market_state::v12::{DealProposal, DealState};
    let (store, root) = v12_state(Network::Mainnet, 2, 600, 2, 13);
    let mut victim = None;
    let bad = edit_market(&store, &root, |st| {
        let states: fvm_ipld_amt::Amt<DealState, _> =
            fvm_ipld_amt::Amt::load(&st.states, &store).unwrap();
        states
            .for_each(|i, _| {
                victim.get_or_insert(i);
                Ok(())
            })
            .unwrap();
        let mut props: fvm_ipld_amt::Amt<DealProposal, _> =
            fvm_ipld_amt::Amt::load(&st.proposals, &store).unwrap();
        props.delete(victim.unwrap()).unwrap().unwrap();
        st.proposals = props.flush().unwrap();
    });
    let deal = victim.unwrap();
    let e = nv22_error(&store, &bad);
    assert!(e.contains(&format!("deal {deal} ")), "{e}");
    assert!(e.contains("no proposal"), "{e}");
    assert!(e.contains("f05"), "{e}");
}

#[test]
fn market_amts_of_the_wrong_bit_width_are_errors_naming_the_amt() {
    use fil_actor_market_state::v12::DealState;
    let (store, root) = v12_state(Network::Mainnet, 2, 600, 2, 17);
    let mut rebuilt = None;
    let bad = edit_market(&store, &root, |st| {
        let states: fvm_ipld_amt::Amt<DealState, _> =
            fvm_ipld_amt::Amt::load(&st.states, &store).unwrap();
        let mut five: fvm_ipld_amt::Amt<DealState, _> =
            fvm_ipld_amt::Amt::new_with_bit_width(&store, 5);
        states
            .for_each(|i, s| {
                five.set(i, *s)?;
                Ok(())
            })
            .unwrap();
        st.states = five.flush().unwrap();
        rebuilt = Some(st.states);
    });
    let e = nv22_error(&store, &bad);
    assert!(e.contains("bit width 5"), "{e}");
    assert!(e.contains(&rebuilt.unwrap().to_string()), "{e}");
}

#[test]
fn the_wrong_actors_version_or_network_is_refused_before_any_work() {
    let mut cfg = small_config(Network::Mainnet, 1, 300, 19);
    cfg.deals_per_sector = 2;
    let (store, v11) = generate(&cfg);
    let e = nv22_error(&store, &v11);
    assert!(e.contains("runs actors v11"), "{e}");
    assert!(e.contains("nv22 migrates actors v12"), "{e}");
    let nv21 = Upgrade::load("nv21", Network::Calibnet).unwrap();
    let e = migrate_state(&store, &v11, &nv21, &NoCache, &opts(1, 1 << 20)).unwrap_err();
    assert!(
        e.to_string().contains("\"mainnet\"") && e.to_string().contains("calibnet's"),
        "{e}"
    );
}

#[test]
fn calibnet_runs_dragon_on_the_release_candidate_then_dragonfix_swaps_verifreg() {
    use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
    let (store, root) = v12_state(Network::Calibnet, 2, 500, 2, 23);
    let (v13rc, _) = nv22(&store, &root, Network::Calibnet, &opts(2, 1 << 20));
    let spec = Upgrade::load("nv22", Network::Calibnet).unwrap();
    assert_eq!(spec.new_manifest.release, "v13.0.0-rc.3");
    assert_eq!(v13rc, reference_root(&store, &root, &spec).unwrap());
    let fix = Upgrade::load("nv22fix", Network::Calibnet).unwrap();
    assert!(Upgrade::load("nv22fix", Network::Mainnet).is_err());
    let fixed = migrate_state(&store, &v13rc, &fix, &NoCache, &opts(2, 1 << 20))
        .unwrap()
        .state_root;
    let actors = |r: &Cid| {
        let sr: StateRoot = get_cbor(&store, r, "root").unwrap();
        let mut out = std::collections::BTreeMap::new();
        fil_migrate::ipld::hamt::for_each_entry(&store, &sr.actors, 5, |k, v| {
            out.insert(
                k.to_vec(),
                fvm_ipld_encoding::from_slice::<ActorState>(v).unwrap(),
            );
            Ok(())
        })
        .unwrap();
        out
    };
    let (before, after) = (actors(&v13rc), actors(&fixed));
    assert_eq!(before.len(), after.len());
    let verifreg = fvm_shared3::address::Address::new_id(6).to_bytes();
    let system = fvm_shared3::address::Address::new_id(0).to_bytes();
    for (k, a) in &before {
        let b = &after[k];
        if *k == verifreg {
            assert_eq!(
                b.code.to_string(),
                "bafk2bzacebj2zdquagzy2xxn7up574oemg3w7ed3fe4aujkyhgdwj57voesn2"
            );
            assert_eq!(
                a.code.to_string(),
                "bafk2bzacednskl3bykz5qpo54z2j2p4q44t5of4ktd6vs6ymmg2zebsbxazkm"
            );
        } else if *k == system {
            let st: fil_actor_system_state::v13::State =
                get_cbor(&store, &b.head, "system").unwrap();
            assert_eq!(
                st.builtin_actors.to_string(),
                "bafy2bzacea5bjazzf7xqe3lync5xg76rkfzrjvsp44dfev4isde72qxdcwugm"
            );
            assert_eq!(a.code, b.code);
        } else {
            assert_eq!(a, b);
        }
    }
}

/// Edits one sector of miner `id`: the first for which `pick` holds.
fn edit_sector(
    store: &MemStore,
    root: &Cid,
    id: u64,
    pick: impl Fn(&fil_actor_miner_state::v12::SectorOnChainInfo) -> bool,
    edit: impl FnOnce(&mut fil_actor_miner_state::v12::SectorOnChainInfo),
) -> Cid {
    use fil_actor_miner_state::v12::{SectorOnChainInfo, State};
    use fil_migrate::actors::state_tree::{get_cbor, put_cbor};
    edit_actor(store, root, id, |head| {
        let mut st: State = get_cbor(store, &head, "miner").unwrap();
        let mut sectors: fvm_ipld_amt::Amt<SectorOnChainInfo, _> =
            fvm_ipld_amt::Amt::load(&st.sectors, store).unwrap();
        let mut found = None;
        sectors
            .for_each(|i, s| {
                if found.is_none() && pick(s) {
                    found = Some((i, s.clone()));
                }
                Ok(())
            })
            .unwrap();
        let (i, mut s) = found.expect("a sector to edit");
        edit(&mut s);
        sectors.set(i, s).unwrap();
        st.sectors = sectors.flush().unwrap();
        put_cbor(store, &st).unwrap()
    })
}

/// Premigrates `before`, then migrates `after` through that cache: the
/// result must be the typed reference's from-scratch root of `after`.
fn final_equals_from_scratch(store: &MemStore, before: &Cid, after: &Cid) {
    let spec = Upgrade::load("nv22", Network::Mainnet).unwrap();
    let cache = MemoryCache::default();
    migrate_state(store, before, &spec, &cache, &opts(2, 1 << 20)).unwrap();
    let fin = migrate_state(store, after, &spec, &cache, &opts(2, 1 << 20)).unwrap();
    assert_eq!(fin.state_root, reference_root(store, after, &spec).unwrap());
    assert_eq!(
        fin.report.actors_tree,
        Some(fil_migrate::migration::actors_tree::TreePath::Remapped),
        "the final is patched"
    );
}

#[test]
fn the_reference_diff_paths_divergences_do_not_happen_here() {
    let (store, a) = v12_state(Network::Mainnet, 2, 1_500, 3, 29);
    let u = Upgrade::load("nv22", Network::Mainnet).unwrap().height;
    let miner = 102; // the first miner (after its owner and worker)
                     // §3.4 (1): a sector with deals expiring before the upgrade changes
                     // between premigration and upgrade; it stays out of ProviderSectors.
    let short = edit_sector(
        &store,
        &a,
        miner,
        |s| s.deal_ids.len() > 1,
        |s| s.expiration = u - 10,
    );
    let b = edit_sector(
        &store,
        &short,
        miner,
        |s| !s.deal_ids.is_empty() && s.expiration < u,
        |s| s.deal_ids.reverse(),
    );
    assert_ne!(b, short);
    final_equals_from_scratch(&store, &short, &b);
    // §3.4 (3): a kept sector's deal list becomes empty; it leaves
    // ProviderSectors and its deals lose their sector number.
    let c = edit_sector(
        &store,
        &a,
        miner,
        |s| !s.deal_ids.is_empty() && s.expiration >= u,
        |s| s.deal_ids.clear(),
    );
    final_equals_from_scratch(&store, &a, &c);
    // §3.4 (2), by its effect: a miner with kept sectors that had none at
    // the premigration (there, a brand-new miner's sectors are ignored).
    let empty = edit_actor(&store, &a, miner, |head| {
        use fil_migrate::actors::state_tree::{get_cbor, put_cbor};
        let mut st: fil_actor_miner_state::v12::State = get_cbor(&store, &head, "m").unwrap();
        st.sectors = fvm_ipld_amt::Amt::<(), _>::new_with_bit_width(&store, 5)
            .flush()
            .unwrap();
        put_cbor(&store, &st).unwrap()
    });
    final_equals_from_scratch(&store, &empty, &a);
}

/// Edits miner `id`'s v12 sectors AMT.
fn edit_sectors(
    store: &MemStore,
    root: &Cid,
    id: u64,
    edit: impl FnOnce(&mut fvm_ipld_amt::Amt<fil_actor_miner_state::v12::SectorOnChainInfo, &MemStore>),
) -> Cid {
    use fil_actor_miner_state::v12::State;
    use fil_migrate::actors::state_tree::{get_cbor, put_cbor};
    edit_actor(store, root, id, |head| {
        let mut st: State = get_cbor(store, &head, "miner").unwrap();
        let mut sectors = fvm_ipld_amt::Amt::load(&st.sectors, store).unwrap();
        edit(&mut sectors);
        st.sectors = sectors.flush().unwrap();
        put_cbor(store, &st).unwrap()
    })
}

#[test]
fn a_final_after_sector_and_deal_churn_is_patched_and_equals_from_scratch() {
    use fil_actor_market_state::v12::{DealProposal, DealState};
    use fil_migrate::migration::actors_tree::TreePath;
    let (store, a) = v12_state(Network::Mainnet, 3, 1_500, 3, 31);
    let u = Upgrade::load("nv22", Network::Mainnet).unwrap().height;
    // Miner 102 gains a sector listing two new deals (and one that already
    // has a state), and loses one with deals; miner 105 snaps deals into a
    // sector that had none.
    let mut lost = Vec::new();
    let mut b = edit_sectors(&store, &a, 102, |s| {
        let mut template = None;
        let mut victim = None;
        s.for_each(|i, info| {
            if !info.deal_ids.is_empty() && info.expiration >= u {
                template.get_or_insert((i, info.clone()));
                if template.as_ref().unwrap().0 != i {
                    victim.get_or_insert(i);
                }
            }
            Ok(())
        })
        .unwrap();
        let (_, mut t) = template.unwrap();
        let v = victim.unwrap();
        lost = s.get(v).unwrap().unwrap().deal_ids.clone();
        s.delete(v).unwrap();
        t.sector_number = 900_000;
        t.deal_ids = vec![900_000_001, 900_000_002, lost[0]];
        s.set(900_000, t).unwrap();
    });
    b = edit_sectors(&store, &b, 105, |s| {
        let mut pick = None;
        s.for_each(|i, info| {
            if info.deal_ids.is_empty() && info.expiration >= u {
                pick.get_or_insert(i);
            }
            Ok(())
        })
        .unwrap();
        let mut info = s.get(pick.unwrap()).unwrap().unwrap().clone();
        info.deal_ids = vec![900_000_003];
        s.set(pick.unwrap(), info).unwrap();
    });
    // The market: the new deals activated (proposals and states), one
    // deal slashed, one state and proposal cleaned up, updates on others.
    b = edit_market(&store, &b, |st| {
        let mut props: fvm_ipld_amt::Amt<DealProposal, _> =
            fvm_ipld_amt::Amt::load(&st.proposals, &store).unwrap();
        let mut states: fvm_ipld_amt::Amt<DealState, _> =
            fvm_ipld_amt::Amt::load(&st.states, &store).unwrap();
        let mut some = Vec::new();
        states
            .for_each(|i, _| {
                some.push(i);
                Ok(())
            })
            .unwrap();
        let template = props.get(some[0]).unwrap().unwrap().clone();
        for (k, deal) in [900_000_001u64, 900_000_002, 900_000_003]
            .into_iter()
            .enumerate()
        {
            let mut p = template.clone();
            p.end_epoch = u + 10_000;
            p.provider = fvm_shared4::address::Address::new_id(if k < 2 { 102 } else { 105 });
            props.set(deal, p).unwrap();
            states
                .set(
                    deal,
                    DealState {
                        sector_start_epoch: u - 100,
                        last_updated_epoch: -1,
                        slash_epoch: -1,
                        verified_claim: 0,
                    },
                )
                .unwrap();
        }
        let mut slashed = *states.get(some[10]).unwrap().unwrap();
        slashed.slash_epoch = u - 50;
        states.set(some[10], slashed).unwrap();
        states.delete(some[20]).unwrap();
        props.delete(some[20]).unwrap();
        for &d in &some[30..60] {
            let mut s = *states.get(d).unwrap().unwrap();
            s.last_updated_epoch = u - 7;
            states.set(d, s).unwrap();
        }
        st.proposals = props.flush().unwrap();
        st.states = states.flush().unwrap();
        st.next_id = 900_000_004;
    });
    let spec = Upgrade::load("nv22", Network::Mainnet).unwrap();
    let reference = reference_root(&store, &b, &spec).unwrap();
    for threads in [1, 2] {
        let cache = MemoryCache::default();
        migrate_state(&store, &a, &spec, &cache, &opts(threads, 1 << 20)).unwrap();
        let fin = migrate_state(&store, &b, &spec, &cache, &opts(threads, 16 << 10)).unwrap();
        assert_eq!(fin.state_root, reference, "{threads} threads");
        assert_eq!(
            fin.report.actors_tree,
            Some(TreePath::Remapped),
            "{:?}",
            fin.report.notes
        );
        // Only the two changed miners were visited, and the market.
        assert_eq!(fin.report.actors_by_migrator.get("nv22_miner"), Some(&2));
        assert_eq!(fin.report.actors_by_migrator.get("nv22_market"), Some(&1));
    }
    // The uncached root agrees (and differs from the unchurned state's).
    let (scratch, _) = nv22(&store, &b, Network::Mainnet, &opts(2, 1 << 20));
    assert_eq!(scratch, reference);
    assert_ne!(
        scratch,
        nv22(&store, &a, Network::Mainnet, &opts(2, 1 << 20)).0
    );
}

#[test]
fn premigration_then_final_after_a_generated_churn_equals_from_scratch() {
    let mut cfg = small_config(Network::Mainnet, 3, 3_000, 37);
    cfg.deals_per_sector = 3;
    // Some settle and are collected (deleted) by the churn.
    cfg.payment_channels = 300;
    let (store, a11) = generate(&cfg);
    let b11 = common::states::successor(&store, &a11, 5);
    let nv21 = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let up = |r: &Cid| {
        migrate_state(&store, r, &nv21, &NoCache, &opts(2, 64 << 20))
            .unwrap()
            .state_root
    };
    let (a, b) = (up(&a11), up(&b11));
    let spec = Upgrade::load("nv22", Network::Mainnet).unwrap();
    let reference = reference_root(&store, &b, &spec).unwrap();
    let cache = MemoryCache::default();
    migrate_state(&store, &a, &spec, &cache, &opts(2, 1 << 20)).unwrap();
    let fin = migrate_state(&store, &b, &spec, &cache, &opts(2, 16 << 10)).unwrap();
    assert_eq!(fin.state_root, reference);
    assert_eq!(
        fin.report.actors_tree,
        Some(fil_migrate::migration::actors_tree::TreePath::Remapped)
    );
    // The churn reached the market: deals activated, slashed, cleaned up.
    let (sa, sb) = (
        market_summary(
            &store,
            &nv22(&store, &a, Network::Mainnet, &opts(2, 1 << 20)).0,
        ),
        market_summary(&store, &fin.state_root),
    );
    assert_ne!(sa.states, sb.states, "{sa:?} {sb:?}");
    assert!(sb.slashed > sa.slashed, "{sa:?} {sb:?}");
}
