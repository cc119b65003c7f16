//! Golden roots for every upgrade: two small committed v11 states
//! (`testdata/golden-v11-{mainnet,calibnet}.car`: deals, every vesting
//! shape, EVM contracts and tombstones, the FIP-0118 contracts, f090,
//! empty miners, payment channels) taken through every upgrade of their
//! network. Each step's input and output roots are pinned here, so a change
//! that moves the engine and the typed reference together is seen. Each
//! step is also run through a premigration on a churned sibling of the
//! fixture, and must give the same pinned root.

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::resolve_state_root;
use fil_migrate::migration::chain::upgrade_path;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::{
    BufferOptions, BufferedBlockstore, CarSource, CarSourceOptions, MemStore,
};
use fil_migrate::synth::churn::{churn_state, ChurnConfig};
use fvm_ipld_blockstore::Blockstore;

/// The arguments of `fil-migrate gen` that made both fixtures (with
/// `--network mainnet|calibnet`).
pub const GEN_ARGS: &str = "--miners 4 --sectors 150 --deals-per-sector 2 --all-upgrades \
     --empty-miners 2 --payment-channels 2 --evm 4 --eth-accounts 2 --multisigs 2 \
     --accounts 10 --seed 24";

/// (upgrade, input root, output root), in order.
type Chain = &'static [(&'static str, &'static str, &'static str)];

const MAINNET: Chain = &[
    (
        "nv21",
        "bafy2bzacedkqo53rhgf22wtd6iuuw6ich64ime6brxuiadbxesjhttyart22k",
        "bafy2bzacebez4xpavhqwx52uwtchhfzss2gsnlwtwzgldcd755aumeaco7mmq",
    ),
    (
        "nv22",
        "bafy2bzacebez4xpavhqwx52uwtchhfzss2gsnlwtwzgldcd755aumeaco7mmq",
        "bafy2bzacebd3rlavhcostscsjlvldeu6ldl72wdmnxeo4hmybxa2v4rqd2u4g",
    ),
    (
        "nv23",
        "bafy2bzacebd3rlavhcostscsjlvldeu6ldl72wdmnxeo4hmybxa2v4rqd2u4g",
        "bafy2bzacecjnbbor2zx4jmjjge5jlyz2lhbq75ddha5fny2xydacvyb7ivp5e",
    ),
    (
        "nv24",
        "bafy2bzacecjnbbor2zx4jmjjge5jlyz2lhbq75ddha5fny2xydacvyb7ivp5e",
        "bafy2bzacecis5cyevvthdid4dvzwehkuqeo4hf2zjswofu4rjlbozvh46um7m",
    ),
    (
        "nv25",
        "bafy2bzacecis5cyevvthdid4dvzwehkuqeo4hf2zjswofu4rjlbozvh46um7m",
        "bafy2bzacedx7dvdjh7gw6g4zxmuzf25xwu23h3ql3n643w7vokqkcmnrt5ejo",
    ),
    (
        "nv27",
        "bafy2bzacedx7dvdjh7gw6g4zxmuzf25xwu23h3ql3n643w7vokqkcmnrt5ejo",
        "bafy2bzaceaqbkaoccswnkrghklezia4ojztkljrs2qit5u27yrcuackknpt5c",
    ),
    (
        "nv28",
        "bafy2bzaceaqbkaoccswnkrghklezia4ojztkljrs2qit5u27yrcuackknpt5c",
        "bafy2bzacebeynt7lryg3jkmnzbwv3pgywzb4uuvinaxfoo6wmdupk53nl7g2u",
    ),
    (
        "nv29",
        "bafy2bzacebeynt7lryg3jkmnzbwv3pgywzb4uuvinaxfoo6wmdupk53nl7g2u",
        "bafy2bzaceabjm55zcweavs4cnjepndcjg4ryshdnx4hoe3tidnpikenrz4w5g",
    ),
];

const CALIBNET: Chain = &[
    (
        "nv21",
        "bafy2bzaceaajsmple5mn4bap7zhmekmh5anx774rs3iryiju7b5dlk6nhww2o",
        "bafy2bzaceb33s67lc7vhnza2w44u2dlflez6fw2d7e566rxtj4hrrrtdr2hyk",
    ),
    (
        "nv21fix",
        "bafy2bzaceb33s67lc7vhnza2w44u2dlflez6fw2d7e566rxtj4hrrrtdr2hyk",
        "bafy2bzacead7rcmqgwzklbmgnlk6zzqpkmxlsoxi2376qhikg3ho2rkbpk2am",
    ),
    (
        "nv21fix2",
        "bafy2bzacead7rcmqgwzklbmgnlk6zzqpkmxlsoxi2376qhikg3ho2rkbpk2am",
        "bafy2bzaceapa3g4kbqgaxxkgbodbuxq4coqhsls7lvgaahf6frkhgufyrxnti",
    ),
    (
        "nv22",
        "bafy2bzaceapa3g4kbqgaxxkgbodbuxq4coqhsls7lvgaahf6frkhgufyrxnti",
        "bafy2bzacecrv5nldjrx77f4fdpnf66axrruljvcnyqhgdspoxdfxjk2pnr4oq",
    ),
    (
        "nv22fix",
        "bafy2bzacecrv5nldjrx77f4fdpnf66axrruljvcnyqhgdspoxdfxjk2pnr4oq",
        "bafy2bzacedczlqbi23voa2a2j5hbg3zhvkm7g4tbjku77awgv6ondt6pqgvjq",
    ),
    (
        "nv23",
        "bafy2bzacedczlqbi23voa2a2j5hbg3zhvkm7g4tbjku77awgv6ondt6pqgvjq",
        "bafy2bzacecbmjfyxmxokh7bl2l2pa2vcqbtsp3jpg7hdaltaepgmjsx7v6gd2",
    ),
    (
        "nv24",
        "bafy2bzacecbmjfyxmxokh7bl2l2pa2vcqbtsp3jpg7hdaltaepgmjsx7v6gd2",
        "bafy2bzacecwm5ozqfgbiaa42rlvzyllpfdwrqnoba7kexw4cashepwshhi45s",
    ),
    (
        "nv25",
        "bafy2bzacecwm5ozqfgbiaa42rlvzyllpfdwrqnoba7kexw4cashepwshhi45s",
        "bafy2bzacedxinlqbeqsvfrzf2o5cs54az6re3zuuhs5nwip6myrejv6j4eldo",
    ),
    (
        "nv26fix",
        "bafy2bzacedxinlqbeqsvfrzf2o5cs54az6re3zuuhs5nwip6myrejv6j4eldo",
        "bafy2bzaceda6x3rmcf3wsebjgkjpgq4vz72z5nfmumol44gmf4zjr7kd76s7o",
    ),
    (
        "nv27",
        "bafy2bzaceda6x3rmcf3wsebjgkjpgq4vz72z5nfmumol44gmf4zjr7kd76s7o",
        "bafy2bzaceamfmvbon356imn2sctnxu2reg2vfv4owgyhytrlh7lnqhnnl4cqe",
    ),
    (
        "nv28",
        "bafy2bzaceamfmvbon356imn2sctnxu2reg2vfv4owgyhytrlh7lnqhnnl4cqe",
        "bafy2bzaceche5z3gpjnvc2k67gc5jb5ntzczbkjtegmxywjh72vv56wskceog",
    ),
    (
        "nv29",
        "bafy2bzaceche5z3gpjnvc2k67gc5jb5ntzczbkjtegmxywjh72vv56wskceog",
        "bafy2bzaceb2ci4kqp6fw4qldsuxm3oc4qx4xjiu7m44s6isii2eio6je3sbq4",
    ),
];

fn opts() -> MigrationOptions {
    MigrationOptions {
        threads: 2,
        memory_budget: 1 << 20,
        ..Default::default()
    }
}

/// The fixture's blocks in memory, and its v11 state root.
fn fixture(network: Network) -> (MemStore, Cid) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("golden.car");
    std::fs::copy(format!("testdata/golden-v11-{network}.car"), &copy).unwrap();
    let car = CarSource::open(&copy, CarSourceOptions::default()).unwrap();
    let store = MemStore::new();
    let root = resolve_state_root(&car, &car.roots()[0]).unwrap();
    for c in crate::common::reachable(&car, &root) {
        store.put_keyed(&c, &car.get(&c).unwrap().unwrap()).unwrap();
    }
    (store, root)
}

fn specs(network: Network) -> Vec<Upgrade> {
    let v11 = Upgrade::load("nv21", network).unwrap();
    upgrade_path(network, &v11.old_manifest.data_cid, "nv29").unwrap()
}

/// The chain from `v11`, uncached, each step checked against its typed
/// reference path.
fn run_chain(store: &MemStore, v11: &Cid, specs: &[Upgrade]) -> Vec<(String, Cid, Cid)> {
    let mut root = *v11;
    let mut out = Vec::new();
    for spec in specs {
        let next = migrate_state(store, &root, spec, &NoCache, &opts())
            .unwrap()
            .state_root;
        assert_eq!(
            next,
            reference_root(store, &root, spec).unwrap(),
            "{} reference",
            spec.name
        );
        out.push((spec.name.clone(), root, next));
        root = next;
    }
    out
}

fn check(network: Network, pinned: Chain) {
    let (store, v11) = fixture(network);
    let specs = specs(network);
    let got = run_chain(&store, &v11, &specs);
    let table: Vec<(String, String, String)> = got
        .iter()
        .map(|(n, i, o)| (n.clone(), i.to_string(), o.to_string()))
        .collect();
    let want: Vec<(String, String, String)> = pinned
        .iter()
        .map(|(n, i, o)| (n.to_string(), i.to_string(), o.to_string()))
        .collect();
    if table != want {
        let mut text = String::new();
        for (n, i, o) in &table {
            text.push_str(&format!("    (\"{n}\", \"{i}\", \"{o}\"),\n"));
        }
        panic!("{network}: the chain's roots are not the pinned ones; got:\n{text}");
    }

    // Through a premigration of a churned sibling: the same roots.
    let sibling = {
        let buf = BufferedBlockstore::new(&store, BufferOptions::default());
        let (s, _) = churn_state(
            &buf,
            &v11,
            &ChurnConfig {
                change_fraction: Some(0.05),
                seed: 77,
                new_miners: 1,
                new_miner_sectors: 30,
                ..Default::default()
            },
        )
        .unwrap();
        buf.flush(&s).unwrap();
        s
    };
    let sibling_chain = run_chain(&store, &sibling, &specs);
    for (i, spec) in specs.iter().enumerate() {
        let cache = MemoryCache::default();
        migrate_state(&store, &sibling_chain[i].1, spec, &cache, &opts()).unwrap();
        let fin = migrate_state(&store, &got[i].1, spec, &cache, &opts())
            .unwrap()
            .state_root;
        assert_eq!(
            fin, got[i].2,
            "{network} {} through a premigration",
            spec.name
        );
    }
}

#[test]
fn every_mainnet_upgrade_gives_its_pinned_roots_from_scratch_and_through_a_premigration() {
    check(Network::Mainnet, MAINNET);
}

#[test]
fn every_calibnet_upgrade_gives_its_pinned_roots_from_scratch_and_through_a_premigration() {
    check(Network::Calibnet, CALIBNET);
}

#[test]
fn gen_reproduces_both_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    for network in ["mainnet", "calibnet"] {
        let out = dir.path().join(format!("{network}.car"));
        crate::common::succeed(
            std::process::Command::new(crate::common::bin())
                .args(["gen", "--network", network, "--out"])
                .arg(&out)
                .args(GEN_ARGS.split_whitespace()),
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(format!("testdata/golden-v11-{network}.car")).unwrap(),
            "{network}"
        );
    }
}

/// Adding an upgrade is one folder and one registry line: this walks the
/// registry and asks of every entry what the rest of the crate relies on.
/// Its spec is well formed and named as the entry, it runs on mainnet and
/// calibnet (a fix upgrade on the one network that needed it), and each of
/// its steps has pinned golden roots above, which the tests above compare
/// with the engine (from scratch and through a premigration) and with the
/// entry's typed reference path.
#[test]
fn every_registered_upgrade_has_its_specs_a_reference_path_and_golden_roots() {
    use fil_migrate::migration::upgrades::REGISTRY;
    assert!(REGISTRY.len() >= 12);
    for def in REGISTRY {
        let networks: Vec<Network> = [Network::Mainnet, Network::Calibnet]
            .into_iter()
            .filter(|n| Upgrade::of(def, *n).is_ok())
            .collect();
        let is_fix = def.name.contains("fix");
        if is_fix {
            assert_eq!(networks, [Network::Calibnet], "{}", def.name);
        } else {
            assert_eq!(networks.len(), 2, "{} runs on {networks:?}", def.name);
        }
        for network in networks {
            let pinned = match network {
                Network::Mainnet => MAINNET,
                Network::Calibnet => CALIBNET,
            };
            assert!(
                pinned.iter().any(|(name, _, _)| *name == def.name),
                "{} on {network} has no golden roots",
                def.name
            );
        }
    }
    let names: Vec<&str> = REGISTRY.iter().map(|d| d.name).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "a name registered twice: {names:?}"
    );
}
