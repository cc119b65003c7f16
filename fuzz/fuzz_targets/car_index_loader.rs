//! A persisted `.fmidx` index of arbitrary bytes beside a valid CAR: it is
//! loaded and trusted only if it is well-formed and matches the CAR (else
//! rebuilt); every block is still read back with the right bytes.
#![no_main]

use fil_migrate::store::car_format::{write_header, write_section};
use fil_migrate::store::car_index::CarIndex;
use fil_migrate::store::{CarSource, CarSourceOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|index_bytes: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.car");
    let blocks: Vec<(cid::Cid, Vec<u8>)> = (0u8..8)
        .map(|i| {
            let data = fvm_ipld_encoding::to_vec(&(i, vec![i; i as usize * 7])).unwrap();
            (fil_migrate::ipld::cids::cbor_cid(&data), data)
        })
        .collect();
    let mut car = Vec::new();
    write_header(&mut car, &[blocks[0].0]).unwrap();
    for (c, d) in &blocks {
        write_section(&mut car, c, d).unwrap();
    }
    std::fs::write(&path, &car).unwrap();
    std::fs::write(CarIndex::path_for(&path), index_bytes).unwrap();
    let src = match CarSource::open(&path, CarSourceOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("a valid CAR with a bad index must open (rebuilding it): {e}"),
    };
    for (c, d) in &blocks {
        assert_eq!(src.read(c).unwrap().as_deref(), Some(&d[..]), "block {c}");
    }
});
