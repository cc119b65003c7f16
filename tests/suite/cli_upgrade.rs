//! The CLI picks the upgrade from the state (`--upgrade auto`), checks a
//! named one and `--network` against it, and `inspect` shows what a state
//! is: a v12 state with a market, made by `gen --then nv21`.

use crate::common;

use std::process::Command;

fn bin() -> Command {
    Command::new(crate::common::bin())
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn auto_picks_nv22_for_a_v12_state_and_named_upgrades_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let v12 = dir.path().join("v12.car");
    common::succeed(
        bin()
            .args([
                "gen",
                "--miners",
                "2",
                "--sectors",
                "400",
                "--deals-per-sector",
                "3",
            ])
            .args(["--then", "nv21", "--out"])
            .arg(&v12),
    );
    let inspect = stdout(&common::succeed(bin().arg("inspect").arg(&v12)));
    assert!(
        inspect.contains("bundle:        actors v12 (mainnet v12.0.0)"),
        "{inspect}"
    );
    assert!(inspect.contains("network:       mainnet"), "{inspect}");
    let deals: Vec<u64> = inspect
        .lines()
        .find(|l| l.starts_with("deals:"))
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(deals[0] > 100 && deals[1] >= deals[0], "{inspect}");

    let auto = common::succeed(bin().args(["migrate", "--verify", "--snapshot"]).arg(&v12));
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(
        err.contains("upgrade nv22 on mainnet at epoch 3855360"),
        "{err}"
    );
    assert!(err.contains("typed reference path agree"), "{err}");
    let named = common::succeed(
        bin()
            .args([
                "migrate",
                "--upgrade",
                "nv22",
                "--network",
                "mainnet",
                "--snapshot",
            ])
            .arg(&v12),
    );
    assert_eq!(stdout(&auto), stdout(&named));

    for (args, want) in [
        (
            vec!["--upgrade", "nv21"],
            "runs actors v12 (mainnet v12.0.0), but nv21 migrates actors v11",
        ),
        (
            vec!["--network", "calibnet"],
            "--network calibnet but the state is a mainnet state",
        ),
    ] {
        let o = bin()
            .arg("migrate")
            .args(&args)
            .arg("--snapshot")
            .arg(&v12)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?} printed a root");
    }
}

#[test]
fn migrate_to_runs_every_upgrade_in_turn_and_prints_each_root() {
    let dir = tempfile::tempdir().unwrap();
    for (network, target, steps) in [
        (
            "mainnet",
            "nv29",
            vec![
                "nv21", "nv22", "nv23", "nv24", "nv25", "nv27", "nv28", "nv29",
            ],
        ),
        (
            "calibnet",
            "nv25",
            vec![
                "nv21", "nv21fix", "nv21fix2", "nv22", "nv22fix", "nv23", "nv24", "nv25",
            ],
        ),
    ] {
        let v11 = dir.path().join(format!("{network}-v11.car"));
        common::succeed(
            bin()
                .args([
                    "gen",
                    "--network",
                    network,
                    "--miners",
                    "2",
                    "--sectors",
                    "300",
                ])
                .args(["--deals-per-sector", "2", "--all-upgrades", "--out"])
                .arg(&v11),
        );
        let out = dir.path().join(format!("{network}-{target}.car"));
        let run = common::succeed(
            bin()
                .args(["migrate", "--verify", "--to", target, "--snapshot"])
                .arg(&v11)
                .arg("--out")
                .arg(&out),
        );
        let text = stdout(&run);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), steps.len() + 1, "{text}");
        for (line, step) in lines.iter().zip(&steps) {
            assert!(line.starts_with(&format!("{step} bafy")), "{text}");
        }
        let last = lines[steps.len() - 1].split_whitespace().nth(1).unwrap();
        assert_eq!(lines[steps.len()], last);
        // The exported state is the last root, and nothing is left to run.
        let again = bin()
            .args(["migrate", "--to", target, "--snapshot"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(!again.status.success());
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(err.contains("no upgrade to run"), "{err}");
    }
}
