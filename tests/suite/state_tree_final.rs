//! The final migration by diff of the state tree: a premigration's pair
//! (input actors root → output actors root) lets the next run migrate only
//! the actors whose entries changed. Every path must give the uncached root,
//! at any thread count and budget, and a pair that cannot be used falls back
//! to the full walk.

use crate::common;

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
use fil_migrate::ipld::hamt::for_each_entry;
use fil_migrate::migration::actors_tree::TreePath;
use fil_migrate::migration::cache::{actors_tree_key, PREV_ACTORS_IN, PREV_ACTORS_OUT};
use fil_migrate::migration::{
    migrate_state, MemoryCache, MigrationCache, MigrationOptions, NoCache, Upgrade,
};
use fil_migrate::store::MemStore;
use fil_migrate::store::{BufferOptions, BufferedBlockstore};
use fil_migrate::synth::actor_churn::ActorChurn;
use fil_migrate::synth::build::build_state;
use fil_migrate::synth::churn::{churn_state, ChurnConfig, ChurnStats};
use fil_migrate::synth::mainnet_preset;

fn spec() -> Upgrade {
    Upgrade::load("nv21", Network::Mainnet).unwrap()
}

fn opts(threads: usize, budget: u64) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: budget,
        ..Default::default()
    }
}

/// A mainnet-shaped state (the preset at a small scale: empty miners,
/// payment channels, placeholders, a power law of miners with sectors) and
/// its successor after 180 epochs of the preset's churn.
fn preset_pair() -> (MemStore, Cid, Cid, ChurnStats) {
    let mem = MemStore::new();
    let buf = BufferedBlockstore::new(&mem, BufferOptions::default());
    let cfg = mainnet_preset(0.004, 20_000, 7);
    let (s0, _) = build_state(&buf, &cfg).unwrap();
    buf.flush(&s0).unwrap();
    // Ten times mainnet's rates, so that 15k actors see every kind of change.
    let d = ActorChurn::default();
    let churn = ChurnConfig {
        actors: ActorChurn {
            sender_rate: 10.0 * d.sender_rate,
            recipient_rate: 10.0 * d.recipient_rate,
            fee_miner_rate: 10.0 * d.fee_miner_rate,
        },
        ..Default::default()
    };
    let (s1, stats) = churn_state(&buf, &s0, &churn).unwrap();
    buf.flush(&s1).unwrap();
    drop(buf);
    (mem, s0, s1, stats)
}

#[test]
fn a_final_migration_after_premigration_migrates_only_changed_actors_and_gives_the_uncached_root() {
    let (mem, s0, s1, churn) = preset_pair();
    assert!(churn.actors.senders > 10, "{churn:?}");
    assert!(churn.new_accounts > 0 && churn.new_miners > 0, "{churn:?}");
    assert!(
        churn.actors.deleted > 0,
        "payment channels collected: {churn:?}"
    );
    assert!(churn.actors.fee_miners > 0, "{churn:?}");
    let uncached = migrate_state(&mem, &s1, &spec(), &NoCache, &opts(2, 1 << 30)).unwrap();
    assert_eq!(uncached.report.actors_tree, Some(TreePath::Mapped));
    let total = uncached.report.actors;

    for (threads, budget) in [(1, 16 << 20), (2, 16 << 10), (2, 1 << 30)] {
        let cache = MemoryCache::default();
        let pre = migrate_state(&mem, &s0, &spec(), &cache, &opts(threads, budget)).unwrap();
        assert_eq!(pre.report.actors_tree, Some(TreePath::Mapped));
        let fin = migrate_state(&mem, &s1, &spec(), &cache, &opts(threads, budget)).unwrap();
        assert_eq!(
            fin.state_root, uncached.state_root,
            "{threads} threads, {budget} B budget"
        );
        assert_eq!(fin.report.actors_tree, Some(TreePath::Remapped));
        assert!(
            fin.report.actors * 5 < total,
            "the final migrated {} of {total} actors",
            fin.report.actors
        );
        assert!(fin.report.actor_subtrees_reused > 0);
        // The same state again is one cache hit for the whole tree.
        let again = migrate_state(&mem, &s1, &spec(), &cache, &opts(threads, budget)).unwrap();
        assert_eq!(again.state_root, uncached.state_root);
        assert_eq!(again.report.actors_tree, Some(TreePath::Cached));
        assert_eq!(again.report.actors, 0);
    }
}

#[test]
fn a_previous_pair_whose_blocks_are_missing_is_not_trusted() {
    let (mem, s0, s1, _) = preset_pair();
    let uncached = migrate_state(&mem, &s1, &spec(), &NoCache, &opts(2, 1 << 30))
        .unwrap()
        .state_root;
    let cache = MemoryCache::default();
    migrate_state(&mem, &s0, &spec(), &cache, &opts(2, 1 << 30)).unwrap();
    // A previous output that is not in the store (a pruned or damaged store).
    let (gone, _) = common::node(1, &[], 8);
    let input = cache.get(PREV_ACTORS_IN).unwrap().unwrap();
    cache.put(PREV_ACTORS_OUT, gone).unwrap();
    cache.put(&actors_tree_key(&input), gone).unwrap();
    let fin = migrate_state(&mem, &s1, &spec(), &cache, &opts(2, 1 << 30)).unwrap();
    assert_eq!(fin.state_root, uncached);
    assert_eq!(fin.report.actors_tree, Some(TreePath::Mapped));
    assert!(
        fin.report.notes.iter().any(|n| n.contains("not readable")),
        "{:?}",
        fin.report.notes
    );
    // A pair that is not one migration's input and output, though of the
    // same shape (here the input itself as its "output"), is not used
    // either: whether the cache's other entry for that input disagrees, or
    // (with that entry gone) because the output's actors have old code.
    let cache = MemoryCache::default();
    migrate_state(&mem, &s0, &spec(), &cache, &opts(2, 1 << 30)).unwrap();
    let input = cache.get(PREV_ACTORS_IN).unwrap().unwrap();
    cache.put(PREV_ACTORS_OUT, input).unwrap();
    let fin = migrate_state(&mem, &s1, &spec(), &cache, &opts(2, 1 << 30)).unwrap();
    assert_eq!(fin.state_root, uncached);
    assert_eq!(fin.report.actors_tree, Some(TreePath::Mapped));
    assert!(
        fin.report.notes.iter().any(|n| n.contains("disagrees")),
        "{:?}",
        fin.report.notes
    );
    let cache2 = MemoryCache::default();
    for (k, v) in cache.entries() {
        if !k.starts_with("actorsTree-") {
            cache2.put(&k, v).unwrap();
        }
    }
    cache2.put(PREV_ACTORS_IN, input).unwrap();
    cache2.put(PREV_ACTORS_OUT, input).unwrap();
    let fin = migrate_state(&mem, &s1, &spec(), &cache2, &opts(2, 1 << 30)).unwrap();
    assert_eq!(fin.state_root, uncached);
    assert_eq!(fin.report.actors_tree, Some(TreePath::Mapped));
    assert!(
        fin.report
            .notes
            .iter()
            .any(|n| n.contains("does not line up")),
        "{:?}",
        fin.report.notes
    );
}

#[test]
fn the_preset_is_deterministic_and_mainnet_shaped() {
    let cfg = mainnet_preset(0.001, 5_000, 3);
    let a = common::states::generate(&cfg);
    let b = common::states::generate(&cfg);
    assert_eq!(a.1, b.1, "same config, same root");
    let r = migrate_state(&a.0, &a.1, &spec(), &NoCache, &opts(2, 1 << 30)).unwrap();
    let by = &r.report.actors_by_migrator;
    // 0.7M miners and 3.8M actors at scale 1: here 700 and ~3,800.
    assert_eq!(by["nv21_miner"], 700);
    assert!(
        (3_700..3_900).contains(&r.report.actors),
        "{}",
        r.report.actors
    );
}

/// With WindowPoSt in the churn (as on mainnet, and in `gen --from`), every
/// miner with sectors changes its head within 180 epochs, and the final
/// still gives the uncached root.
#[test]
fn with_window_post_every_miner_with_sectors_changes_and_the_final_is_exact() {
    let mem = MemStore::new();
    let buf = BufferedBlockstore::new(&mem, BufferOptions::default());
    let (s0, _) = build_state(&buf, &mainnet_preset(0.004, 20_000, 7)).unwrap();
    buf.flush(&s0).unwrap();
    let churn = ChurnConfig {
        window_post: true,
        ..Default::default()
    };
    let (s1, _) = churn_state(&buf, &s0, &churn).unwrap();
    buf.flush(&s1).unwrap();
    drop(buf);
    let heads = |root: &Cid| -> std::collections::BTreeMap<Vec<u8>, (Cid, Cid)> {
        let sr: StateRoot = get_cbor(&mem, root, "state root").unwrap();
        let mut out = std::collections::BTreeMap::new();
        for_each_entry(&mem, &sr.actors, 5, |k, v| {
            let a: ActorState = fvm_ipld_encoding::from_slice(v).unwrap();
            out.insert(k.to_vec(), (a.code, a.head));
            Ok(())
        })
        .unwrap();
        out
    };
    let (before, after) = (heads(&s0), heads(&s1));
    let miner_code = spec().old_manifest.code_of("storageminer").unwrap();
    let empty_sectors = fil_migrate::ipld::amt::AmtBuilder::new(&mem, 5)
        .unwrap()
        .finish()
        .unwrap();
    let (mut with_sectors, mut changed) = (0, 0);
    for (k, (code, head)) in &before {
        if *code != miner_code {
            continue;
        }
        let st: fil_actor_miner_state::v11::State = get_cbor(&mem, head, "miner").unwrap();
        if st.sectors == empty_sectors {
            continue;
        }
        with_sectors += 1;
        changed += usize::from(after.get(k).is_some_and(|(_, h)| h != head));
    }
    assert!(with_sectors > 5, "{with_sectors} miners with sectors");
    assert_eq!(changed, with_sectors);
    let uncached = migrate_state(&mem, &s1, &spec(), &NoCache, &opts(2, 1 << 30)).unwrap();
    let cache = MemoryCache::default();
    migrate_state(&mem, &s0, &spec(), &cache, &opts(2, 16 << 10)).unwrap();
    let fin = migrate_state(&mem, &s1, &spec(), &cache, &opts(2, 16 << 10)).unwrap();
    assert_eq!(fin.state_root, uncached.state_root);
    assert_eq!(fin.report.actors_tree, Some(TreePath::Remapped));
}
