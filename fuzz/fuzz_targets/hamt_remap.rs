//! The HAMT diff, map and remap against a `HashMap` model and
//! `fvm_ipld_hamt`: the diff reports exactly the model's changes, and
//! map/remap give the root `fvm_ipld_hamt` gives for the transformed model,
//! at the bit widths used on chain and small ones that make deep trees.
#![no_main]

use std::collections::{BTreeSet, HashMap};

use fil_migrate::ipld::hamt::{diff, map_entries, remap_entries, HamtBuilder, HamtChange};
use fil_migrate::store::MemStore;
use fvm_ipld_encoding::RawBytes;
use fvm_ipld_hamt::{BytesKey, Hamt};
use libfuzzer_sys::fuzz_target;

type Model = HashMap<Vec<u8>, Vec<u8>>;

fn fvm_root(store: &MemStore, bw: u32, m: &Model, f: impl Fn(&[u8], &[u8]) -> Vec<u8>) -> cid::Cid {
    let mut h: Hamt<_, RawBytes, BytesKey> = Hamt::new_with_bit_width(store, bw);
    for (k, v) in m {
        h.set(BytesKey(k.clone()), RawBytes::new(f(k, v))).unwrap();
    }
    h.flush().unwrap()
}

fn transform_plain(k: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = v.iter().rev().copied().collect();
    out.push(k.len() as u8);
    out
}

fn transform(k: &[u8], item: &[u8]) -> fil_migrate::error::Result<Vec<u8>> {
    let v: RawBytes = fvm_ipld_encoding::from_slice(item).unwrap();
    Ok(fvm_ipld_encoding::to_vec(&RawBytes::new(transform_plain(k, &v))).unwrap())
}

fuzz_target!(
    |input: (u8, Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Option<Vec<u8>>)>)| {
        let bw = [1u32, 2, 3, 5, 8][usize::from(input.0 % 5)];
        let old: Model = input.1.into_iter().take(300).collect();
        let mut new = old.clone();
        for (k, c) in input.2.into_iter().take(100) {
            match c {
                Some(v) => new.insert(k, v),
                None => new.remove(&k),
            };
        }
        let store = MemStore::new();
        let id = |_: &[u8], v: &[u8]| v.to_vec();
        let (old_in, new_in) = (
            fvm_root(&store, bw, &old, id),
            fvm_root(&store, bw, &new, id),
        );
        // Our builder, from sorted-by-hash pushes, gives the same roots.
        let mut b = HamtBuilder::new(&store, bw).unwrap();
        let mut sorted: Vec<_> = new.iter().collect();
        sorted.sort_by_key(|(k, _)| fil_migrate::ipld::hamt::key_hash(k));
        for (k, v) in sorted {
            b.push(
                k,
                &fvm_ipld_encoding::to_vec(&RawBytes::new(v.clone())).unwrap(),
            )
            .unwrap();
        }
        assert_eq!(b.finish().unwrap(), new_in, "builder");

        let mut changed = BTreeSet::new();
        diff(&store, &old_in, &new_in, bw, |c: HamtChange<'_>| {
            assert!(changed.insert(c.key.to_vec()), "a key reported twice");
            Ok(())
        })
        .unwrap();
        let want: BTreeSet<Vec<u8>> = old
            .keys()
            .chain(new.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .cloned()
            .collect();
        assert_eq!(changed, want, "diff");

        let hook = |_: &cid::Cid, _: usize| Ok(());
        let old_out = map_entries(&store, &old_in, bw, &transform, &hook)
            .unwrap()
            .expect("canonical");
        assert_eq!(
            old_out.root,
            fvm_root(&store, bw, &old, transform_plain),
            "map"
        );
        let r = remap_entries(
            &store,
            &new_in,
            &old_in,
            &old_out.root,
            bw,
            &transform,
            &hook,
            &|_: &[u8]| true,
            &|_| {},
        )
        .unwrap()
        .expect("canonical");
        assert_eq!(r.root, fvm_root(&store, bw, &new, transform_plain), "remap");
    }
);
