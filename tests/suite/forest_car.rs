//! `.forest.car.zst` in and out: files from our writer and from a writer
//! following the node's conventions (streaming zstd frames cut at 8 KiB
//! compressed, the index laid out by code written here from the format's
//! description) read back block for block; lookups decompress only their
//! frame; damage names the frame or index offset; index-less multi-frame
//! files get a sidecar; single streams and frames cutting sections are
//! decompressed once.

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

use cid::Cid;
use common::states::{generate, small_config};
use fil_migrate::actors::manifest::Network;
use fil_migrate::store::forest::index_build::IndexBuilder;
use fil_migrate::store::forest::index_reader::MAP_AFTER_PAGES;
use fil_migrate::store::{
    export_car, CarSource, CarSourceOptions, ExportFormat, ExportOptions, IndexOrigin,
};
use fvm_ipld_blockstore::Blockstore;

/// Every block of a generated state, in export order.
fn state_blocks() -> (Cid, Vec<(Cid, Vec<u8>)>) {
    let (mem, root) = generate(&small_config(Network::Mainnet, 3, 3000, 7));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("s.car");
    export_car(&mem, &[root], &plain, &ExportOptions::default()).unwrap();
    let mut r = fvm_ipld_car::CarReader::new(std::fs::File::open(&plain).unwrap()).unwrap();
    let blocks = r
        .by_ref()
        .map(|b| b.unwrap())
        .map(|b| (b.cid, b.data))
        .collect();
    (root, blocks)
}

/// The node's 64-bit key of a CID, computed here from the format's text:
/// codec XOR multihash code XOR each whole little-endian 8-byte word of the
/// digest, minus one (saturating).
fn node_hash(cid: &Cid) -> u64 {
    let mut h = cid.codec() ^ cid.hash().code();
    let d = cid.hash().digest();
    let mut i = 0;
    while i + 8 <= d.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&d[i..i + 8]);
        h ^= u64::from_le_bytes(w);
        i += 8;
    }
    h.saturating_sub(1)
}

/// The node's index bytes for `entries` (version, header, slots), built
/// slot by slot: each entry goes at its ideal bucket or the next free slot.
fn node_index(mut entries: Vec<(u64, u64)>) -> Vec<u8> {
    entries.sort();
    entries.dedup();
    let n = entries.len() as u64;
    let buckets = std::cmp::max((n as f64 / 0.8) as u64, n);
    let mut table: Vec<(u64, u64)> = Vec::new();
    let mut longest = 0;
    for &(h, o) in &entries {
        let ideal = ((h as u128 * buckets as u128) >> 64) as usize;
        while table.len() < ideal {
            table.push((u64::MAX, u64::MAX));
        }
        longest = longest.max(table.len() - ideal);
        table.push((h, o));
    }
    while table.len() < buckets as usize {
        table.push((u64::MAX, u64::MAX));
    }
    table.push((u64::MAX, u64::MAX));
    let collisions = entries.windows(2).filter(|w| w[0].0 == w[1].0).count() as u64;
    let mut out = Vec::new();
    for w in [0xdeadbeef_u64 + 1, longest as u64, collisions, buckets] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (h, o) in table {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&o.to_le_bytes());
    }
    out
}

fn varint(v: u64) -> Vec<u8> {
    let mut b = unsigned_varint::encode::u64_buffer();
    unsigned_varint::encode::u64(v, &mut b).to_vec()
}

/// A `.forest.car.zst` written the node's way: the header alone in a
/// streaming zstd frame, then blocks through a streaming encoder flushed
/// after each, the frame finished once it passes 8 KiB compressed; the
/// index in one skippable frame; the footer.
fn write_node_style(path: &Path, roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<(u64, u64)> {
    let header = car_header(roots);
    let mut file = Vec::new();
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&varint(header.len() as u64)).unwrap();
    enc.write_all(&header).unwrap();
    file.extend(enc.finish().unwrap());
    let mut entries = Vec::new();
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    let mut pending = Vec::new();
    for (i, (cid, data)) in blocks.iter().enumerate() {
        let c = cid.to_bytes();
        enc.write_all(&varint((c.len() + data.len()) as u64))
            .unwrap();
        enc.write_all(&c).unwrap();
        enc.write_all(data).unwrap();
        enc.flush().unwrap();
        pending.push(node_hash(cid));
        if enc.get_ref().len() > 8192 || i + 1 == blocks.len() {
            let offset = file.len() as u64;
            entries.extend(pending.drain(..).map(|h| (h, offset)));
            let done =
                std::mem::replace(&mut enc, zstd::stream::Encoder::new(Vec::new(), 3).unwrap());
            file.extend(done.finish().unwrap());
        }
    }
    let index_at = file.len() as u64;
    let index = node_index(entries.clone());
    file.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18]);
    file.extend_from_slice(&(index.len() as u32).to_le_bytes());
    file.extend(index);
    file.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 8, 0, 0, 0]);
    file.extend_from_slice(&(index_at + 8).to_le_bytes());
    std::fs::write(path, file).unwrap();
    entries
}

/// The DAG-CBOR CARv1 header `{roots, version: 1}`, as fvm_ipld_car's
/// type encodes it.
fn car_header(roots: &[Cid]) -> Vec<u8> {
    let h = fvm_ipld_car::CarHeader::new(roots.to_vec(), 1);
    fvm_ipld_encoding::to_vec(&h).unwrap()
}

/// Each zstd frame's offset and the CIDs it holds, found by walking the
/// file with zstd's own frame-size function.
fn frames_of(path: &Path) -> Vec<(u64, Vec<Cid>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut out = Vec::new();
    while at < bytes.len() {
        if bytes[at + 1..at + 4] == [0x2A, 0x4D, 0x18] && bytes[at] & 0xF0 == 0x50 {
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            at += 8 + len;
            continue;
        }
        let n = zstd::zstd_safe::find_frame_compressed_size(&bytes[at..]).unwrap();
        let data = zstd::stream::decode_all(&bytes[at..at + n]).unwrap();
        let mut r = &data[..];
        let mut cids = Vec::new();
        if at == 0 {
            let (len, rest) = unsigned_varint::decode::u64(r).unwrap();
            r = &rest[len as usize..];
        }
        while !r.is_empty() {
            let (len, rest) = unsigned_varint::decode::u64(r).unwrap();
            cids.push(Cid::read_bytes(&rest[..len as usize]).unwrap());
            r = &rest[len as usize..];
        }
        out.push((at as u64, cids));
        at += n;
    }
    out
}

fn open(path: &Path, cache: usize) -> CarSource {
    CarSource::open(
        path,
        CarSourceOptions {
            frame_cache_bytes: cache,
            ..Default::default()
        },
    )
    .unwrap()
}

fn assert_all_blocks(car: &CarSource, blocks: &[(Cid, Vec<u8>)]) {
    for (cid, data) in blocks {
        assert_eq!(car.get(cid).unwrap().as_ref(), Some(data), "block {cid}");
        assert!(car.has(cid).unwrap());
    }
    let (absent, _) = common::node(4242, &[], 1);
    assert_eq!(car.get(&absent).unwrap(), None);
}

fn export_forest(root: &Cid, blocks: &[(Cid, Vec<u8>)], path: &Path, frame_bytes: usize) {
    let mem = fvm_ipld_blockstore::MemoryBlockstore::new();
    for (c, d) in blocks {
        mem.put_keyed(c, d).unwrap();
    }
    export_car(
        &mem,
        &[*root],
        path,
        &ExportOptions {
            format: ExportFormat::ForestCarZst {
                level: 3,
                frame_bytes,
            },
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn our_forest_car_reads_back_block_for_block_and_decompresses_to_our_car() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 16 << 10);
    let car = open(&path, 1 << 20);
    assert_eq!(car.index_origin(), IndexOrigin::Embedded);
    assert_eq!(car.roots(), &[root]);
    assert_eq!(car.block_count().unwrap(), blocks.len() as u64);
    assert!(frames_of(&path).len() > 10, "several frames");
    assert_all_blocks(&car, &blocks);
    assert_eq!(car.verify_all().unwrap(), blocks.len() as u64);
    // Any zstd reader sees a plain CARv1 (the index frames are skippable),
    // and fvm_ipld_car reads it in the same order.
    let plain = zstd::stream::decode_all(std::fs::File::open(&path).unwrap()).unwrap();
    let mut r = fvm_ipld_car::CarReader::new(&plain[..]).unwrap();
    assert_eq!(r.header.roots, vec![root]);
    let read: Vec<_> = r
        .by_ref()
        .map(|b| b.unwrap())
        .map(|b| (b.cid, b.data))
        .collect();
    assert_eq!(read, blocks);
}

#[test]
fn a_node_style_file_reads_back_and_our_index_is_byte_for_byte_the_nodes() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.forest.car.zst");
    let entries = write_node_style(&path, &[root], &blocks);
    let car = open(&path, 1 << 20);
    assert_eq!(car.index_origin(), IndexOrigin::Embedded);
    assert_eq!(car.roots(), &[root]);
    assert_all_blocks(&car, &blocks);
    assert_eq!(car.verify_all().unwrap(), blocks.len() as u64);

    // Our builder lays the same entries out identically, spilled or not.
    let expected = node_index(entries.clone());
    for memory_entries in [usize::MAX, 7] {
        let mut b = IndexBuilder::new(dir.path(), memory_entries);
        for &(h, o) in entries.iter().rev() {
            b.push(h, o).unwrap();
        }
        assert_eq!(b.spilled(), memory_entries == 7);
        let mut out = Vec::new();
        b.write_frames(&mut out, &path).unwrap();
        assert_eq!(&out[..4], &[0x50, 0x2A, 0x4D, 0x18]);
        assert_eq!(out[8..], expected[..], "memory_entries {memory_entries}");
    }
    // And the library's key is the node's.
    for (cid, _) in &blocks {
        assert_eq!(
            fil_migrate::store::forest::format::hash_of(cid),
            node_hash(cid)
        );
    }
}

#[test]
fn a_lookup_decompresses_only_the_frame_holding_its_block() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 8 << 10);
    let frames: Vec<_> = frames_of(&path)
        .into_iter()
        .filter(|f| f.1.len() >= 2)
        .collect();
    assert!(frames.len() >= 3);
    let car = open(&path, 64 << 20);
    let stats = || {
        let s = car.frame_stats().unwrap();
        (
            s.decompressed.load(Ordering::Relaxed),
            s.hits.load(Ordering::Relaxed),
        )
    };
    let (base_d, base_h) = stats();
    let (f1, f2) = (&frames[1].1, &frames[2].1);
    car.get(&f1[0]).unwrap().unwrap();
    assert_eq!(stats(), (base_d + 1, base_h));
    car.get(&f1[1]).unwrap().unwrap();
    assert_eq!(
        stats(),
        (base_d + 1, base_h + 1),
        "same frame: from the cache"
    );
    car.get(&f2[0]).unwrap().unwrap();
    assert_eq!(stats(), (base_d + 2, base_h + 1));

    // With no cache, every random get decompresses exactly one frame.
    let car = open(&path, 0);
    let by_cid: HashMap<Cid, u64> = frames_of(&path)
        .into_iter()
        .flat_map(|(o, cids)| cids.into_iter().map(move |c| (c, o)))
        .collect();
    let before = car
        .frame_stats()
        .unwrap()
        .decompressed
        .load(Ordering::Relaxed);
    let picks: Vec<_> = blocks.iter().step_by(37).collect();
    for (cid, data) in &picks {
        assert!(by_cid.contains_key(cid));
        assert_eq!(car.get(cid).unwrap().as_ref(), Some(data));
    }
    let after = car
        .frame_stats()
        .unwrap()
        .decompressed
        .load(Ordering::Relaxed);
    assert_eq!(after - before, picks.len() as u64);
}

/// The frame holding `cid` and the file's bytes.
fn frame_of(path: &Path, cid: &Cid) -> u64 {
    frames_of(path)
        .into_iter()
        .find(|(_, cids)| cids.contains(cid))
        .unwrap()
        .0
}

#[test]
fn a_damaged_frame_is_an_error_naming_its_offset() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 16 << 10);
    let victim = blocks[blocks.len() / 2].0;
    let at = frame_of(&path, &victim);
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[at as usize + 40..at as usize + 56] {
        *b ^= 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    let car = open(&path, 1 << 20);
    let e = car.get(&victim).unwrap_err().to_string();
    assert!(
        e.contains(&format!("zstd frame at file offset {at}")),
        "{e}"
    );
    let e = car.verify_all().unwrap_err().to_string();
    assert!(e.contains(&format!("file offset {at}")), "{e}");
}

#[test]
fn a_damaged_index_or_footer_is_an_error_naming_where() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 16 << 10);
    let good = std::fs::read(&path).unwrap();
    let footer = good.len() - 16;
    let index_data = u64::from_le_bytes(good[footer + 8..].try_into().unwrap()) as usize;

    // The version word.
    let mut bad = good.clone();
    bad[index_data] ^= 0xFF;
    std::fs::write(&path, &bad).unwrap();
    let e = CarSource::open(&path, CarSourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("index at file offset {index_data}")) && e.contains("version"),
        "{e}"
    );

    // A slot pointing at no frame.
    let victim = blocks[3].0;
    let h = fil_migrate::store::forest::format::hash_of(&victim);
    let mut bad = good.clone();
    let slots = &mut bad[index_data + 32..footer];
    let i = slots
        .chunks_exact(16)
        .position(|s| u64::from_le_bytes(s[..8].try_into().unwrap()) == h)
        .unwrap();
    slots[i * 16 + 8..i * 16 + 16].copy_from_slice(&12345u64.to_le_bytes());
    std::fs::write(&path, &bad).unwrap();
    let car = open(&path, 1 << 20);
    let e = car.get(&victim).unwrap_err().to_string();
    assert!(e.contains("zstd frame at file offset 12345"), "{e}");

    // A footer pointing outside the file.
    let mut bad = good.clone();
    bad[footer + 8..].copy_from_slice(&(good.len() as u64 * 2).to_le_bytes());
    std::fs::write(&path, &bad).unwrap();
    let e = CarSource::open(&path, CarSourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("footer at file offset {footer}")),
        "{e}"
    );
}

#[test]
fn an_index_less_multi_frame_file_gets_a_sidecar_once() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 16 << 10);
    let bytes = std::fs::read(&path).unwrap();
    let footer = bytes.len() - 16;
    let index_at = u64::from_le_bytes(bytes[footer + 8..].try_into().unwrap()) as usize - 8;
    let stripped = dir.path().join("stripped.car.zst");
    std::fs::write(&stripped, &bytes[..index_at]).unwrap();

    let car = open(&stripped, 1 << 20);
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    assert_eq!(car.layout_name(), "multi-frame zstd CAR (sidecar index)");
    assert_eq!(car.roots(), &[root]);
    assert_all_blocks(&car, &blocks);
    assert_eq!(car.verify_all().unwrap(), blocks.len() as u64);
    drop(car);
    assert!(dir.path().join("stripped.car.zst.fmfidx").exists());
    let car = open(&stripped, 1 << 20);
    assert_eq!(car.index_origin(), IndexOrigin::Loaded);
    assert_all_blocks(&car, &blocks);
    drop(car);
    // No decompressed copy was written.
    assert!(!dir.path().join("stripped.car").exists());
    assert!(!dir.path().join("stripped.car.zst.fmcar").exists());

    // A flipped byte anywhere in the sidecar's table: rebuilt, never followed.
    let sc = dir.path().join("stripped.car.zst.fmfidx");
    let good = std::fs::read(&sc).unwrap();
    for at in [70, good.len() / 2, good.len() - 9] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&sc, &bad).unwrap();
        let car = open(&stripped, 1 << 20);
        assert_eq!(car.index_origin(), IndexOrigin::Built, "byte {at}");
        assert_all_blocks(&car, &blocks);
        drop(car);
        assert_eq!(std::fs::read(&sc).unwrap(), good, "byte {at}");
    }
}

#[test]
fn single_streams_and_frames_cutting_sections_are_decompressed_once() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let mem = fvm_ipld_blockstore::MemoryBlockstore::new();
    for (c, d) in &blocks {
        mem.put_keyed(c, d).unwrap();
    }
    let single = dir.path().join("one.car.zst");
    export_car(
        &mem,
        &[root],
        &single,
        &ExportOptions {
            format: ExportFormat::CarZst { level: 3 },
            ..Default::default()
        },
    )
    .unwrap();
    let car = open(&single, 1 << 20);
    assert_eq!(car.layout_name(), "CARv1");
    assert!(dir.path().join("one.car.zst.fmcar").exists());
    assert!(!dir.path().join("one.car").exists());
    assert_all_blocks(&car, &blocks);

    // Independent frames every 1000 bytes of CAR, as pzstd cuts them.
    let plain = std::fs::read(dir.path().join("one.car.zst.fmcar")).unwrap();
    let mut framed = Vec::new();
    for chunk in plain.chunks(1000) {
        framed.extend(zstd::bulk::compress(chunk, 3).unwrap());
    }
    let cut = dir.path().join("cut.car.zst");
    std::fs::write(&cut, framed).unwrap();
    let car = open(&cut, 1 << 20);
    assert_eq!(car.layout_name(), "CARv1");
    assert!(dir.path().join("cut.car.zst.fmcar").exists());
    assert_all_blocks(&car, &blocks);
}

#[test]
fn the_sidecar_of_a_rewritten_file_is_rebuilt() {
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.forest.car.zst");
    export_forest(&root, &blocks, &path, 16 << 10);
    let bytes = std::fs::read(&path).unwrap();
    let index_at = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap()) as usize - 8;
    let stripped = dir.path().join("x.car.zst");
    std::fs::write(&stripped, &bytes[..index_at]).unwrap();
    assert_eq!(open(&stripped, 0).index_origin(), IndexOrigin::Built);
    // Other frames under the same name: the old sidecar must not be used.
    export_forest(&root, &blocks, &path, 4 << 10);
    let bytes = std::fs::read(&path).unwrap();
    let index_at = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap()) as usize - 8;
    std::fs::write(&stripped, &bytes[..index_at]).unwrap();
    let car = open(&stripped, 0);
    assert_eq!(car.index_origin(), IndexOrigin::Built);
    assert_all_blocks(&car, &blocks);
}

#[test]
fn an_index_split_over_many_skippable_frames_reads_the_same() {
    // The node writes an index over u32::MAX bytes as several skippable
    // frames: slots may then straddle frame boundaries.
    let (root, blocks) = state_blocks();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.forest.car.zst");
    write_node_style(&path, &[root], &blocks);
    let bytes = std::fs::read(&path).unwrap();
    let footer = bytes.len() - 16;
    let index_data = u64::from_le_bytes(bytes[footer + 8..].try_into().unwrap()) as usize;
    let index_at = index_data - 8;
    let mut split = bytes[..index_at].to_vec();
    for chunk in bytes[index_data..footer].chunks(100) {
        split.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18]);
        split.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        split.extend_from_slice(chunk);
    }
    split.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 8, 0, 0, 0]);
    split.extend_from_slice(&(index_data as u64).to_le_bytes());
    let out = dir.path().join("split.forest.car.zst");
    std::fs::write(&out, split).unwrap();
    let car = open(&out, 1 << 20);
    assert_eq!(car.index_origin(), IndexOrigin::Embedded);
    // Lookups start with positioned reads and map the index once they
    // outnumber its pages a few times over: both read the same.
    assert!(!car.framed_index_mapped());
    let index_pages = (footer - index_data).div_ceil(4096);
    let mut lookups = 0;
    while lookups <= MAP_AFTER_PAGES as usize * index_pages {
        assert_all_blocks(&car, &blocks);
        lookups += blocks.len();
    }
    assert!(
        car.framed_index_mapped(),
        "never mapped after {lookups} lookups"
    );
    assert_all_blocks(&car, &blocks);
    assert_eq!(car.block_count().unwrap(), blocks.len() as u64);
}
