//! The network a state belongs to comes from its init actor's
//! `NetworkName`: `mainnet` on the live chain since Liftoff renamed the
//! genesis `testnetnet`, `calibrationnet` on calibnet. `testnetnet` is
//! mainnet's genesis alias; any other name needs `--network`, and the
//! messages say so without sending the user to a flag that cannot work.

use crate::common::states::{generate, small_config};
use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, put_cbor, ActorState, StateRoot};
use fil_migrate::migration::chain::upgrade_path_of;
use fil_migrate::migration::detect::state_facts;
use fil_migrate::migration::{migrate_state, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::MemStore;
use fvm_ipld_hamt::{BytesKey, Hamt};

/// `state` with its init actor's network name set to `name`.
fn renamed(store: &MemStore, state: &Cid, name: &str) -> Cid {
    let sr: StateRoot = get_cbor(store, state, "state root").unwrap();
    let mut actors: Hamt<_, ActorState, BytesKey> =
        Hamt::load_with_bit_width(&sr.actors, store, 5).unwrap();
    let key = BytesKey(fvm_shared3::address::Address::new_id(1).to_bytes());
    let mut init = actors.get(&key).unwrap().unwrap().clone();
    let mut st: fil_actor_init_state::v11::State = get_cbor(store, &init.head, "init").unwrap();
    st.network_name = name.to_string();
    init.head = put_cbor(store, &st).unwrap();
    actors.set(key, init).unwrap();
    let actors = actors.flush().unwrap();
    put_cbor(store, &StateRoot { actors, ..sr }).unwrap()
}

fn opts() -> MigrationOptions {
    MigrationOptions {
        threads: 2,
        memory_budget: 1 << 20,
        ..Default::default()
    }
}

#[test]
fn the_generator_writes_the_names_the_live_chain_uses() {
    for (network, name) in [
        (Network::Mainnet, "mainnet"),
        (Network::Calibnet, "calibrationnet"),
    ] {
        let (store, root) = generate(&small_config(network, 1, 10, 3));
        let facts = state_facts(&store, &root).unwrap();
        assert_eq!(facts.network_name, name);
        assert_eq!(facts.network(), Some(network));
    }
}

#[test]
fn testnetnet_is_mainnets_genesis_alias_in_a_state_and_on_the_command_line() {
    assert_eq!("testnetnet".parse::<Network>().unwrap(), Network::Mainnet);
    assert_eq!(
        Network::from_chain_name("testnetnet"),
        Some(Network::Mainnet)
    );
    let (store, root) = generate(&small_config(Network::Mainnet, 2, 50, 4));
    let old = renamed(&store, &root, "testnetnet");
    let facts = state_facts(&store, &old).unwrap();
    assert_eq!(facts.resolve_network(None).unwrap(), Network::Mainnet);
    let path = upgrade_path_of(&store, &old, None, "nv22").unwrap();
    assert_eq!(path.len(), 2);
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let out = migrate_state(&store, &old, &spec, &NoCache, &opts()).unwrap();
    // The name is the init actor's to keep: only the codes change.
    let out_facts = state_facts(&store, &out.state_root).unwrap();
    assert_eq!(out_facts.network_name, "testnetnet");
}

#[test]
fn an_unknown_name_is_named_with_what_network_accepts_and_network_then_works() {
    let (store, root) = generate(&small_config(Network::Mainnet, 2, 50, 5));
    let dev = renamed(&store, &root, "localnet-7");
    let facts = state_facts(&store, &dev).unwrap();
    let err = facts.resolve_network(None).unwrap_err().to_string();
    for part in ["\"localnet-7\"", "--network", "mainnet", "calibnet"] {
        assert!(err.contains(part), "{err:?} lacks {part}");
    }
    assert!(upgrade_path_of(&store, &dev, None, "nv22").is_err());
    // With --network the bundle decides: mainnet's bundle runs, calibnet's
    // is refused naming the bundle.
    assert_eq!(
        facts.resolve_network(Some(Network::Mainnet)).unwrap(),
        Network::Mainnet
    );
    let path = upgrade_path_of(&store, &dev, Some(Network::Mainnet), "nv22").unwrap();
    assert_eq!(path[0].name, "nv21");
    migrate_state(&store, &dev, &path[0], &NoCache, &opts()).unwrap();
    let calib = Upgrade::load("nv21", Network::Calibnet).unwrap();
    let err = migrate_state(&store, &dev, &calib, &NoCache, &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("actors v11"), "{err}");
    let err = "devnet".parse::<Network>().unwrap_err().to_string();
    assert!(
        err.contains("testnetnet") && err.contains("calibnet"),
        "{err}"
    );
}

#[test]
fn a_known_name_that_disagrees_with_network_or_the_spec_is_refused() {
    let (store, root) = generate(&small_config(Network::Calibnet, 1, 20, 6));
    let facts = state_facts(&store, &root).unwrap();
    let err = facts
        .resolve_network(Some(Network::Mainnet))
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibrationnet"), "{err}");
    let mainnet = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let err = migrate_state(&store, &root, &mainnet, &NoCache, &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibnet state"), "{err}");
}
