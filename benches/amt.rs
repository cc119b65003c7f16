//! AMT algorithm benchmarks, in one run so ratios are comparable:
//! building a 1M-entry AMT of ~200-byte values with our bottom-up builder
//! against `fvm_ipld_amt`'s set loop + flush, and diffing two 1M-entry AMTs
//! that differ in 1k entries.
//!
//! Run: `cargo bench --bench amt`

#![allow(clippy::result_large_err)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fil_migrate::ipld::amt::{diff, AmtBuilder, AmtPatcher, Patch};
use fil_migrate::store::Sink;
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::MemoryBlockstore;
use fvm_ipld_encoding::RawBytes;

const N: u64 = 1_000_000;

fn value(i: u64, salt: u8) -> Vec<u8> {
    let mut v = vec![salt; 200];
    v[..8].copy_from_slice(&i.to_be_bytes());
    v
}

fn build(c: &mut Criterion) {
    let encoded: Vec<Vec<u8>> = (0..N)
        .map(|i| fvm_ipld_encoding::to_vec(&RawBytes::new(value(i, 0))).unwrap())
        .collect();
    let mut g = c.benchmark_group("amt_build_1M_x_200B");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("fil_migrate_builder", |b| {
        b.iter(|| {
            let sink = Sink::default();
            let mut builder = AmtBuilder::new(&sink, 5).unwrap();
            for (i, v) in encoded.iter().enumerate() {
                builder.push(i as u64, v).unwrap();
            }
            black_box(builder.finish().unwrap())
        })
    });
    g.bench_function("fvm_ipld_amt_set_flush", |b| {
        b.iter(|| {
            let sink = Sink::default();
            let mut amt = Amt::new_with_bit_width(&sink, 5);
            for i in 0..N {
                amt.set(i, RawBytes::new(value(i, 0))).unwrap();
            }
            black_box(amt.flush().unwrap())
        })
    });
    g.finish();
}

fn diff_bench(c: &mut Criterion) {
    let store = MemoryBlockstore::new();
    let mut b = AmtBuilder::new(&store, 5).unwrap();
    for i in 0..N {
        b.push(
            i,
            &fvm_ipld_encoding::to_vec(&RawBytes::new(value(i, 0))).unwrap(),
        )
        .unwrap();
    }
    let old = b.finish().unwrap();
    let mut p = AmtPatcher::open(&store, &old).unwrap();
    let changed: Vec<(u64, Vec<u8>)> = (0..1000u64)
        .map(|k| {
            let i = k * 997 + 3;
            (
                i,
                fvm_ipld_encoding::to_vec(&RawBytes::new(value(i, 1))).unwrap(),
            )
        })
        .collect();
    for (i, v) in &changed {
        p.apply(Patch::Set(*i, v)).unwrap();
    }
    let new = p.finish().unwrap();
    let mut g = c.benchmark_group("amt_diff_1M_1k_changed");
    g.sample_size(20);
    g.bench_function("fil_migrate_streaming_diff", |b| {
        b.iter(|| {
            let mut n = 0;
            diff(&store, &old, &new, |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
            black_box(n)
        })
    });
    g.bench_function("fvm_ipld_amt_diff", |b| {
        b.iter(|| {
            let a: Amt<RawBytes, _> = Amt::load(&old, &store).unwrap();
            let bb: Amt<RawBytes, _> = Amt::load(&new, &store).unwrap();
            black_box(fvm_ipld_amt::diff(&a, &bb).unwrap().len())
        })
    });
    g.finish();
}

criterion_group!(benches, build, diff_bench);
criterion_main!(benches);
