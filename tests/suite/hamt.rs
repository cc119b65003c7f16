//! Streaming HAMT walk and builder checked against `fvm_ipld_hamt`.

use std::collections::BTreeMap;

use cid::Cid;
use fil_migrate::ipld::hamt::{for_each_entry, key_hash, HamtBuilder};
use fvm_ipld_blockstore::{Blockstore, MemoryBlockstore};
use fvm_ipld_encoding::RawBytes;
use fvm_ipld_hamt::{BytesKey, Hamt};
use proptest::prelude::*;

fn model_root(store: &impl Blockstore, bw: u32, items: &BTreeMap<Vec<u8>, Vec<u8>>) -> Cid {
    let mut h: Hamt<_, RawBytes, BytesKey> = Hamt::new_with_bit_width(store, bw);
    for (k, v) in items {
        h.set(BytesKey(k.clone()), RawBytes::new(v.clone()))
            .unwrap();
    }
    h.flush().unwrap()
}

fn built_root(store: &impl Blockstore, bw: u32, items: &BTreeMap<Vec<u8>, Vec<u8>>) -> Cid {
    let mut sorted: Vec<(&Vec<u8>, &Vec<u8>)> = items.iter().collect();
    sorted.sort_by_key(|(k, _)| key_hash(k));
    let mut b = HamtBuilder::new(store, bw).unwrap();
    for (k, v) in sorted {
        b.push(
            k,
            &fvm_ipld_encoding::to_vec(&RawBytes::new(v.clone())).unwrap(),
        )
        .unwrap();
    }
    b.finish().unwrap()
}

fn walked(store: &impl Blockstore, bw: u32, root: &Cid) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for_each_entry(store, root, bw, |k, v| {
        out.push((
            k.to_vec(),
            fvm_ipld_encoding::from_slice::<RawBytes>(v)
                .unwrap()
                .to_vec(),
        ));
        Ok(())
    })
    .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn builder_matches_fvm_ipld_hamt_and_walk_sees_every_entry_in_hash_order(
        bw in 1u32..=8,
        items in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..24), prop::collection::vec(any::<u8>(), 0..16), 0..400),
    ) {
        let store = MemoryBlockstore::new();
        let model = model_root(&store, bw, &items);
        prop_assert_eq!(built_root(&store, bw, &items), model);
        let w = walked(&store, bw, &model);
        let hashes: Vec<[u8; 32]> = w.iter().map(|(k, _)| key_hash(k)).collect();
        prop_assert!(hashes.windows(2).all(|p| p[0] < p[1]), "walk is in hash order");
        let as_map: BTreeMap<Vec<u8>, Vec<u8>> = w.into_iter().collect();
        prop_assert_eq!(as_map, items);
    }
}

#[test]
fn builder_matches_for_50k_address_like_keys() {
    // ID-address-like keys: protocol byte 0 + uvarint id, as in the actors HAMT.
    let items: BTreeMap<Vec<u8>, Vec<u8>> = (0..50_000u64)
        .map(|id| {
            let mut k = vec![0u8];
            let mut buf = unsigned_varint::encode::u64_buffer();
            k.extend_from_slice(unsigned_varint::encode::u64(id + 1000, &mut buf));
            (k, id.to_be_bytes().to_vec())
        })
        .collect();
    let store = MemoryBlockstore::new();
    assert_eq!(built_root(&store, 5, &items), model_root(&store, 5, &items));
}

#[test]
fn empty_hamt_root_is_the_well_known_cid() {
    let store = MemoryBlockstore::new();
    let root = built_root(&store, 5, &BTreeMap::new());
    assert_eq!(root, model_root(&store, 5, &BTreeMap::new()));
    assert_eq!(
        root.to_string(),
        "bafy2bzaceamp42wmmgr2g2ymg46euououzfyck7szknvfacqscohrvaikwfay"
    );
}

#[test]
fn out_of_order_entries_are_rejected() {
    let store = MemoryBlockstore::new();
    let mut keys: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
    keys.sort_by_key(|k| key_hash(k));
    let mut b = HamtBuilder::new(&store, 5).unwrap();
    b.push(&keys[5], &[0x01]).unwrap();
    assert!(b.push(&keys[2], &[0x01]).is_err());
    assert!(
        b.push(&keys[5], &[0x01]).is_err(),
        "duplicates are rejected"
    );
}
