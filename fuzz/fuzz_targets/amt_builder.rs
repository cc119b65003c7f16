//! Builder equivalence: any set of (index, bytes) built bottom-up has the
//! root `fvm_ipld_amt` gives, and reads back as the HashMap model.
#![no_main]

use std::collections::BTreeMap;

use fil_migrate::ipld::amt::{for_each_value, AmtBuilder};
use fil_migrate::store::MemStore;
use fvm_ipld_encoding::RawBytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<(u32, Vec<u8>)>)| {
    let bit_width = u32::from(input.0 % 8) + 1;
    let model: BTreeMap<u64, Vec<u8>> = input
        .1
        .into_iter()
        .map(|(i, v)| (u64::from(i), v))
        .collect();
    let store = MemStore::new();
    let mut b = AmtBuilder::new(&store, bit_width).unwrap();
    for (i, v) in &model {
        b.push(
            *i,
            &fvm_ipld_encoding::to_vec(&RawBytes::new(v.clone())).unwrap(),
        )
        .unwrap();
    }
    let ours = b.finish().unwrap();
    let mut amt = fvm_ipld_amt::Amt::new_with_bit_width(&store, bit_width);
    for (i, v) in &model {
        amt.set(*i, RawBytes::new(v.clone())).unwrap();
    }
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
});
