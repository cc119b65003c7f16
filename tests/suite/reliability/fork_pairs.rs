//! A cache gives the from-scratch root for *any* pair of states, not only a
//! successor: a node can premigrate a tipset the chain then abandons, and an
//! operator can point `--store` at any state. For every upgrade with a
//! cached or patched path (nv21's sectors, the actors-tree remap, nv22's
//! miners and market, nv25's memoised miners), a final migration through a
//! cache premigrated on state A gives the uncached root of state B, whatever
//! A and B are: a successor, a sibling fork of a common ancestor, an older
//! state, with miners present in only one of them.
//!
//! Issue 23's wrong nv22 root is the named regression: premigrating a state
//! whose churn created miners, then finishing on the state before it, kept
//! those miners' `ProviderSectors` entries (and their deals' sector
//! numbers), exit 0.

use std::sync::{Arc, OnceLock};

use crate::common::states::{generate, small_config};
use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, put_cbor, ActorState, StateRoot};
use fil_migrate::migration::chain::{migrate_through, upgrade_path};
use fil_migrate::migration::{
    migrate_on_store, migrate_state, MemoryCache, MigrationOptions, NoCache, StoreRole, Upgrade,
};
use fil_migrate::store::{
    BufferOptions, BufferedBlockstore, DiskStore, DiskStoreOptions, MemStore,
};
use fil_migrate::synth::churn::{churn_state, ChurnConfig};
use fil_migrate::synth::GenConfig;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use proptest::prelude::*;

/// The upgrades whose final migration reuses a premigration's work beyond
/// the actors-tree remap every upgrade has.
const CACHED: [&str; 3] = ["nv21", "nv22", "nv25"];

fn opts() -> MigrationOptions {
    MigrationOptions {
        threads: 2,
        memory_budget: 1 << 20,
        ..Default::default()
    }
}

/// A small v11 state with deals, empty miners and every vesting shape.
fn ancestor_config(seed: u64) -> GenConfig {
    let mut cfg = small_config(Network::Mainnet, 4, 240, seed);
    cfg.deals_per_sector = 2;
    cfg.empty_miners = 2;
    cfg.mixed_vesting = true;
    cfg.mining_reserve = true;
    cfg
}

/// A fork of `state`: `fraction` of each miner's sectors changed, deals
/// churned, `new_miners` miners created (at the same IDs a sibling fork
/// gives its own, different, miners).
fn fork(store: &MemStore, state: &Cid, seed: u64, fraction: f64, new_miners: u64) -> Cid {
    let buf = BufferedBlockstore::new(store, BufferOptions::default());
    let (next, _) = churn_state(
        &buf,
        state,
        &ChurnConfig {
            change_fraction: Some(fraction),
            seed,
            new_miners,
            new_miner_sectors: 40,
            ..Default::default()
        },
    )
    .expect("churn");
    buf.flush(&next).expect("flush");
    next
}

/// `state` without the `nth` miner that has sectors: the actor gone from the
/// tree (its deals stay in the market, provider-less), as a fork where it
/// was never created would have it.
fn without_miner(store: &MemStore, state: &Cid, nth: usize) -> Cid {
    let sr: StateRoot = get_cbor(store, state, "state root").unwrap();
    let miner_code = Upgrade::load("nv21", Network::Mainnet)
        .unwrap()
        .old_manifest
        .code_of("storageminer")
        .unwrap();
    let mut miners = Vec::new();
    fil_migrate::ipld::hamt::for_each_entry(store, &sr.actors, 5, |k, v| {
        let a: ActorState = fvm_ipld_encoding::from_slice(v).unwrap();
        if a.code == miner_code {
            let st: fil_actor_miner_state::v11::State = get_cbor(store, &a.head, "miner").unwrap();
            let n = fvm_ipld_amt::Amt::<fvm_ipld_encoding::RawBytes, _>::load(&st.sectors, store)
                .unwrap()
                .count();
            if n > 0 {
                miners.push(k.to_vec());
            }
        }
        Ok(())
    })
    .unwrap();
    miners.sort();
    let key = miners[nth % miners.len()].clone();
    let mut hamt: Hamt<_, ActorState, BytesKey> =
        Hamt::load_with_bit_width(&sr.actors, store, 5).unwrap();
    hamt.delete(&BytesKey(key))
        .unwrap()
        .expect("the miner was there");
    let actors = hamt.flush().unwrap();
    put_cbor(store, &StateRoot { actors, ..sr }).unwrap()
}

/// Every upgrade from v11 up to (not including) `name`.
fn path_before(name: &str) -> Vec<Upgrade> {
    let v11 = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let mut specs = upgrade_path(Network::Mainnet, &v11.old_manifest.data_cid, "nv29").unwrap();
    let at = specs.iter().position(|s| s.name == name).unwrap();
    specs.truncate(at);
    specs
}

/// `v11` taken to the input version of `name` (uncached).
fn input_of(store: &MemStore, v11: &Cid, name: &str) -> Cid {
    migrate_through(store, v11, &path_before(name), &opts())
        .unwrap()
        .last()
        .copied()
        .unwrap_or(*v11)
}

fn spec(name: &str) -> Upgrade {
    Upgrade::load(name, Network::Mainnet).unwrap()
}

fn uncached(store: &MemStore, state: &Cid, spec: &Upgrade) -> Cid {
    migrate_state(store, state, spec, &NoCache, &opts())
        .unwrap()
        .state_root
}

/// The final root on `b` through a cache premigrated on `a` (one process,
/// one store holding both states, as a node runs it).
fn through_memory_cache(store: &MemStore, a: &Cid, b: &Cid, spec: &Upgrade) -> Cid {
    let cache = MemoryCache::default();
    migrate_state(store, a, spec, &cache, &opts()).unwrap();
    migrate_state(store, b, spec, &cache, &opts())
        .unwrap()
        .state_root
}

/// Only `root`'s DAG, in a store of its own (a snapshot of that state).
fn snapshot_of(store: &MemStore, root: &Cid) -> Arc<MemStore> {
    let out = MemStore::new();
    for c in crate::common::reachable(store, root) {
        out.put_keyed(&c, &store.get(&c).unwrap().unwrap()).unwrap();
    }
    Arc::new(out)
}

/// The final root on `b` through a store premigrated on `a`, each state
/// read from its own snapshot (as `premigrate` then `migrate --store` run
/// them offline: only what the premigration kept of `a` is there).
fn through_store(store: &MemStore, a: &Cid, b: &Cid, spec: &Upgrade) -> Cid {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    migrate_on_store(
        snapshot_of(store, a),
        &disk,
        a,
        spec,
        &opts(),
        StoreRole::Premigration,
    )
    .unwrap();
    migrate_on_store(
        snapshot_of(store, b),
        &disk,
        b,
        spec,
        &opts(),
        StoreRole::Final { keep_inputs: true },
    )
    .unwrap()
    .state_root
}

/// One ancestor and its forks, at v11, in one store.
struct Family {
    store: MemStore,
    ancestor: Cid,
}

fn family() -> &'static Family {
    static F: OnceLock<Family> = OnceLock::new();
    F.get_or_init(|| {
        let (store, ancestor) = generate(&ancestor_config(71));
        Family { store, ancestor }
    })
}

#[test]
fn nv22_final_on_the_state_before_a_premigration_that_created_miners_drops_their_provider_sectors()
{
    let f = family();
    let store = &f.store;
    // A: the ancestor with one miner it does not have (the ancestor minus
    // that miner plays the older state), its deals listed by its sectors.
    let a_v11 = f.ancestor;
    let b_v11 = without_miner(store, &a_v11, 1);
    let (a, b) = (
        input_of(store, &a_v11, "nv22"),
        input_of(store, &b_v11, "nv22"),
    );
    let nv22 = spec("nv22");
    let expected = uncached(store, &b, &nv22);
    assert_ne!(expected, uncached(store, &a, &nv22));
    assert_eq!(through_memory_cache(store, &a, &b, &nv22), expected);
    assert_eq!(through_store(store, &a, &b, &nv22), expected);
}

#[test]
fn every_cached_upgrade_gives_the_uncached_root_on_forks_older_states_and_vanished_miners() {
    let f = family();
    let store = &f.store;
    let s0 = f.ancestor;
    let a = fork(store, &s0, 11, 0.05, 2);
    let b = fork(store, &s0, 12, 0.08, 3);
    let d = without_miner(store, &a, 0);
    // (premigrated, final): a sibling fork both ways, an older state and a
    // successor, a vanished miner both ways.
    let pairs = [(a, b), (b, a), (a, s0), (s0, a), (a, d), (d, a), (b, d)];
    for name in CACHED {
        let sp = spec(name);
        for (i, (x, y)) in pairs.iter().enumerate() {
            let (x, y) = (input_of(store, x, name), input_of(store, y, name));
            let expected = uncached(store, &y, &sp);
            assert_eq!(
                through_memory_cache(store, &x, &y, &sp),
                expected,
                "{name}, pair {i}, memory cache"
            );
            assert_eq!(
                through_store(store, &x, &y, &sp),
                expected,
                "{name}, pair {i}, store"
            );
        }
    }
}

/// Random pairs per upgrade (100; `FORK_PAIR_CASES` sets another count).
fn cases() -> u32 {
    std::env::var("FORK_PAIR_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// A drawn pair: two independent churns of the common ancestor (either may
/// be the ancestor itself, either may lose a miner), in either order.
#[derive(Debug, Clone)]
struct Draw {
    seeds: (u64, u64),
    fractions: (f64, f64),
    new_miners: (u64, u64),
    identity: (bool, bool),
    vanished: (Option<usize>, Option<usize>),
}

fn draw() -> impl Strategy<Value = Draw> {
    (
        (1u64..1_000_000, 1u64..1_000_000),
        (0.0f64..0.2, 0.0f64..0.2),
        (0u64..4, 0u64..4),
        (any::<bool>(), any::<bool>()),
        (
            proptest::option::weighted(0.3, 0usize..8),
            proptest::option::weighted(0.3, 0usize..8),
        ),
    )
        .prop_map(|(seeds, fractions, new_miners, identity, vanished)| Draw {
            seeds,
            fractions,
            new_miners,
            identity,
            vanished,
        })
}

fn side(f: &Family, seed: u64, fraction: f64, new: u64, same: bool, vanish: Option<usize>) -> Cid {
    let mut s = if same && new == 0 {
        f.ancestor
    } else {
        fork(&f.store, &f.ancestor, seed, fraction, new)
    };
    if let Some(n) = vanish {
        s = without_miner(&f.store, &s, n);
    }
    s
}

/// Premigrates one side of `d`, finishes on the other, and compares.
fn check(name: &str, d: &Draw) -> Result<(), TestCaseError> {
    let f = family();
    let x = side(
        f,
        d.seeds.0,
        d.fractions.0,
        d.new_miners.0,
        d.identity.0,
        d.vanished.0,
    );
    let y = side(
        f,
        d.seeds.1,
        d.fractions.1,
        d.new_miners.1,
        d.identity.1,
        d.vanished.1,
    );
    let sp = spec(name);
    let (x, y) = (input_of(&f.store, &x, name), input_of(&f.store, &y, name));
    let expected = uncached(&f.store, &y, &sp);
    prop_assert_eq!(
        through_memory_cache(&f.store, &x, &y, &sp),
        expected,
        "{}",
        name
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn nv21_through_any_premigrated_state_equals_the_uncached_run(d in draw()) {
        check("nv21", &d)?;
    }

    #[test]
    fn nv22_through_any_premigrated_state_equals_the_uncached_run(d in draw()) {
        check("nv22", &d)?;
    }

    #[test]
    fn nv25_through_any_premigrated_state_equals_the_uncached_run(d in draw()) {
        check("nv25", &d)?;
    }
}

/// A run on a state the cache already holds takes the cached tree and
/// moves the actors-tree base to that state, without running the market:
/// the market base, of another state, must not be patched against it.
#[test]
fn a_cached_tree_run_between_premigrations_does_not_pair_the_market_base_with_another_state() {
    let f = family();
    let store = &f.store;
    let s0 = f.ancestor;
    let (a, b, c) = (
        fork(store, &s0, 21, 0.05, 1),
        fork(store, &s0, 22, 0.05, 2),
        fork(store, &s0, 23, 0.05, 0),
    );
    for name in CACHED {
        let sp = spec(name);
        let [a, b, c] = [a, b, c].map(|s| input_of(store, &s, name));
        let cache = MemoryCache::default();
        for s in [a, b, a, c] {
            let got = migrate_state(store, &s, &sp, &cache, &opts())
                .unwrap()
                .state_root;
            assert_eq!(got, uncached(store, &s, &sp), "{name}");
        }
    }
}
