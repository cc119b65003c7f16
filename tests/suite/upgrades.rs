//! nv24 … nv29 and the calibnet fix upgrades: every upgrade, chained from a
//! generated v11 state holding what each one reads, equals its typed
//! reference path on both networks, at 1 and 2 threads and any budget;
//! through a premigration's cache it equals the uncached run; nv25 sums
//! live power over every partition; bad input is refused by name.

use crate::common;

use cid::Cid;
use common::states::{generate, small_config, successor};
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
use fil_migrate::ipld::hamt::for_each_entry;
use fil_migrate::migration::chain::{migrate_through, upgrade_path};
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::MemStore;
use fil_migrate::synth::GenConfig;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::CborStore;
use multihash_codetable::Code;

fn opts(threads: usize, budget: u64) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: budget,
        ..Default::default()
    }
}

/// A small state with deals and everything a later upgrade reads.
fn config(network: Network, seed: u64) -> GenConfig {
    let mut cfg = small_config(network, 4, 700, seed);
    cfg.deals_per_sector = 3;
    cfg.mining_reserve = true;
    cfg.solstice_contracts = true;
    cfg.mixed_vesting = true;
    cfg.evm_contracts = 16;
    cfg.empty_miners = 3;
    cfg
}

/// Every shipped upgrade on `network` from v11 up to `target`.
fn path(network: Network, target: &str) -> Vec<Upgrade> {
    let v11 = Upgrade::load("nv21", network).unwrap();
    upgrade_path(network, &v11.old_manifest.data_cid, target).unwrap()
}

/// The state at the input of upgrade `name` (every upgrade before it run).
fn input_of(store: &MemStore, v11: &Cid, network: Network, name: &str) -> Cid {
    let mut specs = path(network, "nv29");
    let at = specs.iter().position(|s| s.name == name).unwrap();
    specs.truncate(at);
    migrate_through(store, v11, &specs, &opts(2, 64 << 20))
        .unwrap()
        .last()
        .copied()
        .unwrap_or(*v11)
}

fn actors(store: &MemStore, root: &Cid) -> Vec<(u64, ActorState)> {
    let sr: StateRoot = get_cbor(store, root, "root").unwrap();
    let mut out = Vec::new();
    for_each_entry(store, &sr.actors, 5, |k, v| {
        let a = fvm_shared4::address::Address::from_bytes(k).unwrap();
        out.push((a.id().unwrap(), fvm_ipld_encoding::from_slice(v).unwrap()));
        Ok(())
    })
    .unwrap();
    out
}

fn of_kind<'a>(
    all: &'a [(u64, ActorState)],
    spec_manifest: &fil_migrate::actors::manifest::Manifest,
    name: &str,
) -> Vec<&'a (u64, ActorState)> {
    let code = spec_manifest.code_of(name).unwrap();
    all.iter().filter(|(_, a)| a.code == code).collect()
}

#[test]
fn every_upgrade_equals_its_typed_reference_on_both_networks_at_any_thread_count_and_budget() {
    for network in [Network::Mainnet, Network::Calibnet] {
        let (store, v11) = generate(&config(network, 31));
        let specs = path(network, "nv29");
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let expected: &[&str] = match network {
            Network::Mainnet => &[
                "nv21", "nv22", "nv23", "nv24", "nv25", "nv27", "nv28", "nv29",
            ],
            Network::Calibnet => &[
                "nv21", "nv21fix", "nv21fix2", "nv22", "nv22fix", "nv23", "nv24", "nv25",
                "nv26fix", "nv27", "nv28", "nv29",
            ],
        };
        assert_eq!(names, expected, "{network}");
        let mut per_config = Vec::new();
        for (threads, budget) in [(1, 16 << 10), (2, 256 << 20)] {
            let mut root = v11;
            let mut roots = Vec::new();
            for spec in &specs {
                let out = migrate_state(&store, &root, spec, &NoCache, &opts(threads, budget))
                    .unwrap()
                    .state_root;
                if spec.name != "nv21" {
                    assert_eq!(
                        out,
                        reference_root(&store, &root, spec).unwrap(),
                        "{} on {network}",
                        spec.name
                    );
                }
                roots.push(out);
                root = out;
            }
            per_config.push(roots);
        }
        assert_eq!(per_config[0], per_config[1], "{network}: same roots");
    }
}

#[test]
fn the_generated_states_hold_what_each_upgrade_reads_and_the_outputs_say_what_the_spec_says() {
    use fil_actor_miner_state::{v15, v16};
    let network = Network::Mainnet;
    let (store, v11) = generate(&config(network, 32));
    let nv25 = Upgrade::load("nv25", network).unwrap();
    let v15_root = input_of(&store, &v11, network, "nv25");
    let all = actors(&store, &v15_root);

    // Vesting tables of 0, 1 and many entries; EVM contracts with and
    // without tombstones.
    let mut shapes = [0usize; 3];
    for (_, a) in of_kind(&all, &nv25.old_manifest, "storageminer") {
        let st: v15::State = get_cbor(&store, &a.head, "miner").unwrap();
        let f: v15::VestingFunds = get_cbor(&store, &st.vesting_funds, "vesting").unwrap();
        shapes[f.funds.len().min(2)] += 1;
    }
    assert!(shapes.iter().all(|n| *n > 0), "vesting shapes {shapes:?}");
    let evms = of_kind(&all, &nv25.old_manifest, "evm");
    let tombstoned = evms
        .iter()
        .filter(|(_, a)| {
            let st: fil_actor_evm_state::v15::State = get_cbor(&store, &a.head, "evm").unwrap();
            st.tombstone.is_some()
        })
        .count();
    assert!(tombstoned > 0 && tombstoned < evms.len(), "{tombstoned}");

    // nv25's output: vesting inline as the spec says, every EVM with null
    // transient data.
    let v16_root = migrate_state(&store, &v15_root, &nv25, &NoCache, &opts(2, 1 << 20))
        .unwrap()
        .state_root;
    let after = actors(&store, &v16_root);
    let mut seen = [0usize; 3];
    for (id, a) in of_kind(&after, &nv25.new_manifest, "storageminer") {
        let before: &ActorState = &all.iter().find(|(i, _)| i == id).unwrap().1;
        let old: v15::State = get_cbor(&store, &before.head, "miner").unwrap();
        let old: v15::VestingFunds = get_cbor(&store, &old.vesting_funds, "vesting").unwrap();
        let st: v16::State = get_cbor(&store, &a.head, "miner").unwrap();
        match &st.vesting_funds.0 {
            None => {
                assert!(old.funds.is_empty());
                seen[0] += 1;
            }
            Some(inner) => {
                assert_eq!(inner.head.epoch, old.funds[0].epoch);
                assert_eq!(inner.head.amount, old.funds[0].amount);
                let tail = store.get(&inner.tail).unwrap().unwrap();
                let tail_funds: Vec<v16::VestingFund> =
                    fvm_ipld_encoding::from_slice(&tail).unwrap();
                assert_eq!(tail_funds.len(), old.funds.len() - 1);
                if old.funds.len() == 1 {
                    assert_eq!(tail, vec![0x80], "a one-entry table's tail is []");
                }
                seen[old.funds.len().min(2)] += 1;
            }
        }
    }
    assert_eq!(seen, shapes);
    for (_, a) in of_kind(&after, &nv25.new_manifest, "evm") {
        let st: fil_actor_evm_state::v16::State = get_cbor(&store, &a.head, "evm").unwrap();
        assert!(st.transient_data.is_none());
    }

    // nv24: the ramp starts at the upgrade height and lasts a year.
    let nv24 = Upgrade::load("nv24", network).unwrap();
    let power = after.iter().find(|(id, _)| *id == 4).unwrap();
    let st: fil_actor_power_state::v16::State = get_cbor(&store, &power.1.head, "power").unwrap();
    assert_eq!(st.ramp_start_epoch, nv24.height);
    assert_eq!(st.ramp_duration_epochs, 365 * 2880);

    // nv29: the SWA is the actor at the published f410 address; the
    // streams are the two of the bootstrap; the market has 12 fields.
    let v19_root = migrate_through(
        &store,
        &v16_root,
        &path(network, "nv29")[5..],
        &opts(2, 1 << 20),
    )
    .unwrap()
    .pop()
    .unwrap();
    let last = actors(&store, &v19_root);
    let reward = last.iter().find(|(id, _)| *id == 2).unwrap();
    let st: fil_actor_reward_state::v19::State =
        get_cbor(&store, &reward.1.head, "reward").unwrap();
    let swa_f410 = fvm_shared4::address::Address::new_delegated(
        10,
        &hex_bytes("66C11A9F6dfEC3c1557958cF9f575a023EB01421"),
    )
    .unwrap();
    let swa = last
        .iter()
        .find(|(_, a)| a.delegated_address.map(|d| d.to_bytes()) == Some(swa_f410.to_bytes()))
        .unwrap();
    assert_eq!(st.swa_actor.id().unwrap(), swa.0);
    assert_eq!(st.swa_timelock_epochs, 20_160);
    let streams: fil_actor_reward_state::v19::StreamsState =
        get_cbor(&store, &st.streams_root, "streams").unwrap();
    assert_eq!(streams.streams.len(), 2);
    assert_eq!(streams.streams[0].weight.slope, -190_132_864_846);
    assert_eq!(streams.streams[1].weight.t_start, 6_470_280);
    let market = last.iter().find(|(id, _)| *id == 5).unwrap();
    let _: fil_actor_market_state::v19::State = get_cbor(&store, &market.1.head, "market").unwrap();
}

fn hex_bytes(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn nv25_sums_live_power_over_every_partition_of_a_deadline() {
    use fil_actor_miner_state::{v15, v16};
    use fvm_ipld_amt::Amt;
    use fvm_ipld_hamt::{BytesKey, Hamt};
    let network = Network::Mainnet;
    let (store, v11) = generate(&config(network, 33));
    let spec = Upgrade::load("nv25", network).unwrap();
    let root = input_of(&store, &v11, network, "nv25");
    let all = actors(&store, &root);
    // A miner with sectors, its first deadline with a partition: partitions
    // 1 and 5 are added (a sparse AMT), one with more power.
    let (id, mut actor, mut st, index) = of_kind(&all, &spec.old_manifest, "storageminer")
        .into_iter()
        .find_map(|(id, a)| {
            let st: v15::State = get_cbor(&store, &a.head, "miner").unwrap();
            let dls: v15::Deadlines = get_cbor(&store, &st.deadlines, "deadlines").unwrap();
            let i = dls.due.iter().position(|d| {
                let dl: v15::Deadline = get_cbor(&store, d, "deadline").unwrap();
                let parts: Amt<v15::Partition, _> = Amt::load(&dl.partitions, &store).unwrap();
                parts.count() > 0
            })?;
            Some((*id, a.clone(), st, i))
        })
        .unwrap();
    let mut dls: v15::Deadlines = get_cbor(&store, &st.deadlines, "deadlines").unwrap();
    let mut dl: v15::Deadline = get_cbor(&store, &dls.due[index], "deadline").unwrap();
    let mut parts: Amt<v15::Partition, _> = Amt::load(&dl.partitions, &store).unwrap();
    let p0 = parts.get(0).unwrap().unwrap().clone();
    let mut p1 = p0.clone();
    p1.live_power.raw += 7u32;
    p1.live_power.qa += 11u32;
    parts.set(1, p1.clone()).unwrap();
    parts.set(5, p0.clone()).unwrap();
    dl.partitions = parts.flush().unwrap();
    dls.due[index] = store.put_cbor(&dl, Code::Blake2b256).unwrap();
    st.deadlines = store.put_cbor(&dls, Code::Blake2b256).unwrap();
    actor.head = store.put_cbor(&st, Code::Blake2b256).unwrap();
    let sr: StateRoot = get_cbor(&store, &root, "root").unwrap();
    let mut tree: Hamt<_, ActorState, BytesKey> =
        Hamt::load_with_bit_width(&sr.actors, &store, 5).unwrap();
    tree.set(
        BytesKey(fvm_shared4::address::Address::new_id(id).to_bytes()),
        actor,
    )
    .unwrap();
    let edited = store
        .put_cbor(
            &StateRoot {
                version: 5,
                actors: tree.flush().unwrap(),
                info: sr.info,
            },
            Code::Blake2b256,
        )
        .unwrap();

    let out = migrate_state(&store, &edited, &spec, &NoCache, &opts(2, 1 << 20))
        .unwrap()
        .state_root;
    assert_eq!(out, reference_root(&store, &edited, &spec).unwrap());
    let a = actors(&store, &out)
        .into_iter()
        .find(|(i, _)| *i == id)
        .unwrap()
        .1;
    let st: v16::State = get_cbor(&store, &a.head, "miner").unwrap();
    let dls: v16::Deadlines = get_cbor(&store, &st.deadlines, "deadlines").unwrap();
    let dl: v16::Deadline = get_cbor(&store, &dls.due[index], "deadline").unwrap();
    let raw = &p0.live_power.raw * 2u32 + &p1.live_power.raw;
    let qa = &p0.live_power.qa * 2u32 + &p1.live_power.qa;
    assert_eq!(dl.live_power.raw, raw);
    assert_eq!(dl.live_power.qa, qa);
    assert!(dl.daily_fee.is_zero());
}

#[test]
fn through_a_premigration_every_upgrade_equals_the_uncached_run() {
    for network in [Network::Mainnet, Network::Calibnet] {
        let (store, a11) = generate(&config(network, 34));
        let b11 = successor(&store, &a11, 35);
        let (mut a, mut b) = (a11, b11);
        for spec in path(network, "nv29") {
            let cache = MemoryCache::default();
            let pre = migrate_state(&store, &a, &spec, &cache, &opts(2, 1 << 20)).unwrap();
            let fin = migrate_state(&store, &b, &spec, &cache, &opts(2, 1 << 20)).unwrap();
            let uncached = migrate_state(&store, &b, &spec, &NoCache, &opts(1, 1 << 20)).unwrap();
            assert_eq!(
                fin.state_root, uncached.state_root,
                "{} on {network}",
                spec.name
            );
            (a, b) = (pre.state_root, fin.state_root);
        }
    }
}

#[test]
fn nv29_without_the_bootstrap_contracts_names_the_missing_address() {
    let network = Network::Mainnet;
    let mut cfg = config(network, 36);
    cfg.solstice_contracts = false;
    let (store, v11) = generate(&cfg);
    let v18 = input_of(&store, &v11, network, "nv29");
    let spec = Upgrade::load("nv29", network).unwrap();
    let e = migrate_state(&store, &v18, &spec, &NoCache, &opts(1, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SWA") && e.contains("0x66c11a9f6dfec3c1557958cf9f575a023eb01421"),
        "{e}"
    );
    assert!(reference_root(&store, &v18, &spec).is_err());
}

#[test]
fn a_state_at_the_wrong_version_or_network_is_refused_before_any_work() {
    let (store, v11) = generate(&config(Network::Calibnet, 37));
    let v14 = input_of(&store, &v11, Network::Calibnet, "nv24");
    let nv25 = Upgrade::load("nv25", Network::Calibnet).unwrap();
    let e = migrate_state(&store, &v14, &nv25, &NoCache, &opts(1, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nv25 migrates actors v15"), "{e}");
    let mainnet = Upgrade::load("nv24", Network::Mainnet).unwrap();
    let e = migrate_state(&store, &v14, &mainnet, &NoCache, &opts(1, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("calibnet state") && e.contains("mainnet's"),
        "{e}"
    );
    // A fix upgrade exists only where the chain ran it.
    assert!(Upgrade::load("nv26fix", Network::Mainnet).is_err());
    assert!(Upgrade::load("nv21fix", Network::Mainnet).is_err());
}

#[test]
fn upgrade_paths_follow_the_bundles_each_network_ran() {
    let names = |n: Network, t: &str| -> Vec<String> {
        path(n, t).into_iter().map(|s| s.name.clone()).collect()
    };
    assert_eq!(
        names(Network::Calibnet, "nv21"),
        ["nv21", "nv21fix", "nv21fix2"]
    );
    assert_eq!(names(Network::Mainnet, "nv21"), ["nv21"]);
    assert_eq!(names(Network::Calibnet, "nv25").last().unwrap(), "nv25");
    assert_eq!(names(Network::Calibnet, "nv26").last().unwrap(), "nv26fix");
    assert_eq!(
        names(Network::Calibnet, "nv22fix").last().unwrap(),
        "nv22fix"
    );
    let rc1 = Upgrade::load("nv21", Network::Calibnet).unwrap();
    assert_eq!(rc1.new_manifest.release, "v12.0.0-rc.1");
    let v12 = Upgrade::load("nv22", Network::Calibnet).unwrap();
    let from = upgrade_path(Network::Calibnet, &v12.new_manifest.data_cid, "nv21");
    assert!(from.unwrap_err().to_string().contains("no upgrade to run"));
}
