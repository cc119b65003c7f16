//! SIGINT and SIGTERM cancel a run: the workers stop, what finished is
//! checkpointed into the store (the next run's cache hits show it),
//! temporary stores and outputs are removed, and the process exits 130 or
//! 143 with one line saying what was kept.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::states::small_config;
use fil_migrate::actors::manifest::Network;

/// A snapshot whose migration takes long enough to be interrupted.
fn snapshot(dir: &Path) -> PathBuf {
    let car = dir.join("s.car");
    fil_migrate::synth::generate_car(
        &car,
        &small_config(Network::Mainnet, 24, 20_000, 9),
        64 << 20,
    )
    .unwrap();
    car
}

/// Runs `args`, sends `sig` `after` once the migration has started, and
/// returns the exit code and stderr.
fn interrupt(args: &[&str], tmp: &Path, sig: i32, after: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(crate::common::bin())
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut err = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        err.push_str(&line);
        err.push('\n');
        if line.starts_with("upgrade nv21") {
            break;
        }
    }
    std::thread::sleep(after);
    // SAFETY: signals a child process of ours by its PID.
    unsafe { libc::kill(child.id() as i32, sig) };
    for line in lines {
        err.push_str(&line.unwrap());
        err.push('\n');
    }
    let status = child.wait().unwrap();
    (status.code(), err)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn sigint_during_a_premigration_keeps_its_finished_miners_and_the_next_run_hits_them() {
    let dir = tempfile::tempdir().unwrap();
    let car = snapshot(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Delays from short to long: one must fall after the first miner is
    // done and before the last (a loaded machine shifts both).
    let mut kept = None;
    for (i, ms) in [150u64, 300, 600, 1200, 2400].into_iter().enumerate() {
        let store = dir.path().join(format!("store{i}"));
        let args: Vec<String> = [
            "premigrate",
            "--snapshot",
            car.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--threads",
            "2",
            "--checkpoint-every",
            "3600",
        ]
        .map(String::from)
        .to_vec();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = interrupt(&argv, &tmp, libc::SIGINT, Duration::from_millis(ms));
        if code == Some(0) {
            break; // finished before the signal: longer delays will too
        }
        assert_eq!(code, Some(130), "{err}");
        let last = err.trim_end().lines().last().unwrap();
        assert!(
            last.starts_with("interrupted by SIGINT: ")
                && last.contains("cache entries are durable"),
            "{err}"
        );
        assert_eq!(
            entries(&tmp),
            Vec::<String>::new(),
            "litter in the temp dir"
        );
        if !last.starts_with("interrupted by SIGINT: 0 ") {
            kept = Some(args);
            break;
        }
    }
    let args = kept.expect("no delay interrupted the premigration after a miner was done");
    // The next run resumes: what the interrupted run finished (whole miners,
    // memoised by head, and sectors AMTs) is not transformed again, so it
    // transforms fewer sector infos from scratch than a run on a new store.
    let run = |store: &str, report_path: &Path| {
        let out = crate::common::succeed(
            Command::new(crate::common::bin())
                .args(&args[..4])
                .arg(store)
                .args(["--report", report_path.to_str().unwrap()]),
        );
        assert!(out.status.success());
        report(report_path)
    };
    let resumed = run(&args[4], &dir.path().join("r.json"));
    let fresh_store = dir.path().join("fresh");
    let fresh = run(fresh_store.to_str().unwrap(), &dir.path().join("f.json"));
    assert_eq!(resumed["output_state_root"], fresh["output_state_root"]);
    let scratch = |r: &serde_json::Value| r["sectors_from_scratch"].as_u64().unwrap();
    assert!(
        scratch(&resumed) < scratch(&fresh),
        "the resumed run redid the interrupted run's work: {} sector infos from scratch, {} on a new store",
        scratch(&resumed),
        scratch(&fresh)
    );
}

#[test]
fn sigterm_during_an_uncached_run_removes_its_temporary_store_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let car = snapshot(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("o.car");
    let args = [
        "migrate",
        "--snapshot",
        car.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // Delays from long to short: the run takes a fraction of a second on a
    // fast build (CI once saw it finish 0.17 s in, before a fixed 300 ms
    // signal), so a run that finished first is tried again sooner.
    let mut interrupted = false;
    for ms in [300u64, 100, 30, 0] {
        let (code, err) = interrupt(&args, &tmp, libc::SIGTERM, Duration::from_millis(ms));
        if code == Some(0) {
            std::fs::remove_file(&out).unwrap();
            continue;
        }
        assert_eq!(code, Some(143), "{err}");
        let last = err.trim_end().lines().last().unwrap();
        assert!(last.starts_with("interrupted by SIGTERM: "), "{err}");
        assert_eq!(entries(&tmp), Vec::<String>::new(), "temporary store left");
        assert_eq!(entries(&outdir), Vec::<String>::new(), "output litter");
        interrupted = true;
        break;
    }
    assert!(interrupted, "every run finished before its SIGTERM");
}
