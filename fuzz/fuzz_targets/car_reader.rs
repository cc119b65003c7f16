//! The CAR reader and its index on arbitrary bytes: opening, indexing and
//! reading every section either works or returns an error; never a panic,
//! a hang or an allocation the input's size does not justify.
#![no_main]

use fil_migrate::store::{CarSource, CarSourceOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.car");
    std::fs::write(&path, data).unwrap();
    let Ok(car) = CarSource::open(&path, CarSourceOptions::default()) else {
        return;
    };
    let _ = car.roots();
    let _ = car.verify_all();
    for root in car.roots().to_vec() {
        let _ = car.read(&root);
        let _ = car.contains(&root);
    }
});
