//! Golden fixture: a small generated v11 state committed in testdata/, its
//! pinned input root, and the pinned nv21 output root, which the typed
//! reference path also gives. The CLI runs end to end on it.

use crate::common;

use std::process::Command;

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::resolve_state_root;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, Upgrade};
use fil_migrate::store::{CarSource, CarSourceOptions, MemStore, Overlay};

const FIXTURE: &str = "testdata/nv21-small-v11.car";
const INPUT_ROOT: &str = "bafy2bzacea3aezixxuj2vd3vgu7uf6xbtw7yitxwybb5ymmyxdeqlw4ndihhw";
const OUTPUT_ROOT: &str = "bafy2bzacebu76hszjgnjhdzmtddtt3dk75eslv7ztp3lbmrn7g4y6cyecgzba";
/// The arguments that generated the fixture.
const GEN_ARGS: &[&str] = &[
    "--sectors",
    "600",
    "--accounts",
    "10",
    "--multisigs",
    "2",
    "--evm",
    "2",
    "--eth-accounts",
    "2",
    "--seed",
    "42",
];

fn fixture_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("fixture.car");
    std::fs::copy(FIXTURE, &p).unwrap();
    p
}

#[test]
fn the_fixture_migrates_to_the_pinned_root_as_the_reference_does() {
    let dir = tempfile::tempdir().unwrap();
    let car = CarSource::open(fixture_copy(dir.path()), CarSourceOptions::default()).unwrap();
    let input = resolve_state_root(&car, &car.roots()[0]).unwrap();
    assert_eq!(input.to_string(), INPUT_ROOT);
    let store = Overlay {
        upper: MemStore::new(),
        lower: &car,
    };
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let out = migrate_state(
        &store,
        &input,
        &spec,
        &MemoryCache::default(),
        &MigrationOptions::default(),
    )
    .unwrap();
    assert_eq!(out.state_root.to_string(), OUTPUT_ROOT);
    assert_eq!(
        reference_root(
            &store,
            &input,
            &Upgrade::load("nv21", Network::Mainnet).unwrap()
        )
        .unwrap(),
        out.state_root
    );
}

fn bin() -> Command {
    Command::new(crate::common::bin())
}

#[test]
fn gen_reproduces_the_fixture_and_the_cli_migrates_verifies_and_exports_it() {
    let dir = tempfile::tempdir().unwrap();
    let regenerated = dir.path().join("regen.car");
    let out = common::succeed(
        bin()
            .args(["gen", "--out"])
            .arg(&regenerated)
            .args(GEN_ARGS),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(INPUT_ROOT));
    assert_eq!(
        std::fs::read(&regenerated).unwrap(),
        std::fs::read(FIXTURE).unwrap(),
        "byte-identical CAR"
    );

    let migrated = dir.path().join("migrated.car.zst");
    let report = dir.path().join("report.json");
    let out = common::succeed(
        bin()
            .args(["migrate", "--snapshot"])
            .arg(&regenerated)
            .args([
                "--verify",
                "--threads",
                "2",
                "--memory-budget",
                "64KiB",
                "--out",
            ])
            .arg(&migrated)
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), OUTPUT_ROOT);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["output_state_root"], OUTPUT_ROOT);
    assert_eq!(r["verified"], true);
    assert_eq!(r["actors_by_migrator"]["nv21_miner"], 1);

    // The exported migrated snapshot is complete and inspectable on its own.
    let out = bin().arg("inspect").arg(&migrated).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(OUTPUT_ROOT) && text.contains("storageminer v12") && text.contains("600"),
        "{text}"
    );
}

#[test]
fn a_truncated_snapshot_fails_with_the_offset_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(FIXTURE).unwrap();
    let bad = dir.path().join("bad.car");
    std::fs::write(&bad, &bytes[..bytes.len() - 100]).unwrap();
    let out_car = dir.path().join("out.car");
    let out = bin()
        .args(["migrate", "--snapshot"])
        .arg(&bad)
        .arg("--out")
        .arg(&out_car)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.car") && err.contains("offset") && err.contains("truncated"),
        "{err}"
    );
    assert!(!out_car.exists());
}

#[test]
fn a_state_root_override_that_is_not_in_the_snapshot_names_the_cid() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Cid::try_from(OUTPUT_ROOT).unwrap();
    let out = bin()
        .args(["migrate", "--snapshot"])
        .arg(fixture_copy(dir.path()))
        .args(["--state-root", &missing.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(OUTPUT_ROOT));
}
