//! Arguments are validated before any work: durations finite and bounded,
//! threads clamped with a warning, sizes up to TiB; `--out` and `--report`
//! checked up front (writable, never the input, never a device node,
//! symlinks written through) and created with the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::states::small_config;
use fil_migrate::actors::manifest::Network;

fn small_car(dir: &Path) -> PathBuf {
    let car = dir.join("s.car");
    fil_migrate::synth::generate_car(&car, &small_config(Network::Mainnet, 1, 30, 5), 1 << 20)
        .unwrap();
    car
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(crate::common::bin())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn durations_threads_and_sizes_are_bounded_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let car = small_car(dir.path());
    let car = car.to_str().unwrap();
    for bad in ["inf", "1e300", "nan", "-1"] {
        let flag = format!("--checkpoint-every={bad}");
        let (ok, _, err) = run(&["migrate", "--snapshot", car, &flag]);
        assert!(!ok, "--checkpoint-every {bad} was taken");
        assert!(err.contains("seconds"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (ok, _, err) = run(&["migrate", "--snapshot", car, "--memory-budget", "3000TiB"]);
    assert!(!ok && err.contains("1 PiB"), "{err}");
    let (ok, out, err) = run(&[
        "migrate",
        "--snapshot",
        car,
        "--threads",
        "100000",
        "--memory-budget",
        "1TiB",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("warning: --threads 100000"), "{err}");
    assert!(!out.trim().is_empty());
}

#[test]
fn out_and_report_are_checked_before_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let car = small_car(dir.path());
    let before = std::fs::read(&car).unwrap();
    let c = car.to_str().unwrap();
    // The input, by its own name or another.
    let other_name = dir.path().join("same.car");
    std::fs::hard_link(&car, &other_name).unwrap();
    for out in [c, other_name.to_str().unwrap()] {
        let (ok, _, err) = run(&["migrate", "--snapshot", c, "--out", out]);
        assert!(!ok && err.contains("is the input"), "{err}");
    }
    assert_eq!(std::fs::read(&car).unwrap(), before);
    // A device node.
    let (ok, _, err) = run(&["migrate", "--snapshot", c, "--out", "/dev/null"]);
    assert!(!ok && err.contains("device node"), "{err}");
    // Unwritable places fail before the migration starts (no "upgrade" line).
    let missing = dir.path().join("no/such/dir/o.car");
    for flag in ["--out", "--report"] {
        let (ok, out, err) = run(&["migrate", "--snapshot", c, flag, missing.to_str().unwrap()]);
        assert!(!ok && err.contains("does not exist"), "{flag}: {err}");
        assert!(
            !err.contains("upgrade nv21"),
            "{flag}: the migration ran first: {err}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn a_symlinked_out_is_written_through_and_files_get_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let car = small_car(dir.path());
    let real = dir.path().join("real.car");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.car");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let report = dir.path().join("r.json");
    let bin = crate::common::bin();
    let script = format!(
        "umask 027; exec {bin} migrate --snapshot {} --out {} --report {}",
        car.display(),
        link.display(),
        report.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written = std::fs::read(&real).unwrap();
    assert!(written.len() > 100, "the link's target was not written");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&real), 0o640);
    assert_eq!(mode(&report), 0o640);
    // A dangling symlink is refused, naming the rule.
    let dangling = dir.path().join("dangling.car");
    std::os::unix::fs::symlink(dir.path().join("nowhere/x.car"), &dangling).unwrap();
    let (ok, _, err) = run(&[
        "migrate",
        "--snapshot",
        car.to_str().unwrap(),
        "--out",
        dangling.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("symlink"), "{err}");
}
