//! No derived file is used unless it provably belongs to its source: the
//! `.fmidx` of a CARv1, the decompressed copy of a `.car.zst`, the
//! `.fmfidx` of an index-less framed file (tests/forest_car.rs) each name
//! their source by a hash of its content, which a rewrite of the same size
//! and mtime or `cp -p` of another file cannot fool; a user's file beside
//! the source is never read or touched.

use std::path::Path;
use std::time::{Duration, SystemTime};

use cid::Cid;
use fil_migrate::ipld::cids::cbor_cid;
use fil_migrate::store::car_format::{write_header, write_section};
use fil_migrate::store::car_index::CarIndex;
use fil_migrate::store::verified_stamp::{self, RACY_SECS};
use fil_migrate::store::{
    export_car, CarSource, CarSourceOptions, ExportFormat, ExportOptions, IndexOrigin,
};
use fvm_ipld_blockstore::{Blockstore, MemoryBlockstore};

/// Blocks of equal length: `(i, payload)` with `fill` as the payload byte.
fn blocks(n: u8, fill: u8) -> Vec<(Cid, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let data =
                fvm_ipld_encoding::to_vec(&(i, fvm_ipld_encoding::BytesSer(&[fill; 40]))).unwrap();
            (cbor_cid(&data), data)
        })
        .collect()
}

fn car_bytes(root: &Cid, blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, &[*root]).unwrap();
    for (c, d) in blocks {
        write_section(&mut out, c, d).unwrap();
    }
    out
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn set_mtime(p: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Rewrites the CAR at `path` (holding `old`) in place with block 20
/// replaced by another of the same length, the same header and size, and
/// its mtime `t` put back; returns the new blocks.
fn rewrite_block_20(path: &Path, old: &[(Cid, Vec<u8>)], t: SystemTime) -> Vec<(Cid, Vec<u8>)> {
    let mut new = old.to_vec();
    new[20] = blocks(40, 2)[20].clone();
    let bytes = car_bytes(&old[0].0, &new);
    assert_eq!(bytes.len(), std::fs::metadata(path).unwrap().len() as usize);
    std::fs::write(path, &bytes).unwrap();
    set_mtime(path, t);
    new
}

fn open(p: &Path) -> CarSource {
    CarSource::open(p, CarSourceOptions::default()).unwrap()
}

#[test]
fn an_index_of_a_car_rewritten_in_its_middle_at_the_same_size_and_mtime_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.car");
    let old = blocks(40, 1);
    std::fs::write(&path, car_bytes(&old[0].0, &old)).unwrap();
    let t = mtime(&path);
    let car = open(&path);
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    drop(car);
    assert!(CarIndex::path_for(&path).exists());

    let new = rewrite_block_20(&path, &old, t);

    let car = open(&path);
    assert_eq!(
        car.index_origin(),
        IndexOrigin::Built,
        "the stale index was trusted"
    );
    assert_eq!(car.verify_all().unwrap(), 40, "a valid CAR called corrupt");
    assert_eq!(
        car.get(&new[20].0).unwrap().as_deref(),
        Some(&new[20].1[..])
    );
    assert_eq!(car.get(&old[20].0).unwrap(), None);
    drop(car);
    assert_eq!(open(&path).index_origin(), IndexOrigin::Loaded);
}

/// With the content check deferred (what `migrate` does), the stale index
/// is used at first, but only for what it can prove: a block it finds is
/// checked against its CID at its offset and its hash, and a block it no
/// longer finds is a miss, never another block. Settling the check says it
/// was stale and rebuilds it for the next open.
#[test]
fn a_deferred_check_finds_the_stale_index_and_nothing_wrong_is_read_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.car");
    let old = blocks(40, 1);
    std::fs::write(&path, car_bytes(&old[0].0, &old)).unwrap();
    let t = mtime(&path);
    drop(open(&path));
    let new = rewrite_block_20(&path, &old, t);

    let deferred = CarSourceOptions {
        defer_content_check: true,
        ..Default::default()
    };
    let car = CarSource::open(&path, deferred.clone()).unwrap();
    assert_eq!(car.index_origin(), IndexOrigin::Loaded);
    assert_eq!(car.get(&old[5].0).unwrap().as_deref(), Some(&old[5].1[..]));
    // The stale entry points at the new block's bytes: not the old block.
    assert_eq!(car.get(&old[20].0).unwrap(), None);
    assert!(!car.settle_index().unwrap(), "the stale index passed");
    drop(car);
    let car = CarSource::open(&path, deferred).unwrap();
    assert_eq!(
        car.get(&new[20].0).unwrap().as_deref(),
        Some(&new[20].1[..])
    );
    assert!(car.settle_index().unwrap());
    // Unchanged files settle as fresh; a check at open is settled already.
    assert!(open(&path).settle_index().unwrap());
}

/// A full content check of a settled file is stamped, and the next
/// deferred open of the unchanged file hashes nothing; a rewrite of the same
/// length with its mtime put back (which length and mtime alone would miss)
/// moves the change time, so the check runs again and finds the stale index.
#[test]
fn a_stamped_check_is_skipped_for_the_unchanged_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.car");
    let old = blocks(40, 1);
    std::fs::write(&path, car_bytes(&old[0].0, &old)).unwrap();
    let t = mtime(&path);
    // A check within RACY_SECS of the file's last change is not stamped.
    drop(open(&path));
    assert!(!verified_stamp::path_for(&path).exists());
    std::thread::sleep(Duration::from_millis(1000 * RACY_SECS as u64 + 200));
    std::fs::remove_file(CarIndex::path_for(&path)).unwrap();
    drop(open(&path));
    assert!(verified_stamp::path_for(&path).exists());

    let deferred = CarSourceOptions {
        defer_content_check: true,
        ..Default::default()
    };
    let car = CarSource::open(&path, deferred.clone()).unwrap();
    assert_eq!(car.index_origin(), IndexOrigin::Loaded);
    assert!(!car.has_pending_content_check(), "the stamp was not used");
    assert!(car.settle_index().unwrap());
    drop(car);

    rewrite_block_20(&path, &old, t);
    let car = CarSource::open(&path, deferred).unwrap();
    assert!(car.has_pending_content_check(), "a stale stamp was used");
    assert_eq!(car.get(&old[20].0).unwrap(), None);
    assert!(!car.settle_index().unwrap(), "the stale index passed");
}

#[test]
fn cp_p_of_another_car_over_an_indexed_one_rebuilds_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (blocks(30, 3), blocks(30, 4));
    let path = dir.path().join("s.car");
    let other = dir.path().join("other.car");
    std::fs::write(&path, car_bytes(&a[0].0, &a)).unwrap();
    std::fs::write(&other, car_bytes(&b[0].0, &b)).unwrap();
    set_mtime(&other, mtime(&path));
    drop(open(&path));
    std::fs::copy(&other, &path).unwrap();
    set_mtime(&path, mtime(&other));
    let car = open(&path);
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    assert_eq!(car.roots(), &[b[0].0]);
    for (c, d) in &b {
        assert_eq!(car.get(c).unwrap().as_deref(), Some(&d[..]));
    }
}

fn car_zst(path: &Path, blocks: &[(Cid, Vec<u8>)]) {
    let mem = MemoryBlockstore::new();
    for (c, d) in blocks {
        mem.put_keyed(c, d).unwrap();
    }
    // A root whose DAG is every block, so the export writes them all.
    let links: Vec<Cid> = blocks.iter().map(|b| b.0).collect();
    let root_data = fvm_ipld_encoding::to_vec(&links).unwrap();
    let root = cbor_cid(&root_data);
    mem.put_keyed(&root, &root_data).unwrap();
    export_car(
        &mem,
        &[root],
        path,
        &ExportOptions {
            format: ExportFormat::CarZst { level: 3 },
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn a_car_zst_never_uses_or_touches_a_users_sibling_car_and_its_own_copy_must_match_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (blocks(30, 5), blocks(30, 6));
    let zst = dir.path().join("x.car.zst");
    car_zst(&zst, &a);
    // The user's own x.car, of other content and newer than x.car.zst.
    let user = dir.path().join("x.car");
    let user_bytes = car_bytes(&b[0].0, &b);
    std::fs::write(&user, &user_bytes).unwrap();
    set_mtime(&user, mtime(&zst) + Duration::from_secs(60));
    let user_t = mtime(&user);

    let car = open(&zst);
    assert!(car.get(&a[7].0).unwrap().is_some());
    assert!(
        car.get(&b[7].0).unwrap().is_none(),
        "the user's x.car was read"
    );
    let first_root = car.roots()[0];
    drop(car);
    assert_eq!(std::fs::read(&user).unwrap(), user_bytes);
    assert_eq!(mtime(&user), user_t);
    assert!(!dir.path().join("x.car.fmidx").exists());

    // Reused as long as it matches: no new copy.
    let copy = fil_migrate::store::zstd_car::copy_path(&zst);
    let copy_t = mtime(&copy);
    assert_eq!(open(&zst).roots(), &[first_root]);
    assert_eq!(mtime(&copy), copy_t, "a valid copy was made again");

    // `cp -p` of another state's .car.zst over it: the copy is remade.
    let other = dir.path().join("other.car.zst");
    car_zst(&other, &b);
    set_mtime(&other, mtime(&zst));
    std::fs::copy(&other, &zst).unwrap();
    set_mtime(&zst, mtime(&other));
    let car = open(&zst);
    assert_ne!(car.roots(), &[first_root]);
    assert!(car.get(&b[7].0).unwrap().is_some());
    assert!(car.get(&a[7].0).unwrap().is_none());
    let second_root = car.roots()[0];
    drop(car);

    // Our copy replaced by another file (here: the user's CAR): remade.
    std::fs::copy(&user, &copy).unwrap();
    let car = open(&zst);
    assert_eq!(car.roots(), &[second_root]);
    assert!(car.get(&b[7].0).unwrap().is_some());
}

/// `migrate` opens a snapshot on its index and checks the content beside
/// the run. A CAR rewritten with the same blocks in another order (same
/// size, header and mtime) leaves every entry of the old index pointing at
/// another section: the first run fails on blocks it cannot find, the
/// stale index is found and rebuilt, and the run goes again to the root
/// the original file gives.
#[test]
fn migrate_on_a_reordered_car_with_a_stale_index_runs_again_and_gives_the_right_root() {
    use crate::common::states::small_config;
    use fil_migrate::actors::manifest::Network;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.car");
    fil_migrate::synth::generate_car(&path, &small_config(Network::Mainnet, 2, 40, 3), 1 << 20)
        .unwrap();
    let migrate = |p: &Path| {
        std::process::Command::new(crate::common::bin())
            .args(["migrate", "--snapshot", p.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = migrate(&path);
    assert!(first.status.success());
    let root = String::from_utf8_lossy(&first.stdout).trim().to_string();

    // The same sections, last first.
    let t = mtime(&path);
    let car = open(&path);
    let index = car.car_index().unwrap();
    let mut locs: Vec<_> = index.sections().collect();
    locs.sort_unstable_by_key(|l| std::cmp::Reverse(l.offset));
    let bytes = std::fs::read(&path).unwrap();
    let mut sections = Vec::new();
    for l in &locs {
        let s = &bytes[l.offset as usize..(l.offset + u64::from(l.len)) as usize];
        let cid = Cid::read_bytes(s).unwrap();
        sections.push((cid, s[cid.encoded_len()..].to_vec()));
    }
    let roots = car.roots().to_vec();
    drop(car);
    let mut out = Vec::new();
    write_header(&mut out, &roots).unwrap();
    for (c, d) in &sections {
        write_section(&mut out, c, d).unwrap();
    }
    assert_eq!(out.len(), bytes.len());
    std::fs::write(&path, &out).unwrap();
    set_mtime(&path, t);

    let again = migrate(&path);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("its index is rebuilt: running again"), "{err}");
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), root);
    assert_eq!(open(&path).index_origin(), IndexOrigin::Loaded);
}
