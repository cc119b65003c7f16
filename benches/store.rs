//! Storage-layer benchmarks: CAR index build, random CAR reads, buffered
//! put+flush into the disk store against direct writes, and the two store
//! engines (fjall, block log) side by side.
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
    StoreEngine,
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

/// `n` blocks of state-like sizes: HAMT nodes and actor states of a few
/// hundred bytes to 2 KB, and AMT leaves of 6–9 KB, one in eight.
fn state_like_blocks(n: usize) -> Vec<(Cid, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let len = if i % 8 == 0 {
                6000 + (i * 37) % 3000
            } else {
                200 + (i * 53) % 1800
            };
            let payload: Vec<u8> = (0..len).map(|k| (i * 131 + k * 7) as u8).collect();
            let data =
                fvm_ipld_encoding::to_vec(&(i as u64, fvm_ipld_encoding::BytesSer(&payload)))
                    .unwrap();
            (cbor_cid(&data), data)
        })
        .collect()
}

/// The two store engines side by side in one run: batched puts then the
/// durability point, a buffered flush of a linked tree, random gets from a
/// settled store, and a reopen with one read.
fn engines(c: &mut Criterion) {
    let bl = state_like_blocks(40_000);
    let bytes: u64 = bl.iter().map(|(_, d)| d.len() as u64).sum();
    let tree = blocks(3_000);
    let tree_bytes: u64 = tree.iter().map(|(_, d)| d.len() as u64).sum();
    for engine in [StoreEngine::Fjall, StoreEngine::BlockLog] {
        let opts = DiskStoreOptions {
            engine,
            ..Default::default()
        };
        let name = format!("{engine:?}");
        let mut g = c.benchmark_group("engine_put");
        g.throughput(Throughput::Bytes(bytes));
        g.sample_size(10);
        g.bench_function(format!("batches_of_1000_then_sync/{name}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let s = DiskStore::open(dir.path(), opts.clone()).unwrap();
                    for chunk in bl.chunks(1000) {
                        s.put_batch(chunk.iter().map(|(c, d)| (c, d.as_slice())))
                            .unwrap();
                    }
                    s.sync().unwrap();
                    s.settle().unwrap();
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();

        let mut g = c.benchmark_group("engine_flush");
        g.throughput(Throughput::Bytes(tree_bytes));
        g.sample_size(10);
        g.bench_function(format!("buffered_flush_root_then_sync/{name}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let s = DiskStore::open(dir.path(), opts.clone()).unwrap();
                    let buf = BufferedBlockstore::new(&s, BufferOptions::default());
                    for (c, d) in &tree {
                        buf.put_keyed(c, d).unwrap();
                    }
                    buf.flush(&tree.last().unwrap().0).unwrap();
                    s.sync().unwrap();
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();

        let dir = tempfile::tempdir().unwrap();
        {
            let s = DiskStore::open(dir.path(), opts.clone()).unwrap();
            for chunk in bl.chunks(1000) {
                s.put_batch(chunk.iter().map(|(c, d)| (c, d.as_slice())))
                    .unwrap();
            }
            s.compact().unwrap();
        }
        let mut g = c.benchmark_group("engine_get");
        g.throughput(Throughput::Elements(1));
        {
            let s = DiskStore::open(dir.path(), opts.clone()).unwrap();
            let mut i = 0usize;
            g.bench_function(format!("random_get/{name}"), |b| {
                b.iter(|| {
                    i = (i * 7919 + 13) % bl.len();
                    black_box(s.get_block(&bl[i].0).unwrap().unwrap().len())
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group("engine_reopen");
        g.sample_size(20);
        g.bench_function(format!("open_and_get_one/{name}"), |b| {
            b.iter(|| {
                let s = DiskStore::open(dir.path(), opts.clone()).unwrap();
                black_box(s.get_block(&bl[17].0).unwrap().unwrap().len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, car, disk_writes, engines);
criterion_main!(benches);
