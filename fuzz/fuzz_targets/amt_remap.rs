//! The AMT structure-preserving map and its incremental remap against a
//! `BTreeMap` model and `fvm_ipld_amt`: map(in) and remap(new_in; old_in,
//! old_out) give the root `fvm_ipld_amt` gives for the transformed model.
#![no_main]

use std::collections::BTreeMap;

use fil_migrate::ipld::amt::map::map_values;
use fil_migrate::ipld::amt::remap::remap_changed;
use fil_migrate::ipld::amt::AmtBuilder;
use fil_migrate::store::MemStore;
use fvm_ipld_encoding::RawBytes;
use libfuzzer_sys::fuzz_target;

type Model = BTreeMap<u64, Vec<u8>>;

fn enc(v: &[u8]) -> Vec<u8> {
    fvm_ipld_encoding::to_vec(&RawBytes::new(v.to_vec())).unwrap()
}

fn build(store: &MemStore, bw: u32, m: &Model) -> cid::Cid {
    let mut b = AmtBuilder::new(store, bw).unwrap();
    for (i, v) in m {
        b.push(*i, &enc(v)).unwrap();
    }
    b.finish().unwrap()
}

fn transform_plain(i: u64, v: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = v.iter().rev().copied().collect();
    out.push(i as u8);
    out
}

/// The map's value function: decode the bytes value, transform, encode.
fn transform(i: u64, item: &[u8], out: &mut Vec<u8>) -> fil_migrate::error::Result<usize> {
    let mut c = fil_migrate::ipld::cbor::Cursor::new(item);
    let r = c.skip().unwrap();
    let v: RawBytes = fvm_ipld_encoding::from_slice(&item[r.clone()]).unwrap();
    out.extend_from_slice(&enc(&transform_plain(i, &v)));
    Ok(r.end)
}

fn fvm_root(store: &MemStore, bw: u32, m: &Model) -> cid::Cid {
    let mut a: fvm_ipld_amt::Amt<RawBytes, _> = fvm_ipld_amt::Amt::new_with_bit_width(store, bw);
    for (i, v) in m {
        a.set(*i, RawBytes::new(transform_plain(*i, v))).unwrap();
    }
    a.flush().unwrap()
}

fuzz_target!(
    |input: (u8, Vec<(u16, Vec<u8>)>, Vec<(u16, Option<Vec<u8>>)>)| {
        let bw = u32::from(input.0 % 6) + 1;
        let old: Model = input
            .1
            .into_iter()
            .map(|(i, v)| (u64::from(i), v))
            .collect();
        let mut new = old.clone();
        for (i, c) in input.2 {
            match c {
                Some(v) => new.insert(u64::from(i), v),
                None => new.remove(&u64::from(i)),
            };
        }
        let store = MemStore::new();
        let (old_in, new_in) = (build(&store, bw, &old), build(&store, bw, &new));
        let hook = |_: &cid::Cid| Ok(());
        let Some(old_out) = map_values(&store, &old_in, bw, &transform, &hook).unwrap() else {
            panic!("our builder's AMT is canonical");
        };
        assert_eq!(old_out.root, fvm_root(&store, bw, &old), "map");
        let want = fvm_root(&store, bw, &new);
        // A remap may decline (heights differ, empty trees): then the caller maps.
        if let Some(r) = remap_changed(
            &store,
            &new_in,
            &old_in,
            &old_out.root,
            bw,
            &transform,
            &hook,
            &|_| {},
        )
        .unwrap()
        {
            assert_eq!(r.root, want, "remap");
        }
    }
);
