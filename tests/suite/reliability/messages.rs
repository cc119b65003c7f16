//! Bad input is named: the file, the CID, and what was expected.

use std::path::Path;
use std::process::Command;

use cid::Cid;
use fil_migrate::ipld::cids::cbor_cid;
use fil_migrate::store::car_format::{write_header, write_section};

fn car_with(path: &Path, roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) {
    let mut out = Vec::new();
    write_header(&mut out, roots).unwrap();
    for (c, d) in blocks {
        write_section(&mut out, c, d).unwrap();
    }
    std::fs::write(path, out).unwrap();
}

fn fails(args: &[&str]) -> String {
    let out = Command::new(crate::common::bin())
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_root_the_file_lacks_is_named_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.car");
    let data = fvm_ipld_encoding::to_vec(&(1u8, 2u8)).unwrap();
    let absent = cbor_cid(b"a root this file does not hold");
    car_with(&p, &[absent], &[(cbor_cid(&data), data)]);
    let err = fails(&["migrate", "--snapshot", p.to_str().unwrap()]);
    assert!(err.contains(p.to_str().unwrap()), "{err}");
    assert!(err.contains(&absent.to_string()), "{err}");
    assert!(err.contains("does not hold"), "{err}");
}

#[test]
fn a_root_that_is_neither_a_state_nor_a_header_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.car");
    let data = fvm_ipld_encoding::to_vec(&(1u8, 2u8)).unwrap();
    let root = cbor_cid(&data);
    car_with(&p, &[root], &[(root, data)]);
    let err = fails(&["migrate", "--snapshot", p.to_str().unwrap()]);
    for part in [
        p.to_str().unwrap(),
        &root.to_string(),
        "neither a state root",
        "16-field",
        "a 2-element list",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
}

#[test]
fn a_state_root_flag_naming_another_block_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.car");
    let cfg = crate::common::states::small_config(
        fil_migrate::actors::manifest::Network::Mainnet,
        1,
        20,
        8,
    );
    fil_migrate::synth::generate_car(&p, &cfg, 1 << 20).unwrap();
    let car = fil_migrate::store::CarSource::open(&p, Default::default()).unwrap();
    let absent = cbor_cid(b"no such block");
    let err = fails(&[
        "migrate",
        "--snapshot",
        p.to_str().unwrap(),
        "--state-root",
        &absent.to_string(),
    ]);
    assert!(
        err.contains("is not in") && err.contains(p.to_str().unwrap()),
        "{err}"
    );
    let root = car.roots()[0];
    let sr: fil_migrate::actors::state_tree::StateRoot =
        fil_migrate::actors::state_tree::get_cbor(&car, &root, "state root").unwrap();
    // The actors HAMT root: a 2-element list, not a state root.
    let err = fails(&[
        "migrate",
        "--snapshot",
        p.to_str().unwrap(),
        "--state-root",
        &sr.actors.to_string(),
    ]);
    assert!(
        err.contains("is not a state root") && err.contains("2-element list"),
        "{err}"
    );
}
