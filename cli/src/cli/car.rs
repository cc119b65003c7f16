//! `fil-migrate car …`: index, verify and export CAR files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use cid::Cid;
use clap::{Args, Subcommand};
use fil_migrate::store::{
    export_car, verified_stamp, zstd_car, CarSource, CarSourceOptions, DiskStore, DiskStoreOptions,
    ExportOptions,
};
use fil_migrate::synth::chain_car::write_chain_car;
use fil_migrate::synth::headers::ChainShape;

#[derive(Debug, Subcommand)]
pub enum CarCommand {
    /// Build (or load) the persisted index of a CAR and print its summary.
    Index(IndexArgs),
    /// Read every block of a CAR and check its hash against its CID.
    Verify(IndexArgs),
    /// Export the DAG under some roots from a CAR or a store directory into a new CAR.
    Export(ExportArgs),
    /// Make a chain snapshot from state snapshots: a synthetic chain of block
    /// headers (with null rounds) whose tipsets' ParentStateRoots are the
    /// given states, oldest state first, the head tipset as the CAR's roots.
    Chain(ChainArgs),
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// A state snapshot (repeatable; the first covers the oldest epochs).
    #[arg(long = "state", required = true)]
    states: Vec<PathBuf>,
    /// The head tipset's epoch.
    #[arg(long)]
    head_epoch: i64,
    /// Epochs of chain, ending at the head (the first tipset has no parents).
    #[arg(long, default_value_t = 100)]
    epochs: i64,
    /// Every epoch `e` with `e % N == N - 1` is a null round (0: none).
    #[arg(long, default_value_t = 7)]
    null_every: i64,
    /// Blocks per tipset cycle through 1..=this.
    #[arg(long, default_value_t = 3)]
    max_blocks: usize,
    /// Destination (`.forest.car.zst`, `.car.zst` or `.car`).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The CAR file (`.car`, `.car.zst` or `.forest.car.zst`).
    car: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Source: a CAR file or a fil-migrate store directory.
    #[arg(long)]
    from: PathBuf,
    /// Roots to export (default: the source CAR's header roots).
    #[arg(long = "root")]
    roots: Vec<String>,
    /// Destination CAR file.
    #[arg(long)]
    out: PathBuf,
    /// Compress with zstd at this level (default 3 when the name ends in
    /// `.zst`; `.forest.car.zst` writes the framed, indexed format).
    #[arg(long)]
    zstd: Option<i32>,
}

pub fn run(cmd: CarCommand) -> anyhow::Result<()> {
    match cmd {
        CarCommand::Index(a) => {
            // A CARv1 written a moment ago is given the seconds that let
            // this run's content check be stamped, so the next runs skip it
            // (zstd files are never stamped: nothing to wait for).
            let waited = if zstd_car::is_zstd(&a.car)? {
                std::time::Duration::ZERO
            } else {
                verified_stamp::wait_until_settled(&a.car)
            };
            if !waited.is_zero() {
                eprintln!(
                    "{} changed {} s ago or less: waited {waited:.0?} so its content check can be stamped",
                    a.car.display(),
                    verified_stamp::RACY_SECS
                );
            }
            let t = Instant::now();
            let car = CarSource::open(&a.car, CarSourceOptions::default())?;
            println!("car:            {}", car.path().display());
            println!("layout:         {}", car.layout_name());
            println!(
                "index:          {:?} in {:.2?}",
                car.index_origin(),
                t.elapsed()
            );
            println!("blocks:         {}", car.block_count()?);
            if let Some(idx) = car.car_index() {
                println!("payload bytes:  {}", idx.payload_bytes);
                if idx.is_mapped() {
                    println!("index memory:   mapped from the file (no heap)");
                } else {
                    println!("index memory:   {} bytes", idx.memory_bytes());
                }
                println!(
                    "content check:  {}",
                    if verified_stamp::is_current(car.path()) {
                        "stamped: the next runs do not hash the file again"
                    } else {
                        "not stamped: the next deferred run hashes the file beside its work"
                    }
                );
            }
            for r in car.roots() {
                println!("root:           {r}");
            }
            Ok(())
        }
        CarCommand::Verify(a) => {
            let t = Instant::now();
            let car = CarSource::open(&a.car, CarSourceOptions::default())?;
            let n = car.verify_all()?;
            println!("{n} blocks verified in {:.2?}", t.elapsed());
            Ok(())
        }
        CarCommand::Export(a) => export(a),
        CarCommand::Chain(a) => chain(a),
    }
}

fn chain(mut a: ChainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.epochs >= 1, "--epochs must be at least 1");
    let inputs: Vec<&std::path::Path> = a.states.iter().map(|p| p.as_path()).collect();
    a.out = super::outputs::checked_output(&a.out, "--out", &inputs)?;
    let shape = ChainShape {
        first_epoch: a.head_epoch - a.epochs + 1,
        head_epoch: a.head_epoch,
        null_every: a.null_every,
        max_blocks: a.max_blocks,
    };
    let states: Vec<&std::path::Path> = a.states.iter().map(|p| p.as_path()).collect();
    let (built, summary) = write_chain_car(&states, &shape, &a.out)?;
    let first = built.tipsets.first().map_or(0, |t| t.0);
    println!(
        "wrote {}: {} tipsets at epochs {first}..={} over {} state(s), {} blocks",
        a.out.display(),
        built.tipsets.len(),
        a.head_epoch,
        a.states.len(),
        summary.blocks
    );
    for c in &built.head {
        println!("head:           {c}");
    }
    Ok(())
}

fn export(mut a: ExportArgs) -> anyhow::Result<()> {
    a.out = super::outputs::checked_output(&a.out, "--out", &[&a.from])?;
    let mut roots = a
        .roots
        .iter()
        .map(|s| Cid::try_from(s.as_str()).with_context(|| format!("invalid root CID {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut opts = ExportOptions::for_path(&a.out);
    if let Some(level) = a.zstd {
        opts.format = opts.format.with_level(level);
    }
    let t = Instant::now();
    let summary = if a.from.is_dir() {
        anyhow::ensure!(
            !roots.is_empty(),
            "--root is required when exporting from a store"
        );
        anyhow::ensure!(
            fil_migrate::store::claim::is_store(&a.from),
            "--from {}: a directory that is not a fil-migrate store (no {} marker)",
            a.from.display(),
            fil_migrate::store::claim::MARKER
        );
        let store = DiskStore::open(&a.from, DiskStoreOptions::default())?;
        export_car(&store, &roots, &a.out, &opts)?
    } else {
        let car = CarSource::open(&a.from, CarSourceOptions::default())?;
        if roots.is_empty() {
            roots = car.roots().to_vec();
        }
        export_car(&car, &roots, &a.out, &opts)?
    };
    println!(
        "wrote {} blocks ({} bytes) to {} in {:.2?}",
        summary.blocks,
        summary.car_bytes,
        a.out.display(),
        t.elapsed()
    );
    Ok(())
}
