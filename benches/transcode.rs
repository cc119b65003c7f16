//! Sector info v11 → v12: the byte-level transcoder against the typed path
//! (decode with `fil_actor_miner_state` v11, convert, encode v12), over 10k
//! generated sector infos, in one run so the ratio is comparable.
//!
//! Run: `cargo bench --bench transcode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fil_migrate::actors::sector_v11_v12::{transcode, typed};
use fil_migrate::synth::sector_gen::{sector_info, SectorParams};

fn sectors() -> Vec<Vec<u8>> {
    let p = SectorParams {
        seed: 7,
        miner: 1000,
        epoch: 3_400_000,
        large: false,
        deals: None,
    };
    (0..10_000u64)
        .map(|n| fvm_ipld_encoding::to_vec(&sector_info(&p, n, (n % 3) as u32)).unwrap())
        .collect()
}

fn transcode_bench(c: &mut Criterion) {
    let infos = sectors();
    let bytes: u64 = infos.iter().map(|v| v.len() as u64).sum();
    let mut g = c.benchmark_group("sector_v11_v12");
    g.throughput(Throughput::Elements(infos.len() as u64));
    g.bench_function("byte_level_transcode", |b| {
        let mut out = Vec::with_capacity(bytes as usize + infos.len() * 8);
        b.iter(|| {
            out.clear();
            for v in &infos {
                transcode(v, &mut out).unwrap();
            }
            black_box(out.len())
        })
    });
    g.bench_function("typed_decode_convert_encode", |b| {
        b.iter(|| {
            let mut n = 0;
            for v in &infos {
                n += typed(v).unwrap().len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, transcode_bench);
criterion_main!(benches);
