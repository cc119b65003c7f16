//! nv23: a code swap, then the mining reserve f090 (a multisig) becomes an
//! account on the output tree (a post-migrator). The engine's root equals
//! the typed reference's, from scratch and through a premigration's cache.

use crate::common;

use cid::Cid;
use common::states::{generate, small_config, successor};
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
use fil_migrate::ipld::hamt::get_value;
use fil_migrate::migration::actors_tree::TreePath;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::MemStore;

fn opts(threads: usize) -> MigrationOptions {
    MigrationOptions {
        threads,
        memory_budget: 1 << 20,
        ..Default::default()
    }
}

/// The upgrades from v11 to nv23's input on `network`.
fn to_v13(network: Network) -> Vec<&'static str> {
    match network {
        Network::Mainnet => vec!["nv21", "nv22"],
        Network::Calibnet => vec!["nv21", "nv21fix", "nv21fix2", "nv22", "nv22fix"],
    }
}

fn chain(store: &MemStore, root: Cid, network: Network, upgrades: &[&str]) -> Cid {
    upgrades.iter().fold(root, |r, u| {
        let spec = Upgrade::load(u, network).unwrap();
        migrate_state(store, &r, &spec, &NoCache, &opts(2))
            .unwrap()
            .state_root
    })
}

fn f090(store: &MemStore, root: &Cid) -> Option<ActorState> {
    let sr: StateRoot = get_cbor(store, root, "root").unwrap();
    let key = fvm_shared3::address::Address::new_id(90).to_bytes();
    get_value(store, &sr.actors, 5, &key)
        .unwrap()
        .map(|v| fvm_ipld_encoding::from_slice(&v).unwrap())
}

#[test]
fn the_mining_reserve_becomes_an_account_as_the_reference_makes_it() {
    for network in [Network::Mainnet, Network::Calibnet] {
        let mut cfg = small_config(network, 2, 400, 41);
        cfg.mining_reserve = true;
        cfg.deals_per_sector = 2;
        let (store, v11) = generate(&cfg);
        let v13 = chain(&store, v11, network, &to_v13(network));
        let spec = Upgrade::load("nv23", network).unwrap();
        let ours = migrate_state(&store, &v13, &spec, &NoCache, &opts(2)).unwrap();
        assert_eq!(
            ours.state_root,
            reference_root(&store, &v13, &spec).unwrap(),
            "{network}"
        );
        let before = f090(&store, &v13).unwrap();
        let after = f090(&store, &ours.state_root).unwrap();
        assert_eq!(Some(before.code), spec.old_manifest.code_of("multisig"));
        assert_eq!(Some(after.code), spec.new_manifest.code_of("account"));
        assert_eq!(
            (after.sequence, &after.balance),
            (before.sequence, &before.balance)
        );
        assert_eq!(after.delegated_address, None);
        let head = fvm_ipld_blockstore::Blockstore::get(&store, &after.head)
            .unwrap()
            .unwrap();
        assert_eq!(head, vec![0x81, 0x42, 0x00, 0x5a], "head [f090]");
    }
}

#[test]
fn a_final_through_the_premigration_cache_applies_it_to_the_remapped_tree() {
    let mut cfg = small_config(Network::Mainnet, 3, 600, 43);
    cfg.mining_reserve = true;
    let (store, a11) = generate(&cfg);
    let b11 = successor(&store, &a11, 9);
    let (a, b) = (
        chain(&store, a11, Network::Mainnet, &["nv21", "nv22"]),
        chain(&store, b11, Network::Mainnet, &["nv21", "nv22"]),
    );
    let spec = Upgrade::load("nv23", Network::Mainnet).unwrap();
    let cache = MemoryCache::default();
    migrate_state(&store, &a, &spec, &cache, &opts(2)).unwrap();
    let fin = migrate_state(&store, &b, &spec, &cache, &opts(1)).unwrap();
    assert_eq!(
        fin.report.actors_tree,
        Some(TreePath::Remapped),
        "{:?}",
        fin.report.notes
    );
    assert_eq!(fin.state_root, reference_root(&store, &b, &spec).unwrap());
}

#[test]
fn a_state_without_the_mining_reserve_is_an_error_naming_it() {
    let (store, v11) = generate(&small_config(Network::Mainnet, 1, 100, 47));
    let v13 = chain(&store, v11, Network::Mainnet, &["nv21", "nv22"]);
    let spec = Upgrade::load("nv23", Network::Mainnet).unwrap();
    let e = migrate_state(&store, &v13, &spec, &NoCache, &opts(1)).unwrap_err();
    assert!(
        e.to_string().contains("no mining reserve actor (f090)"),
        "{e}"
    );
}
