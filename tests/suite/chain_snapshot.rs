//! Chain snapshots by epoch: a generated chain of block headers with null
//! rounds and multi-block tipsets over two states (and older tipsets whose
//! states were pruned), walked to every epoch; the errors for epochs outside
//! the headers or the states held; FRC-0108 v2 metadata roots.

use crate::common;

use cid::Cid;
use common::states::{generate, small_config};
use fil_migrate::actors::manifest::Network;
use fil_migrate::chain::snapshot_state;
use fil_migrate::store::MemStore;
use fil_migrate::synth::headers::{build_chain, BuiltChain, ChainShape};
use fvm_ipld_blockstore::Blockstore;

const SHAPE: ChainShape = ChainShape {
    first_epoch: 100,
    head_epoch: 160,
    null_every: 5,
    max_blocks: 3,
};

struct World {
    store: MemStore,
    chain: BuiltChain,
    a: Cid,
    b: Cid,
    pruned: Cid,
}

/// Epochs < 120 point at a state the store lacks, 120..140 at A, ≥ 140 at B.
fn world() -> World {
    let (store, a) = generate(&small_config(Network::Mainnet, 1, 50, 1));
    let (other, b) = generate(&small_config(Network::Mainnet, 2, 60, 2));
    for (k, v) in other.entries() {
        store.put_keyed(&k, &v).unwrap();
    }
    let (pruned, _) = common::node(77, &[], 8);
    let chain = build_chain(&store, &SHAPE, |e| match e {
        ..=119 => pruned,
        120..=139 => a,
        _ => b,
    })
    .unwrap();
    World {
        store,
        chain,
        a,
        b,
        pruned,
    }
}

#[test]
fn every_epoch_walks_to_its_tipset_or_the_last_before_a_null_round() {
    let w = world();
    assert!(w.chain.tipsets.len() < 61, "null rounds exist");
    assert!(w.chain.tipsets.iter().any(|t| t.1.len() == 3));
    assert!(!w.store.has(&w.pruned).unwrap());
    let head = w.chain.head.clone();
    for epoch in 120..=160 {
        let (tipset_epoch, key) = w.chain.tipsets.iter().rev().find(|t| t.0 <= epoch).unwrap();
        let want = if *tipset_epoch < 140 { w.a } else { w.b };
        let got = snapshot_state(&w.store, &head, Some(epoch)).unwrap();
        assert_eq!(got.tipset_epoch, Some(*tipset_epoch), "epoch {epoch}");
        assert_eq!(got.state_root, want.to_string(), "epoch {epoch}");
        assert_eq!(
            got.tipset,
            key.iter().map(Cid::to_string).collect::<Vec<_>>()
        );
        assert_eq!(got.requested_epoch, Some(epoch));
        assert_eq!(got.head_epoch, Some(160));
        if epoch % 5 == 4 && epoch != 160 {
            assert_ne!(*tipset_epoch, epoch, "{epoch} is a null round");
            assert!(got.describe().contains("null round"));
        }
    }
    let head_state = snapshot_state(&w.store, &head, None).unwrap();
    assert_eq!(head_state.tipset_epoch, Some(160));
    assert_eq!(head_state.state_root, w.b.to_string());
}

#[test]
fn epochs_outside_the_headers_or_the_states_are_errors_naming_the_range() {
    let w = world();
    let head = w.chain.head.clone();
    let e = snapshot_state(&w.store, &head, Some(161))
        .unwrap_err()
        .to_string();
    assert!(e.contains("after the snapshot's head at epoch 160"), "{e}");
    let e = snapshot_state(&w.store, &head, Some(99))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("before the chain's first tipset at epoch 100"),
        "{e}"
    );
    let e = snapshot_state(&w.store, &head, Some(110))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lacks the state for epoch 110")
            && e.contains(&w.pruned.to_string())
            && e.contains("epochs 120..=160"),
        "{e}"
    );

    // Headers before epoch 130 pruned too: the walk stops there.
    let pruned_headers: Vec<Cid> = w
        .chain
        .tipsets
        .iter()
        .filter(|t| t.0 < 130)
        .flat_map(|t| t.1.clone())
        .collect();
    let short = MemStore::new();
    for (k, v) in w.store.entries() {
        if !pruned_headers.contains(&k) {
            short.put_keyed(&k, &v).unwrap();
        }
    }
    let oldest = w.chain.tipsets.iter().find(|t| t.0 >= 130).unwrap().0;
    let e = snapshot_state(&short, &head, Some(125))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("block headers for epochs {oldest}..=160 only")),
        "{e}"
    );
    assert_eq!(
        snapshot_state(&short, &head, Some(135)).unwrap().state_root,
        w.a.to_string()
    );
}

#[test]
fn a_v2_snapshot_names_its_head_in_metadata_and_a_state_root_has_no_epochs() {
    let w = world();
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Meta {
        version: u64,
        head_tipset_key: Vec<Cid>,
        f3_data: Option<Cid>,
    }
    let meta = fil_migrate::actors::state_tree::put_cbor(
        &w.store,
        &Meta {
            version: 2,
            head_tipset_key: w.chain.head.clone(),
            f3_data: None,
        },
    )
    .unwrap();
    let got = snapshot_state(&w.store, &[meta], Some(150)).unwrap();
    assert_eq!(got.state_root, w.b.to_string());
    assert_eq!(got.head_epoch, Some(160));

    let e = snapshot_state(&w.store, &[w.a], Some(150))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a chain snapshot"), "{e}");
    let plain = snapshot_state(&w.store, &[w.a], None).unwrap();
    assert_eq!(plain.state_root, w.a.to_string());
    assert_eq!(plain.tipset_epoch, None);
}
