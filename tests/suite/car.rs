//! CAR source, index persistence, exporter, interop with fvm_ipld_car, and bad input.

use crate::common;

use std::io::Write;
use std::path::Path;

use cid::Cid;
use common::node;
use fil_migrate::store::{
    export_car, CarSource, CarSourceOptions, ExportFormat, ExportOptions, IndexOrigin,
};
use fil_migrate::Error;
use fvm_ipld_blockstore::{Blockstore, MemoryBlockstore};
use fvm_ipld_car::{CarHeader, CarReader, CarWriter};

/// A small DAG: a root over 3 levels of 4 children, with a shared leaf.
fn sample_dag(store: &impl Blockstore) -> (Cid, Vec<(Cid, Vec<u8>)>) {
    let mut all = Vec::new();
    let (shared, d) = node(999, &[], 50);
    store.put_keyed(&shared, &d).unwrap();
    all.push((shared, d));
    let mut level: Vec<Cid> = Vec::new();
    for i in 0..16u64 {
        let (c, d) = node(i, &[shared], 100 + i as usize);
        store.put_keyed(&c, &d).unwrap();
        all.push((c, d));
        level.push(c);
    }
    let mut mids = Vec::new();
    for (j, chunk) in level.chunks(4).enumerate() {
        let (c, d) = node(100 + j as u64, chunk, 10);
        store.put_keyed(&c, &d).unwrap();
        all.push((c, d));
        mids.push(c);
    }
    let (root, d) = node(1000, &mids, 10);
    store.put_keyed(&root, &d).unwrap();
    all.push((root, d));
    (root, all)
}

fn write_with_fvm_ipld_car(path: &Path, roots: Vec<Cid>, blocks: &[(Cid, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = CarWriter::new(CarHeader::new(roots, 1), f).unwrap();
    for (cid, data) in blocks {
        w.write(fvm_ipld_car::Block {
            cid: *cid,
            data: data.clone(),
        })
        .unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn a_car_written_by_fvm_ipld_car_reads_back_block_for_block() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let path = dir.path().join("x.car");
    write_with_fvm_ipld_car(&path, vec![root], &blocks);

    let car = CarSource::open(&path, CarSourceOptions::default()).unwrap();
    assert_eq!(car.roots(), &[root]);
    assert_eq!(car.block_count().unwrap() as usize, blocks.len());
    for (cid, data) in &blocks {
        assert_eq!(car.get(cid).unwrap().as_ref(), Some(data));
        assert!(car.has(cid).unwrap());
    }
    let (absent, _) = node(4242, &[], 1);
    assert_eq!(car.get(&absent).unwrap(), None);
    assert_eq!(car.verify_all().unwrap(), blocks.len() as u64);
}

#[test]
fn our_export_reads_back_with_fvm_ipld_car_in_depth_first_order() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let out = dir.path().join("out.car");
    let s = export_car(&mem, &[root], &out, &ExportOptions::default()).unwrap();
    assert_eq!(s.blocks, blocks.len() as u64);
    assert_eq!(s.car_bytes, std::fs::metadata(&out).unwrap().len());

    let mut reader = CarReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(reader.header.roots, vec![root]);
    let mut order = Vec::new();
    for b in reader.by_ref() {
        let b = b.unwrap();
        assert_eq!(mem.get(&b.cid).unwrap().unwrap(), b.data);
        order.push(b.cid);
    }
    assert_eq!(order.len(), blocks.len());
    // Pre-order DFS: root, first mid, its first leaf, the shared leaf, …
    let root_links =
        fil_migrate::ipld::links::links_of(&root, &mem.get(&root).unwrap().unwrap()).unwrap();
    assert_eq!(order[0], root);
    assert_eq!(order[1], root_links[0]);
    assert_eq!(
        order[3], blocks[0].0,
        "shared leaf comes right after its first parent"
    );
}

#[test]
fn zstd_export_round_trips_through_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let out = dir.path().join("out.car.zst");
    export_car(
        &mem,
        &[root],
        &out,
        &ExportOptions {
            format: ExportFormat::CarZst { level: 3 },
            ..Default::default()
        },
    )
    .unwrap();
    let car = CarSource::open(&out, CarSourceOptions::default()).unwrap();
    assert_eq!(car.path(), dir.path().join("out.car.zst.fmcar"));
    for (cid, data) in &blocks {
        assert_eq!(car.get(cid).unwrap().as_ref(), Some(data));
    }
}

#[test]
fn the_index_is_persisted_reused_and_rebuilt_when_stale_or_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let path = dir.path().join("x.car");
    write_with_fvm_ipld_car(&path, vec![root], &blocks);
    let idx = dir.path().join("x.car.fmidx");

    assert_eq!(
        CarSource::open(&path, Default::default())
            .unwrap()
            .index_origin(),
        IndexOrigin::Built
    );
    assert!(idx.exists());
    assert_eq!(
        CarSource::open(&path, Default::default())
            .unwrap()
            .index_origin(),
        IndexOrigin::Loaded
    );

    // Corrupt index: detected by its checksum and rebuilt.
    let mut bytes = std::fs::read(&idx).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&idx, &bytes).unwrap();
    let car = CarSource::open(&path, Default::default()).unwrap();
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    assert_eq!(
        car.get(&root).unwrap().unwrap(),
        mem.get(&root).unwrap().unwrap()
    );

    // The CAR is replaced by another one: the old index is stale.
    write_with_fvm_ipld_car(&path, vec![root], &blocks[blocks.len() - 1..]);
    let car = CarSource::open(&path, Default::default()).unwrap();
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    assert_eq!(car.block_count().unwrap() as usize, 1);

    // A foreign file in place of the index.
    std::fs::write(&idx, b"not an index at all").unwrap();
    assert_eq!(
        CarSource::open(&path, Default::default())
            .unwrap()
            .index_origin(),
        IndexOrigin::Built
    );
}

fn car_bytes(blocks: &[(Cid, Vec<u8>)], root: Cid) -> Vec<u8> {
    let mut v = Vec::new();
    fil_migrate::store::car_format::write_header(&mut v, &[root]).unwrap();
    for (c, d) in blocks {
        fil_migrate::store::car_format::write_section(&mut v, c, d).unwrap();
    }
    v
}

fn open_err(bytes: &[u8]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.car");
    std::fs::write(&p, bytes).unwrap();
    CarSource::open(
        &p,
        CarSourceOptions {
            persist_index: false,
            ..Default::default()
        },
    )
    .expect_err("open must fail")
}

#[test]
fn a_truncated_car_is_reported_with_the_offset_of_the_broken_section() {
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let bytes = car_bytes(&blocks, root);
    let cut = bytes.len() - 5;
    match open_err(&bytes[..cut]) {
        Error::Car { offset, reason, .. } => {
            assert!(reason.contains("truncated"), "{reason}");
            let last_len = blocks.last().unwrap().1.len() + root.to_bytes().len();
            let last_start = bytes.len() - last_len - unsigned_varint_len(last_len as u64);
            assert_eq!(offset, last_start as u64);
        }
        e => panic!("unexpected {e}"),
    }
}

fn unsigned_varint_len(v: u64) -> usize {
    let mut b = unsigned_varint::encode::u64_buffer();
    unsigned_varint::encode::u64(v, &mut b).len()
}

#[test]
fn bad_varints_non_car_files_and_carv2_are_clear_errors() {
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let mut bytes = car_bytes(&blocks[..1], root);
    bytes.extend_from_slice(&[0xff; 12]);
    let e = open_err(&bytes).to_string();
    assert!(e.contains("varint"), "{e}");

    let e = open_err(b"hello, this is plainly not a CAR file").to_string();
    assert!(e.contains("not a CAR") || e.contains("header"), "{e}");

    let carv2_pragma = [
        0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02,
    ];
    let e = open_err(&carv2_pragma).to_string();
    assert!(e.contains("CARv2"), "{e}");

    let e = open_err(b"").to_string();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn a_block_whose_bytes_do_not_match_its_cid_is_rejected_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let (c1, d1) = node(1, &[], 20);
    let (_, d2) = node(2, &[], 20);
    let p = dir.path().join("x.car");
    std::fs::write(&p, car_bytes(&[(c1, d2)], c1)).unwrap();
    let car = CarSource::open(&p, Default::default()).unwrap();
    match car.read(&c1) {
        Err(Error::HashMismatch {
            cid,
            offset: Some(_),
        }) => assert_eq!(cid, c1),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    car.set_verify_hashes(false);
    assert_ne!(car.read(&c1).unwrap().unwrap(), d1);
}

#[test]
fn export_with_a_missing_block_fails_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (missing, _) = node(1, &[], 10);
    let (root, d) = node(2, &[missing], 10);
    mem.put_keyed(&root, &d).unwrap();
    let out = dir.path().join("out.car");
    match export_car(&mem, &[root], &out, &ExportOptions::default()) {
        Err(Error::MissingBlock { cid, parent }) => {
            assert_eq!(cid, missing);
            assert_eq!(parent, Some(root));
        }
        other => panic!("expected MissingBlock, got {other:?}"),
    }
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn the_seen_set_spills_to_disk_and_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemoryBlockstore::new();
    let (root, blocks) = sample_dag(&mem);
    let out = dir.path().join("spill.car");
    let s = export_car(
        &mem,
        &[root],
        &out,
        &ExportOptions {
            seen_memory_entries: 4,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(s.seen_set_spilled);
    assert_eq!(s.blocks, blocks.len() as u64);
}

#[test]
fn cli_reports_bad_input_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.car");
    let mut f = std::fs::File::create(&bad).unwrap();
    f.write_all(b"garbage garbage garbage").unwrap();
    let out = std::process::Command::new(crate::common::bin())
        .args(["car", "export", "--from"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("o.car"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.car") && err.contains("offset"), "{err}");
    assert!(!dir.path().join("o.car").exists());
}

/// `fil-migrate status --store DIR | head -1`: the reader goes away before
/// the output is written. The tool dies of SIGPIPE like any command-line
/// tool, with no panic message (it used to panic in `println!`).
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    drop(
        fil_migrate::store::DiskStore::open(
            dir.path().join("store"),
            fil_migrate::store::DiskStoreOptions::default(),
        )
        .unwrap(),
    );
    let mut child = std::process::Command::new(crate::common::bin())
        .args(["status", "--store"])
        .arg(dir.path().join("store"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "killed by SIGPIPE: {:?} {err}",
        out.status
    );
}
