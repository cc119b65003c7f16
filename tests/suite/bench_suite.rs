//! The benchmark suite at its tiny scale (what CI can afford): every
//! scenario runs, the engine, the reference, the cached and the uncached
//! paths agree (the suite fails otherwise), and the JSON holds every figure.

use crate::common;

use std::process::Command;

#[test]
fn the_tiny_suite_runs_every_scenario_and_writes_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("suite.json");
    let out = common::succeed(
        Command::new(crate::common::bin())
            .args(["bench", "suite", "--scale", "tiny", "--dir"])
            .arg(dir.path())
            .arg("--json")
            .arg(&json),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = doc["scenarios"].as_array().unwrap();
    for prefix in ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "   lower bound"] {
        assert!(
            rows.iter()
                .any(|r| r["scenario"].as_str().unwrap().starts_with(prefix)),
            "scenario {prefix} missing:\n{table}"
        );
        assert!(table.contains(prefix), "{table}");
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["scenario"].as_str().unwrap().starts_with("3."))
            .count(),
        4,
        "180 epochs, 0.1%, 1%, 10%"
    );
    for r in rows {
        assert!(r["secs"].as_f64().unwrap() > 0.0, "{r}");
    }
    let one = &rows[0]["details"];
    assert_eq!(
        one["engine"]["engine"]["root"],
        one["reference"]["reference"]["root"]
    );
    assert!(one["engine"]["engine"]["sectors"].as_u64().unwrap() >= 3_000);
    assert!(one["ratio"].as_f64().unwrap() > 0.0);
    let churn = rows
        .iter()
        .find(|r| r["scenario"].as_str().unwrap().contains("10% churn"))
        .unwrap();
    let d = &churn["details"];
    assert_eq!(
        d["final"]["output_state_root"],
        d["uncached"]["output_state_root"]
    );
    assert!(d["final"]["sectors_via_diff"].as_u64().unwrap() > 0);

    // Scenario 7: nv22's market, both implementations, same root (the
    // suite bails otherwise), each with its own peak RSS.
    let market = rows
        .iter()
        .find(|r| r["scenario"].as_str().unwrap().starts_with("7."))
        .unwrap();
    assert!(
        market["details"]["state"]["deal_states"].as_u64().unwrap() > 1_000,
        "{market}"
    );
    assert!(market["peak_rss_mib"].as_u64().is_some(), "{market}");

    // `bench bound` of a run made by hand: its multiple of the bound.
    let car = dir.path().join("one-miner-3000.car");
    let report = dir.path().join("by-hand.json");
    common::succeed(
        Command::new(crate::common::bin())
            .args(["migrate", "--snapshot"])
            .arg(&car)
            .arg("--report")
            .arg(&report),
    );
    let out = common::succeed(
        Command::new(crate::common::bin())
            .args(["bench", "bound", "--snapshot"])
            .arg(&car)
            .arg("--report")
            .arg(&report),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let times: f64 = text
        .split(" is ")
        .nth(1)
        .and_then(|t| t.split('x').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no multiple in {text}"));
    assert!(times > 0.0 && text.starts_with("nv21: read "), "{text}");
    let missing = Command::new(crate::common::bin())
        .args(["bench", "bound", "--snapshot"])
        .arg(&car)
        .arg("--report")
        .arg(dir.path().join("absent.json"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.json"));

    // The node-like in-process comparison on the suite's states.
    let out = common::succeed(
        Command::new(crate::common::bin())
            .args(["bench", "final", "--before"])
            .arg(dir.path().join("one-miner-3000.car"))
            .arg("--after")
            .arg(dir.path().join("one-miner-3000-churn-0.1.car")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(d["uncached"]["output_state_root"].as_str().unwrap()),
        "{text}"
    );
}
