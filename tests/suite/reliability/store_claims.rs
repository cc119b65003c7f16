//! A store is a store: `--store` makes a marked store of a new or empty
//! directory and refuses any other; `gc` holds the store's lock for its
//! whole run, swaps only the store's own database (never a user's file),
//! and works through symlinks and relative paths; another run meanwhile is
//! refused with the lock message and deletes nothing.

use std::path::Path;
use std::process::Command;

use crate::common::states::small_config;
use fil_migrate::actors::manifest::Network;
use fil_migrate::store::claim::{db_dir, MARKER};
use fil_migrate::store::replace::staging_dir;
use fil_migrate::store::{DiskStore, DiskStoreOptions};

fn p(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn stdout(cmd: &mut Command) -> String {
    let out = crate::common::succeed(cmd);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_non_empty_directory_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("s.car");
    fil_migrate::synth::generate_car(&car, &small_config(Network::Mainnet, 1, 50, 1), 1 << 20)
        .unwrap();
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("keep.car"), b"the user's").unwrap();
    for cmd in ["premigrate", "migrate"] {
        let err = fails(Command::new(crate::common::bin()).args([
            cmd,
            "--snapshot",
            &p(&car),
            "--store",
            &p(&mine),
        ]));
        assert!(err.contains("not a fil-migrate store"), "{err}");
        assert!(err.contains("keep.car"), "{err}");
    }
    let err = fails(Command::new(crate::common::bin()).args(["status", "--store", &p(&mine)]));
    assert!(err.contains("not a fil-migrate store"), "{err}");
    // A read does not make an empty directory a store.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = fails(Command::new(crate::common::bin()).args(["status", "--store", &p(&empty)]));
    assert!(err.contains("not a fil-migrate store"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let names: Vec<_> = std::fs::read_dir(&mine)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["keep.car"]);
    assert_eq!(std::fs::read(mine.join("keep.car")).unwrap(), b"the user's");
    // A file is not a store either.
    let err = fails(Command::new(crate::common::bin()).args([
        "premigrate",
        "--snapshot",
        &p(&car),
        "--store",
        &p(&car),
    ]));
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn gc_keeps_user_files_and_works_through_symlinks_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("s.car");
    fil_migrate::synth::generate_car(&car, &small_config(Network::Mainnet, 2, 400, 2), 1 << 20)
        .unwrap();
    let store = dir.path().join("store");
    let out = stdout(Command::new(crate::common::bin()).args([
        "premigrate",
        "--snapshot",
        &p(&car),
        "--store",
        &p(&store),
    ]));
    let root = out.lines().last().unwrap().to_string();
    assert!(store.join(MARKER).is_file());
    // A file the user keeps in the store directory survives every gc.
    std::fs::write(store.join("notes.txt"), b"mine").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&store, &link).unwrap();
    stdout(Command::new(crate::common::bin()).args(["gc", "--store", &p(&link), "--keep", &root]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    stdout(
        Command::new(crate::common::bin())
            .current_dir(&store)
            .args(["gc", "--store", ".", "--keep", &root]),
    );
    stdout(
        Command::new(crate::common::bin())
            .current_dir(dir.path())
            .args(["gc", "--store", "store", "--keep", &root]),
    );
    let mut names: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["FIL-MIGRATE-STORE", "db", "fil-migrate.lock", "notes.txt"]
    );
    assert_eq!(std::fs::read(store.join("notes.txt")).unwrap(), b"mine");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("gc-")), "{names:?}");
    // The store still answers with the same root.
    assert_eq!(
        stdout(Command::new(crate::common::bin()).args([
            "migrate",
            "--snapshot",
            &p(&car),
            "--store",
            &p(&link),
        ])),
        root
    );
}

#[test]
fn a_run_on_a_store_in_use_is_refused_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let held = DiskStore::open(&store, DiskStoreOptions::default()).unwrap();
    // As garbage collection leaves it mid-run: its rewrite beside the db.
    let staged = staging_dir(&db_dir(&store));
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join("x"), b"gc's work").unwrap();
    let some_root = fil_migrate::ipld::cids::cbor_cid(b"x").to_string();
    for args in [
        vec!["status", "--store", store.to_str().unwrap()],
        vec![
            "gc",
            "--store",
            store.to_str().unwrap(),
            "--keep",
            &some_root,
        ],
    ] {
        let err = fails(Command::new(crate::common::bin()).args(&args));
        assert!(err.contains("in use by another process"), "{args:?}: {err}");
    }
    let err = DiskStore::open(&store, DiskStoreOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use by another process"), "{err}");
    assert_eq!(std::fs::read(staged.join("x")).unwrap(), b"gc's work");
    drop(held);
    // Released: the next open finds the unfinished rewrite and discards it.
    drop(DiskStore::open(&store, DiskStoreOptions::default()).unwrap());
    assert!(!staged.exists());
}

/// A run killed in its first milliseconds (0.5–30 ms), while it claims
/// and creates a new store (its marker, fjall's creation files and fjall's
/// version marker, whose header is written in two writes), leaves a
/// directory the next run opens. While the marker went through a temporary
/// file and a rename, 5 kills in 200 made the store unopenable (CI saw
/// one); before a torn fjall header counted as no marker, 2 in 1,500.
#[test]
fn kill_9_in_the_first_milliseconds_of_a_new_store_leaves_it_openable() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("s.car");
    fil_migrate::synth::generate_car(&car, &small_config(Network::Mainnet, 1, 50, 1), 1 << 20)
        .unwrap();
    let bin = crate::common::bin();
    let mut killed = 0;
    // `KILL_RUNS` sets how many (README: Reliability): `KILL_RUNS=1500
    // cargo test --release --test suite kill_9_in_the_first` for a long run.
    let runs: u64 = std::env::var("KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    for i in 0..runs {
        let store = dir.path().join(format!("store{i}"));
        let mut child = Command::new(bin)
            .args(["premigrate", "--snapshot", &p(&car), "--store", &p(&store)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(500 + (i * 7919) % 30_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        stdout(Command::new(bin).args([
            "premigrate",
            "--snapshot",
            &p(&car),
            "--store",
            &p(&store),
        ]));
        assert!(
            std::fs::read_dir(&store).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".fil-migrate-")),
            "a temporary file is left in {}",
            store.display()
        );
        std::fs::remove_dir_all(&store).unwrap();
    }
    assert!(killed > 0, "no run was killed");
}
