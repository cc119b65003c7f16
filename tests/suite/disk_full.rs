//! A full disk, for real: the store on a small `tmpfs`, filled during a
//! premigration's flushes and checkpoints, and during a final migration.
//! The CLI must exit non-zero saying the disk is full and where; after
//! space is freed the same command resumes and the roots are the uncached
//! ones. (The fault backend covers a full disk at every operation of a run:
//! `fault_injection.rs`.)
//!
//! Needs `mount -t tmpfs` (root, as on this project's machines and CI); where
//! mounting is refused the test says so and checks nothing else.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::states::{small_config, snapshot_cars};
use fil_migrate::actors::manifest::Network;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn cli(args: &[&str], snapshot: &Path, store: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(crate::common::bin());
    cmd.args(args).arg("--snapshot").arg(snapshot);
    if let Some(s) = store {
        cmd.arg("--store").arg(s);
    }
    cmd.args(["--checkpoint-every", "0", "--memory-budget", "1MiB"]);
    cmd.output().unwrap()
}

fn root_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_string()
}

fn assert_disk_full(out: &std::process::Output, store: &Path, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: succeeded on a full disk");
    assert!(
        err.contains("error:") && err.contains("the disk is full"),
        "{what}: not reported as a full disk: {err}"
    );
    assert!(
        err.contains(&store.display().to_string()),
        "{what}: the message does not say where: {err}"
    );
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
}

#[test]
fn a_full_disk_is_reported_and_the_runs_resume_once_space_is_freed() {
    let t = tempfile::tempdir().unwrap();
    let (s0, s1) = snapshot_cars(
        t.path(),
        &small_config(Network::Mainnet, 4, 15_000, 61),
        "0.01",
    );
    let s0 = s0.as_path();
    let want0 = root_of(&cli(&["migrate"], s0, None));
    let want1 = root_of(&cli(&["migrate"], &s1, None));
    let mnt = t.path().join("mnt");
    // Sizes that run out in different places: the first flushes, a
    // checkpoint's entries, the end of the run.
    for size in ["1m", "2m", "3m"] {
        let Some(fs) = Tmpfs::mount(&mnt, size) else {
            eprintln!("mount -t tmpfs is not permitted here: the real-disk test is skipped");
            return;
        };
        let store = mnt.join("store");
        let full = cli(&["premigrate"], s0, Some(&store));
        assert_disk_full(&full, &store, &format!("premigrate on {size}"));
        let err = String::from_utf8_lossy(&full.stderr);
        assert!(
            err.contains("the work made durable so far is kept in"),
            "{err}"
        );
        fs.resize("256m");
        let resumed = cli(&["premigrate"], s0, Some(&store));
        assert_eq!(
            root_of(&resumed),
            want0,
            "premigration resumed after {size}"
        );

        // The final migration on a disk with a few KiB left.
        let ballast = mnt.join("ballast");
        let free = nix_free_bytes(&mnt);
        std::fs::write(&ballast, vec![0u8; free.saturating_sub(64 << 10) as usize]).unwrap();
        let full = cli(&["migrate"], &s1, Some(&store));
        assert_disk_full(&full, &store, &format!("final migration after {size}"));
        std::fs::remove_file(&ballast).unwrap();
        let done = cli(&["migrate"], &s1, Some(&store));
        assert_eq!(root_of(&done), want1, "final migration after freeing space");
        drop(fs);
    }

    // Without --store the temporary store fills the disk: the message
    // promises nothing, and the temporary store is gone.
    let Some(_fs) = Tmpfs::mount(&mnt, "1m") else {
        return;
    };
    let out = Command::new(crate::common::bin())
        .args(["migrate", "--memory-budget", "1MiB", "--snapshot"])
        .arg(s0)
        .env("TMPDIR", &mnt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the disk is full"),
        "{err}"
    );
    assert!(err.contains("nothing is kept"), "{err}");
    assert!(!err.contains("resumes"), "{err}");
    assert_eq!(
        std::fs::read_dir(&mnt).unwrap().count(),
        0,
        "temporary store left"
    );
}

/// Bytes free on the filesystem holding `p`.
fn nix_free_bytes(p: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}
