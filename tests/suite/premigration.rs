//! Premigration with a persisted cache: reuse across processes, wrong-store
//! and damaged-store handling, cancellation, and kill -9 at random moments.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::states::{generate, miner_sectors, small_config, snapshot_cars, successor};
use common::store_runs::{opts, uncached_root, StoreRun};
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::{CancelToken, MigrationOptions, StoreCache};
use fil_migrate::store::{DiskStore, DiskStoreOptions, MemStore, Overlay};

/// Every durable cache entry's root must be fully readable.
fn assert_entries_complete(disk: &DiskStore, input: &MemStore) {
    let both = Overlay {
        upper: disk,
        lower: input,
    };
    for (k, root) in StoreCache::durable_entries(disk).unwrap() {
        if k.starts_with("prevSectorsIn-") {
            continue; // an input root: it lives in the snapshot
        }
        common::reachable(&both, &root);
    }
}

#[test]
fn a_premigration_in_one_process_is_reused_by_the_next() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 3, 5_000, 21));
    let s1 = successor(&input, &s0, 2);
    let expected = uncached_root(&input, &s1);
    let dir = tempfile::tempdir().unwrap();
    {
        let pre = StoreRun::open(dir.path(), true);
        pre.migrate(&input, &s0, &opts()).unwrap();
        assert!(pre.cache.committed() > 0);
    }
    let next = StoreRun::open(dir.path(), true);
    assert_entries_complete(&next.disk, &input);
    let out = next.migrate(&input, &s1, &opts()).unwrap();
    assert_eq!(out.state_root, expected);
    assert!(out.report.sectors_via_diff > 0);
    assert!(
        out.report.sectors_from_scratch < 1_000,
        "only the new miner from scratch: {}",
        out.report.sectors_from_scratch
    );
}

#[test]
fn a_store_of_another_upgrade_or_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    StoreCache::open(&disk, "nv21", Network::Mainnet).unwrap();
    let err = StoreCache::open(&disk, "nv21", Network::Calibnet)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("nv21/mainnet") && err.contains("nv21/calibnet"),
        "{err}"
    );
}

#[test]
fn a_cache_entry_naming_a_missing_block_falls_back_to_recomputation() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 2, 2_000, 22));
    let expected = uncached_root(&input, &s0);
    let dir = tempfile::tempdir().unwrap();
    let run = StoreRun::open(dir.path(), true);
    // Damage: point every miner's sectors entry at a block the store never had.
    let bogus = fil_migrate::ipld::cids::cbor_cid(b"never stored");
    let miners = miner_sectors(&input, &s0);
    for sectors in miners {
        let key = format!("cache/sectorsAmt-{sectors}");
        run.disk
            .put_meta(key.as_bytes(), &bogus.to_bytes())
            .unwrap();
    }
    let out = run.migrate(&input, &s0, &opts()).unwrap();
    assert_eq!(out.state_root, expected);
    let fallbacks = run.cache.fallbacks();
    assert!(fallbacks >= 2, "fallbacks: {fallbacks}");
}

#[test]
fn a_cancelled_premigration_leaves_a_consistent_cache_and_the_next_run_finishes_it() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 6, 20_000, 23));
    let expected = uncached_root(&input, &s0);
    let dir = tempfile::tempdir().unwrap();
    for delay_ms in [5u64, 40, 120] {
        let run = StoreRun::open(dir.path(), true);
        let o = MigrationOptions {
            cancel: CancelToken::new(),
            ..opts()
        };
        let cancel = o.cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            cancel.cancel();
        });
        let _ = run.migrate(&input, &s0, &o);
        t.join().unwrap();
        assert_entries_complete(&run.disk, &input);
    }
    let out = StoreRun::open(dir.path(), true)
        .migrate(&input, &s0, &opts())
        .unwrap();
    assert_eq!(out.state_root, expected);
}

/// kill -9 the CLI at pseudo-random moments of a premigration, many times;
/// every durable entry stays complete and the last run ends with the same root.
#[test]
fn kill_9_at_random_moments_then_resume_gives_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("s0.car");
    let cfg = small_config(Network::Mainnet, 6, 25_000, 24);
    fil_migrate::synth::generate_car(&car, &cfg, 64 << 20).unwrap();
    let bin = crate::common::bin();
    let t = std::time::Instant::now();
    let expected = Command::new(bin)
        .args(["migrate", "--snapshot"])
        .arg(&car)
        .output()
        .unwrap();
    assert!(expected.status.success());
    // Kill delays are fractions of an uncached run, so the first run is always
    // cut short whatever this machine's speed.
    let full = t.elapsed().as_millis() as u64;
    let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();
    let store = dir.path().join("store");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    for _ in 0..8 {
        seed = fil_migrate::synth::sector_gen::mix(&[seed]);
        let delay = Duration::from_millis(full / 20 + seed % (full / 2).max(1));
        let mut child = Command::new(bin)
            .args([
                "premigrate",
                "--checkpoint-every",
                "0.05",
                "--memory-budget",
                "1MiB",
                "--snapshot",
            ])
            .arg(&car)
            .arg("--store")
            .arg(&store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        let disk = DiskStore::open(&store, DiskStoreOptions::default()).unwrap();
        let src = fil_migrate::store::CarSource::open(&car, Default::default()).unwrap();
        for (k, root) in StoreCache::durable_entries(&disk).unwrap() {
            if !k.starts_with("prevSectorsIn-") {
                common::reachable(
                    &Overlay {
                        upper: &disk,
                        lower: &src,
                    },
                    &root,
                );
            } else {
                common::reachable(&disk, &root); // retained input trees are durable too
            }
        }
    }
    assert!(killed > 0, "no run was killed: make the state larger");
    let out = common::succeed(
        Command::new(bin)
            .args(["migrate", "--verify", "--snapshot"])
            .arg(&car)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
}

/// kill -9 the CLI at pseudo-random moments of the *final* migration (the
/// successor state, over a premigrated store), many times; every durable
/// entry stays complete, and the run that finishes gives the uncached root.
/// A run that ends before its kill is replaced by the premigrated store again
/// and the delays shrink, so eight kills land in unfinished work however busy
/// the machine is.
#[test]
fn kill_9_during_the_final_migration_then_resume_gives_the_uncached_root() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(Network::Mainnet, 6, 25_000, 36);
    let (s0, s1) = snapshot_cars(dir.path(), &cfg, "0.05");
    let bin = crate::common::bin();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let expected = common::succeed(Command::new(bin).args(["migrate", "--snapshot", &path(&s1)]));
    let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();
    let store = dir.path().join("store");
    common::succeed(
        Command::new(bin)
            .args(["premigrate", "--snapshot", &path(&s0), "--store"])
            .arg(&store),
    );
    let premigrated = dir.path().join("premigrated");
    let restore = || {
        let _ = std::fs::remove_dir_all(&store);
        common::succeed(Command::new("cp").arg("-r").arg(&premigrated).arg(&store));
    };
    common::succeed(Command::new("cp").arg("-r").arg(&store).arg(&premigrated));
    // Time one final migration, so kill delays are fractions of it whatever
    // this machine's speed.
    let t = std::time::Instant::now();
    common::succeed(
        Command::new(bin)
            .args(["migrate", "--snapshot", &path(&s1), "--store"])
            .arg(&store),
    );
    let full = t.elapsed().as_millis() as u64;
    restore();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut killed, mut attempts, mut scale) = (0, 0, full.max(10));
    while killed < 8 {
        attempts += 1;
        assert!(attempts <= 40, "only {killed} kills in 40 runs");
        seed = fil_migrate::synth::sector_gen::mix(&[seed]);
        let delay = Duration::from_millis(scale / 20 + seed % (scale * 9 / 10).max(1));
        let mut child = Command::new(bin)
            .args([
                "migrate",
                "--checkpoint-every",
                "0.02",
                "--memory-budget",
                "1MiB",
                "--snapshot",
                &path(&s1),
                "--store",
            ])
            .arg(&store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        let disk = DiskStore::open(&store, DiskStoreOptions::default()).unwrap();
        let open = |p: &std::path::Path| {
            fil_migrate::store::CarSource::open(p, Default::default()).unwrap()
        };
        let (car0, car1) = (open(&s0), open(&s1));
        let inputs = Overlay {
            upper: &car1,
            lower: &car0,
        };
        for (_, root) in StoreCache::durable_entries(&disk).unwrap() {
            common::reachable(
                &Overlay {
                    upper: &disk,
                    lower: &inputs,
                },
                &root,
            );
        }
        drop(disk);
        if finished {
            restore();
            scale = (scale * 2 / 3).max(10);
        }
    }
    let out = common::succeed(
        Command::new(bin)
            .args(["migrate", "--verify", "--snapshot", &path(&s1), "--store"])
            .arg(&store),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
}

/// A store whose files were damaged on disk is refused with an error naming
/// it and saying what to do, a non-zero exit and no root on stdout: its
/// contents cannot be trusted, so neither a cache hit nor a fallback is safe.
#[test]
fn a_store_with_damaged_files_is_refused_with_advice() {
    // Flip one byte in every 700 of the segments (where blocks live), past
    // their headers, as a failing disk would.
    damaged_store_is_refused("block-log", |store| {
        flip_bytes_in(&store.join("db").join("segments"))
    });
}

#[test]
fn a_fjall_store_with_damaged_files_is_refused_with_advice() {
    // The same in the blob files of a fjall store.
    damaged_store_is_refused("fjall", |store| {
        let mut damaged = 0;
        for ks in std::fs::read_dir(store.join("db").join("keyspaces")).unwrap() {
            damaged += flip_bytes_in(&ks.unwrap().path().join("blobs"));
        }
        damaged
    });
}

/// Flips one byte in every 700 of each file in `dir`; returns how many.
fn flip_bytes_in(dir: &std::path::Path) -> usize {
    let mut damaged = 0;
    for f in std::fs::read_dir(dir).into_iter().flatten() {
        let path = f.unwrap().path();
        let mut data = std::fs::read(&path).unwrap();
        let end = data.len().saturating_sub(200);
        for i in (64..end).step_by(700) {
            data[i] ^= 0x55;
            damaged += 1;
        }
        std::fs::write(&path, data).unwrap();
    }
    damaged
}

fn damaged_store_is_refused(engine: &str, damage: impl Fn(&std::path::Path) -> usize) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(Network::Mainnet, 2, 3_000, 37);
    let (car, next) = snapshot_cars(dir.path(), &cfg, "0.05");
    let bin = crate::common::bin();
    let store = dir.path().join("store");
    common::succeed(
        Command::new(bin)
            .args(["premigrate", "--store-engine", engine, "--snapshot"])
            .arg(&car)
            .arg("--store")
            .arg(&store),
    );
    let damaged = damage(&store);
    assert!(damaged > 0, "no {engine} file to damage");
    // The successor's changed sectors are diffed against the stored trees.
    let out = Command::new(bin)
        .args(["migrate", "--snapshot"])
        .arg(&next)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a damaged store was used: {err}");
    assert!(
        out.stdout.is_empty(),
        "a root was printed: {:?}",
        out.stdout
    );
    assert!(
        err.contains(store.to_str().unwrap()) && err.contains("damaged"),
        "{err}"
    );
}

/// A cache entry naming a stored AMT that cannot be its input's migration
/// (here it holds one sector info, not the input's 2,000) is not trusted:
/// the result is recomputed and the root is the uncached one.
#[test]
fn a_cache_entry_whose_count_disagrees_with_its_input_is_recomputed() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 2, 2_000, 23));
    let expected = uncached_root(&input, &s0);
    let dir = tempfile::tempdir().unwrap();
    let run = StoreRun::open(dir.path(), true);
    let mut wrong = fvm_ipld_amt::Amt::new_with_bit_width(&run.disk, 5);
    wrong
        .set(7, fvm_ipld_encoding::RawBytes::new(vec![1, 2, 3]))
        .unwrap();
    let wrong = wrong.flush().unwrap();
    run.disk.sync().unwrap();
    let miners = miner_sectors(&input, &s0);
    assert!(miners.len() >= 2);
    for sectors in miners {
        let key = format!("cache/sectorsAmt-{sectors}");
        run.disk
            .put_meta(key.as_bytes(), &wrong.to_bytes())
            .unwrap();
    }
    let out = run.migrate(&input, &s0, &opts()).unwrap();
    assert_eq!(out.state_root, expected);
    assert_eq!(
        out.report.sector_amts_scratch_diff_cache[2], 0,
        "a wrong entry was used"
    );
}
