//! Garbage collection of a store: after premigrate + migrate + gc the store
//! holds the live output only (≤ 1.1× its bytes), keeps the cache entries and
//! diff bases a later run needs, refuses roots it does not hold, and the CLI
//! does the same.

use crate::common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;

use cid::Cid;
use common::states::{generate, small_config, successor};
use common::store_runs::{opts, uncached_root as uncached, StoreRun};
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::actors_tree::TreePath;
use fil_migrate::migration::store_run::retain_into;
use fil_migrate::migration::{collect_garbage, GcOptions, MigrationOutcome, StoreCache};
use fil_migrate::store::{DiskStore, DiskStoreOptions, MemStore, Overlay};

/// One run on the store in `dir`, keeping each miner's input tree if `retain`.
fn run(dir: &std::path::Path, input: &Arc<MemStore>, root: &Cid, retain: bool) -> MigrationOutcome {
    let store = StoreRun::open(dir, retain);
    let mut opts = opts();
    if retain {
        opts.retain_inputs = Some(retain_into(input.clone(), &store.disk));
    }
    let out = store.migrate(input, root, &opts).unwrap();
    store.disk.settle().unwrap();
    out
}

fn stored_blocks(disk: &DiskStore) -> HashSet<Cid> {
    let mut all = HashSet::new();
    disk.for_each_cid(|c| {
        all.insert(c);
        Ok(())
    })
    .unwrap();
    all
}

#[test]
fn after_premigrate_migrate_and_gc_the_store_is_the_live_output_and_still_serves_it() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 3, 30_000, 31));
    let s1 = successor(&input, &s0, 1);
    let input = Arc::new(input);
    let expected = uncached(&input, &s1);
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &input, &s0, true);
    let r1 = run(dir.path(), &input, &s1, false).state_root;
    assert_eq!(r1, expected);

    let report = collect_garbage(
        dir.path(),
        &[r1],
        &GcOptions {
            keep_diff_bases: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(report.reclaimed_bytes() > 0, "{report:?}");
    assert_eq!(report.diff_base_blocks, 0, "the final run kept no inputs");
    assert_store_is_the_live_output(&report);

    // Exactly the blocks of the migrated state that the store held remain.
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    let all = stored_blocks(&disk);
    assert_eq!(all.len() as u64, report.live_blocks);
    let both = Overlay {
        upper: &disk,
        lower: &*input,
    };
    let live: HashSet<Cid> = common::reachable(&both, &r1).into_iter().collect();
    assert!(all.is_subset(&live));
    for (k, root) in StoreCache::durable_entries(&disk).unwrap() {
        // Content-addressed results of the kept state: its sectors AMTs,
        // its actors tree, its miners' heads.
        let current =
            k.starts_with("sectorsAmt-") || k.starts_with("actorsTree-") || k.contains("-head-");
        assert!(current, "superseded entry kept: {k}");
        common::reachable(&both, &root);
    }
    drop(disk);

    // The kept entries still answer the same migration: the whole actors
    // tree is a cache hit, no actor or sector is migrated again.
    let again = run(dir.path(), &input, &s1, false);
    assert_eq!(again.state_root, expected);
    assert_eq!(again.report.actors_tree, Some(TreePath::Cached));
    assert_eq!(again.report.actors, 0);
    assert_eq!(again.report.sectors_transformed(), 0);
}

#[test]
fn gc_keeps_one_diff_base_per_miner_for_the_next_premigration() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 3, 20_000, 32));
    let s1 = successor(&input, &s0, 2);
    let s2 = successor(&input, &s1, 3);
    let input = Arc::new(input);
    let expected = uncached(&input, &s2);
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &input, &s0, true);
    let r1 = run(dir.path(), &input, &s1, true).state_root;
    let before = {
        let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
        stored_blocks(&disk).len() as u64
    };

    let report = collect_garbage(
        dir.path(),
        &[r1],
        &GcOptions {
            keep_diff_bases: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(report.diff_base_blocks > 0, "{report:?}");
    assert!(report.entries_dropped > 0, "s0's results are superseded");
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    let after = stored_blocks(&disk).len() as u64;
    assert_eq!(after, report.live_blocks + report.diff_base_blocks);
    assert!(after < before, "s0's trees are gone: {after} of {before}");
    let bases: Vec<_> = StoreCache::durable_entries(&disk)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.starts_with("prevSectorsIn-"))
        .collect();
    assert!(bases.len() >= 3, "one diff base per miner: {bases:?}");
    for (_, root) in &bases {
        common::reachable(&disk, root);
    }
    drop(disk);

    let out = run(dir.path(), &input, &s2, false);
    assert_eq!(out.state_root, expected);
    assert!(out.report.sectors_via_diff > 0);
}

#[test]
fn gc_refuses_a_root_the_store_does_not_hold_and_changes_nothing() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 1, 2_000, 33));
    let input = Arc::new(input);
    let dir = tempfile::tempdir().unwrap();
    let r0 = run(dir.path(), &input, &s0, true).state_root;
    let (blocks, entries) = {
        let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
        (
            stored_blocks(&disk),
            StoreCache::durable_entries(&disk).unwrap(),
        )
    };
    let absent = fil_migrate::ipld::cids::cbor_cid(b"not in this store");
    let err = collect_garbage(
        dir.path(),
        &[r0, absent],
        &GcOptions {
            keep_diff_bases: true,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&absent.to_string()), "{err}");
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    assert_eq!(stored_blocks(&disk), blocks);
    assert_eq!(StoreCache::durable_entries(&disk).unwrap(), entries);
}

#[test]
fn cli_premigrate_migrate_gc_status() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(Network::Mainnet, 2, 8_000, 34);
    let (s0, s1) = common::states::snapshot_cars(dir.path(), &cfg, "0.01");
    let bin = crate::common::bin();
    let cli = |args: &[&str]| {
        let out = common::succeed(Command::new(bin).args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let store = p(&dir.path().join("store"));
    let r0 = cli(&["premigrate", "--snapshot", &p(&s0), "--store", &store]);
    let r0 = r0.lines().last().unwrap().to_string();
    // Between premigrations the diff bases can be kept; the final run uses them.
    cli(&["gc", "--store", &store, "--keep", &r0, "--keep-diff-bases"]);
    let status = cli(&["status", "--store", &store]);
    assert!(status.contains("prevSectorsIn-"), "{status}");
    let root = cli(&["migrate", "--snapshot", &p(&s1), "--store", &store]);
    let gc = cli(&["gc", "--store", &store, "--keep", &root]);
    assert!(gc.contains("reclaimed"), "{gc}");
    let status = cli(&["status", "--store", &store]);
    assert!(status.contains("sectorsAmt-"), "{status}");
    assert!(!status.contains("prevSectorsIn-"), "{status}");
    // A bad root is an error naming it, with a non-zero exit.
    let out = Command::new(bin)
        .args(["gc", "--store", &store, "--keep", "not-a-cid"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-a-cid"));
    assert_eq!(
        cli(&["migrate", "--snapshot", &p(&s1), "--store", &store]),
        root
    );
}

/// `gc` keeps the store's own engine unless `--store-engine` names the
/// other, and the converted store still serves the kept root.
#[test]
fn cli_gc_keeps_the_stores_engine_unless_asked_to_convert() {
    use fil_migrate::store::StoreEngine;
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(Network::Mainnet, 2, 3_000, 35);
    let (s0, _) = common::states::snapshot_cars(dir.path(), &cfg, "0.01");
    let bin = crate::common::bin();
    let cli = |args: &[&str]| {
        let out = common::succeed(Command::new(bin).args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let s0 = s0.to_str().unwrap();
    let store = dir.path().join("store");
    let st = store.to_str().unwrap();
    let premigrated = cli(&[
        "premigrate",
        "--store-engine",
        "fjall",
        "--snapshot",
        s0,
        "--store",
        st,
    ]);
    let root = premigrated.lines().last().unwrap().to_string();
    assert_eq!(DiskStore::engine_of(&store), Some(StoreEngine::Fjall));
    cli(&["gc", "--store", st, "--keep", &root]);
    assert_eq!(DiskStore::engine_of(&store), Some(StoreEngine::Fjall));
    cli(&[
        "gc",
        "--store",
        st,
        "--keep",
        &root,
        "--store-engine",
        "block-log",
    ]);
    assert_eq!(DiskStore::engine_of(&store), Some(StoreEngine::BlockLog));
    let disk = DiskStore::open(&store, DiskStoreOptions::default()).unwrap();
    assert!(disk.has_block(&root.parse::<Cid>().unwrap()).unwrap());
}

/// A node collecting its store through the library with default options
/// keeps the store's engine: only `convert_to` converts.
#[test]
fn library_gc_with_default_options_keeps_a_fjall_store_fjall() {
    use fil_migrate::store::StoreEngine;
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let disk = DiskStore::open(
            dir.path(),
            DiskStoreOptions {
                engine: StoreEngine::Fjall,
                ..Default::default()
            },
        )
        .unwrap();
        let root = fil_migrate::ipld::cids::cbor_cid(b"\x81\x01");
        disk.put_batch([(&root, &b"\x81\x01"[..])]).unwrap();
        disk.sync().unwrap();
        assert_eq!(disk.engine(), StoreEngine::Fjall);
        root
    };
    collect_garbage(dir.path(), &[root], &GcOptions::default()).unwrap();
    assert_eq!(DiskStore::engine_of(dir.path()), Some(StoreEngine::Fjall));
    let opts = GcOptions {
        convert_to: Some(StoreEngine::BlockLog),
        ..Default::default()
    };
    collect_garbage(dir.path(), &[root], &opts).unwrap();
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    assert_eq!(disk.engine(), StoreEngine::BlockLog);
    assert!(disk.has_block(&root).unwrap());
}

#[test]
fn a_final_run_that_keeps_no_inputs_leaves_only_durable_entries() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 2, 6_000, 35));
    let s1 = successor(&input, &s0, 4);
    let input = Arc::new(input);
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &input, &s0, true);
    let pairs = |dir: &std::path::Path| {
        let disk = DiskStore::open(dir, DiskStoreOptions::default()).unwrap();
        let e: Vec<(String, Cid)> = StoreCache::durable_entries(&disk)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with("prevSectors"))
            .collect();
        for (k, root) in &e {
            assert!(
                disk.has_block(root).unwrap(),
                "{k} names {root}, not in the store"
            );
        }
        e
    };
    let before = pairs(dir.path());
    assert_eq!(before.len(), 4, "two miners, an in/out pair each");
    let out = run(dir.path(), &input, &s1, false);
    assert_eq!(out.state_root, uncached(&input, &s1));
    let mut after = pairs(dir.path());
    let mut before = before;
    after.sort();
    before.sort();
    assert_eq!(after, before, "the premigration's durable pairs stay");
}

/// Diff bases are kept only on request: by default the store after gc holds
/// the live output and nothing else, even where the previous output is still
/// reachable (here the kept root *is* the premigration's, as a deadline
/// snapshot equal to the previous sectors AMT makes it on mainnet-like churn).
#[test]
fn gc_drops_diff_bases_unless_asked_so_the_store_is_the_live_output() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 2, 20_000, 38));
    let input = Arc::new(input);
    let dir = tempfile::tempdir().unwrap();
    let r0 = run(dir.path(), &input, &s0, true).state_root;
    let report = collect_garbage(
        dir.path(),
        &[r0],
        &GcOptions {
            keep_diff_bases: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.diff_base_blocks, 0, "{report:?}");
    assert_store_is_the_live_output(&report);
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    let entries = StoreCache::durable_entries(&disk).unwrap();
    assert!(
        entries.iter().all(|(k, _)| !k.starts_with("prevSectors")),
        "{entries:?}"
    );
    drop(disk);

    // The same store collected with diff bases keeps one per miner.
    let dir = tempfile::tempdir().unwrap();
    let r0 = run(dir.path(), &input, &s0, true).state_root;
    let report = collect_garbage(
        dir.path(),
        &[r0],
        &GcOptions {
            keep_diff_bases: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(report.diff_base_blocks > 0, "{report:?}");
}

/// Issue 6's bound: after gc the store is at most 1.1x the live output.
fn assert_store_is_the_live_output(report: &fil_migrate::migration::GcReport) {
    assert!(
        report.disk_bytes_after as f64 <= 1.1 * report.live_bytes as f64,
        "store {} bytes for {} live bytes",
        report.disk_bytes_after,
        report.live_bytes
    );
}
