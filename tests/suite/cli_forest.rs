//! The CLI on real snapshot formats: `migrate` straight from a
//! `.forest.car.zst` gives the CARv1 run's root and writes a
//! `.forest.car.zst` that verifies block for block; a chain snapshot made
//! by `car chain` is migrated at a chosen epoch (a null round included) by
//! `migrate` and `premigrate`, and an epoch it does not hold fails naming
//! the range.

use crate::common;

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(crate::common::bin())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn last_line(o: &std::process::Output) -> String {
    text(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn gen(out: &Path) {
    common::succeed(
        bin()
            .args(["gen", "--miners", "3", "--sectors", "700", "--out"])
            .arg(out),
    );
}

#[test]
fn migrate_reads_and_writes_forest_car_zst_with_the_car_runs_root() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("a.car");
    let forest = dir.path().join("a.forest.car.zst");
    gen(&car);
    common::succeed(
        bin()
            .args(["car", "export", "--from"])
            .arg(&car)
            .arg("--out")
            .arg(&forest),
    );
    let plain = last_line(&common::succeed(
        bin().args(["migrate", "--snapshot"]).arg(&car),
    ));
    let out = dir.path().join("b.forest.car.zst");
    let report = dir.path().join("r.json");
    let o = common::succeed(
        bin()
            .args(["migrate", "--snapshot"])
            .arg(&forest)
            .arg("--out")
            .arg(&out)
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(last_line(&o), plain);
    let err = text(&o.stderr);
    assert!(err.contains("forest.car.zst (frames + index)"), "{err}");
    assert!(err.contains("first actor migrated"), "{err}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["snapshot"]["layout"], "forest.car.zst (frames + index)");
    assert!(r["snapshot"]["frames_decompressed"].as_u64().unwrap() > 0);
    assert!(r["first_actor_secs"].as_f64().is_some());
    assert!(r["source"]["tipset_epoch"].is_null());
    // No decompressed copy beside the input.
    assert!(!dir.path().join("a.forest.car").exists());

    let v = common::succeed(bin().args(["car", "verify"]).arg(&out));
    assert!(text(&v.stdout).contains("blocks verified"));
    let idx = text(&common::succeed(bin().args(["car", "index"]).arg(&out)).stdout);
    assert!(idx.contains(&format!("root:           {plain}")), "{idx}");
    // Its state is the migrated one: the next upgrade runs on it.
    let next = common::succeed(bin().args(["migrate", "--snapshot"]).arg(&out));
    assert!(
        text(&next.stderr).contains("upgrade nv22"),
        "{}",
        text(&next.stderr)
    );
}

#[test]
fn chain_snapshots_migrate_the_state_of_the_epoch_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.car");
    let new = dir.path().join("new.car");
    gen(&old);
    common::succeed(
        bin()
            .args([
                "gen",
                "--miners",
                "2",
                "--sectors",
                "500",
                "--seed",
                "9",
                "--out",
            ])
            .arg(&new),
    );
    let chain = dir.path().join("chain.forest.car.zst");
    let made = common::succeed(
        bin()
            .args(["car", "chain", "--state"])
            .arg(&old)
            .arg("--state")
            .arg(&new)
            .args([
                "--head-epoch",
                "3000",
                "--epochs",
                "40",
                "--null-every",
                "7",
            ])
            .arg("--out")
            .arg(&chain),
    );
    assert!(text(&made.stdout).contains("epochs 2961..=3000"));
    let root_of = |car: &Path| {
        last_line(&common::succeed(
            bin().args(["migrate", "--snapshot"]).arg(car),
        ))
    };
    let (old_root, new_root) = (root_of(&old), root_of(&new));
    assert_ne!(old_root, new_root);

    // Tipsets at 2961..=2980 carry the old state, later ones the new;
    // epochs e with e % 7 == 6 are null rounds (2966, 2973, 2981, …).
    let at = |epoch: &str| {
        common::succeed(
            bin()
                .args(["migrate", "--epoch", epoch, "--snapshot"])
                .arg(&chain),
        )
    };
    let o = at("2970");
    assert_eq!(last_line(&o), old_root);
    assert!(text(&o.stderr).contains("tipset at epoch 2970"));
    let o = at("2978");
    assert!(text(&o.stderr).contains("tipset at epoch 2978"));
    let o = at("2985");
    assert_eq!(last_line(&o), new_root);
    let o = at("2983");
    assert_eq!(last_line(&o), new_root);
    let o = at("2981");
    assert!(
        text(&o.stderr).contains("epoch 2981 is a null round; 2980 is the last tipset before it"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(last_line(&o), old_root, "2980 is in the old state's range");
    let head = common::succeed(bin().args(["migrate", "--snapshot"]).arg(&chain));
    assert_eq!(last_line(&head), new_root);
    assert!(text(&head.stderr).contains("tipset at epoch 3000"));

    let store = dir.path().join("store");
    let pre = common::succeed(
        bin()
            .args(["premigrate", "--epoch", "2970", "--snapshot"])
            .arg(&chain)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(last_line(&pre), old_root);

    let bad = bin()
        .args(["migrate", "--epoch", "2900", "--snapshot"])
        .arg(&chain)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let e = text(&bad.stderr);
    assert!(
        e.contains("epoch 2900 is before the chain's first tipset at epoch 2961"),
        "{e}"
    );
}
