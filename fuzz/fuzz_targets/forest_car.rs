//! The `.forest.car.zst` reader on damaged files: a valid file of a few
//! dozen blocks in several frames, patched and truncated as the input says,
//! is opened and every block asked for. Each answer is an error or the
//! block's own bytes (hash-checked); never a panic, a hang, or another
//! block's data.
#![no_main]

use std::sync::OnceLock;

use cid::Cid;
use fil_migrate::store::{
    export_car, CarSource, CarSourceOptions, ExportFormat, ExportOptions, MemStore,
};
use fvm_ipld_blockstore::Blockstore;
use libfuzzer_sys::fuzz_target;

struct Sample {
    file: Vec<u8>,
    blocks: Vec<(Cid, Vec<u8>)>,
}

fn sample() -> &'static Sample {
    static S: OnceLock<Sample> = OnceLock::new();
    S.get_or_init(|| {
        let store = MemStore::new();
        let mut blocks = Vec::new();
        let mut links: Vec<Cid> = Vec::new();
        for i in 0..48u64 {
            let payload = vec![(i * 7 % 251) as u8; 200 + (i as usize * 37) % 900];
            let bytes = fvm_ipld_encoding::to_vec(&(
                i,
                links.clone(),
                fvm_ipld_encoding::BytesSer(&payload),
            ))
            .unwrap();
            let cid = fil_migrate::ipld::cids::cbor_cid(&bytes);
            store.put_keyed(&cid, &bytes).unwrap();
            blocks.push((cid, bytes));
            links = vec![cid];
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.forest.car.zst");
        export_car(
            &store,
            &[links[0]],
            &path,
            &ExportOptions {
                format: ExportFormat::ForestCarZst {
                    level: 3,
                    frame_bytes: 4096,
                },
                ..Default::default()
            },
        )
        .unwrap();
        Sample {
            file: std::fs::read(&path).unwrap(),
            blocks,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = sample();
    let mut file = s.file.clone();
    // Input: a truncation byte, then (position u16, xor u8) patches.
    let (cut, patches) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => return,
    };
    if cut > 250 {
        let keep = file.len() * usize::from(cut - 250) / 6;
        file.truncate(keep);
    }
    for p in patches.chunks_exact(3) {
        if file.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([p[0], p[1]])) % file.len();
        file[at] ^= p[2];
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.forest.car.zst");
    std::fs::write(&path, &file).unwrap();
    let Ok(car) = CarSource::open(
        &path,
        CarSourceOptions {
            frame_cache_bytes: 16 << 10,
            ..Default::default()
        },
    ) else {
        return;
    };
    let _ = car.roots();
    let _ = car.block_count();
    for (cid, bytes) in &s.blocks {
        if let Ok(Some(got)) = car.read(cid) {
            assert_eq!(&got, bytes, "block {cid}: wrong data");
        }
        let _ = car.contains(cid);
    }
    let _ = car.verify_all();
});
