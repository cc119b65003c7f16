//! Patcher equivalence: an AMT patched with sorted sets/deletes has the root
//! of `fvm_ipld_amt` after the same changes, and the model's contents.
#![no_main]

use std::collections::BTreeMap;

use fil_migrate::ipld::amt::{for_each_value, AmtBuilder, AmtPatcher, Patch};
use fil_migrate::store::MemStore;
use fvm_ipld_encoding::RawBytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: (u8, Vec<(u16, Vec<u8>)>, Vec<(u16, Option<Vec<u8>>)>)| {
        let bit_width = u32::from(input.0 % 6) + 1;
        let enc = |v: &Vec<u8>| fvm_ipld_encoding::to_vec(&RawBytes::new(v.clone())).unwrap();
        let mut model: BTreeMap<u64, Vec<u8>> = input
            .1
            .into_iter()
            .map(|(i, v)| (u64::from(i), v))
            .collect();
        let store = MemStore::new();
        let mut b = AmtBuilder::new(&store, bit_width).unwrap();
        for (i, v) in &model {
            b.push(*i, &enc(v)).unwrap();
        }
        let start = b.finish().unwrap();
        let changes: BTreeMap<u64, Option<Vec<u8>>> = input
            .2
            .into_iter()
            .map(|(i, c)| (u64::from(i) * 3, c))
            .collect();
        let mut amt: fvm_ipld_amt::Amt<RawBytes, _> =
            fvm_ipld_amt::Amt::load(&start, &store).unwrap();
        let mut p = AmtPatcher::open(&store, &start).unwrap();
        for (i, c) in &changes {
            match c {
                Some(v) => {
                    p.apply(Patch::Set(*i, &enc(v))).unwrap();
                    amt.set(*i, RawBytes::new(v.clone())).unwrap();
                    model.insert(*i, v.clone());
                }
                None => {
                    p.apply(Patch::Delete(*i)).unwrap();
                    amt.delete(*i).unwrap();
                    model.remove(i);
                }
            }
        }
        let ours = p.finish().unwrap();
        assert_eq!(ours, amt.flush().unwrap());
        let mut back = BTreeMap::new();
        for_each_value(&store, &ours, |i, v| {
            back.insert(
                i,
                fvm_ipld_encoding::from_slice::<RawBytes>(v)
                    .unwrap()
                    .to_vec(),
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(back, model);
    }
);
