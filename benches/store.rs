//! Storage-layer benchmarks: CAR index build, random CAR reads, buffered
//! put+flush into the disk store against direct writes.
//!
//! Run: `cargo bench --bench store`

#![allow(clippy::result_large_err)]

use std::hint::black_box;

use cid::Cid;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fil_migrate::ipld::cids::cbor_cid;
use fil_migrate::store::car_format::{write_header, write_section};
use fil_migrate::store::car_index::CarIndex;
use fil_migrate::store::{
    BufferOptions, BufferedBlockstore, CarSource, CarSourceOptions, DiskStore, DiskStoreOptions,
};
use fvm_ipld_blockstore::Blockstore;

/// `n` AMT-leaf-sized blocks (~8 KB of DAG-CBOR bytes each) in a chain, so a flush of the last walks all.
fn blocks(n: usize) -> Vec<(Cid, Vec<u8>)> {
    let mut out: Vec<(Cid, Vec<u8>)> = Vec::with_capacity(n);
    for i in 0..n {
        let payload: Vec<u8> = (0..8000).map(|k| (i * 31 + k) as u8).collect();
        let prev: Vec<Cid> = out.last().map(|(c, _)| vec![*c]).unwrap_or_default();
        let data =
            fvm_ipld_encoding::to_vec(&(i as u64, prev, fvm_ipld_encoding::BytesSer(&payload)))
                .unwrap();
        out.push((cbor_cid(&data), data));
    }
    out
}

fn write_car(path: &std::path::Path, blocks: &[(Cid, Vec<u8>)]) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write_header(&mut f, &[blocks.last().unwrap().0]).unwrap();
    for (c, d) in blocks {
        write_section(&mut f, c, d).unwrap();
    }
    drop(f);
    std::fs::metadata(path).unwrap().len()
}

fn car(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bl = blocks(10_000);
    let path = dir.path().join("b.car");
    let size = write_car(&path, &bl);
    let mut g = c.benchmark_group("car");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(10);
    g.bench_function("index_build_80MB", |b| {
        b.iter(|| black_box(CarIndex::build(&path).unwrap().len()))
    });
    g.finish();

    let src = CarSource::open(&path, CarSourceOptions::default()).unwrap();
    let mut g = c.benchmark_group("car");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("random_get_verified_8KB", |b| {
        b.iter(|| {
            i = (i * 7919 + 13) % bl.len();
            black_box(src.get(&bl[i].0).unwrap().unwrap().len())
        })
    });
    src.set_verify_hashes(false);
    g.bench_function("random_get_unverified_8KB", |b| {
        b.iter(|| {
            i = (i * 7919 + 13) % bl.len();
            black_box(src.get(&bl[i].0).unwrap().unwrap().len())
        })
    });
    g.finish();
}

fn disk_writes(c: &mut Criterion) {
    let bl = blocks(5_000);
    let bytes: u64 = bl.iter().map(|(_, d)| d.len() as u64).sum();
    let mut g = c.benchmark_group("disk_store_40MB");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("direct_put_each_then_sync", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let s = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
                for (c, d) in &bl {
                    s.put_keyed(c, d).unwrap();
                }
                s.sync().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("buffered_put_then_flush_root_then_sync", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let s = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
                let buf = BufferedBlockstore::new(&s, BufferOptions::default());
                for (c, d) in &bl {
                    buf.put_keyed(c, d).unwrap();
                }
                buf.flush(&bl.last().unwrap().0).unwrap();
                s.sync().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, car, disk_writes);
criterion_main!(benches);
