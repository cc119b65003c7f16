//! Command definitions and dispatch. Each subcommand lives in its own file and
//! only parses arguments, calls the library and prints.

mod args;
mod bench;
mod bench_bound;
mod bench_harness;
mod bench_mainnet;
mod bench_market;
mod bench_suite;
mod car;
mod demo;
mod gc;
mod gen;
mod inspect;
mod migrate;
mod migrate_args;
mod migrate_to;
mod outputs;
pub mod signals;
mod status;

use clap::{Parser, Subcommand};

/// Streaming state-migration engine for very large Filecoin AMTs/HAMTs.
#[derive(Debug, Parser)]
#[command(name = "fil-migrate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with CAR files: index, verify, export a sub-DAG.
    #[command(subcommand)]
    Car(car::CarCommand),
    /// Generate a synthetic v11 state snapshot (CAR).
    Gen(gen::GenArgs),
    /// Migrate a state snapshot offline (prints the new state root).
    Migrate(migrate_args::MigrateArgs),
    /// Premigrate an earlier snapshot into a store, whose cache `migrate --store` then reuses.
    Premigrate(migrate_args::MigrateArgs),
    /// What a store holds: its upgrade, cached results, disk space.
    Status(status::StatusArgs),
    /// Remove from a store what the kept state roots no longer need.
    Gc(gc::GcArgs),
    /// Summarize a state snapshot: actors by type, miners, sectors, blocks, bytes.
    Inspect(inspect::InspectArgs),
    /// Benchmarks comparing the engine with baselines.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run the main job end to end on a built-in synthetic default and print a report.
    Demo(demo::DemoArgs),
}

/// Sets up `tracing` output on stderr (`RUST_LOG` overrides the `info` default).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fil_migrate=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Car(c) => car::run(c),
        Command::Demo(d) => demo::run(d),
        Command::Bench(b) => bench::run(b),
        Command::Gen(g) => gen::run(g),
        Command::Inspect(i) => inspect::run(i),
        Command::Migrate(m) => migrate::run(m),
        Command::Premigrate(m) => migrate::run_premigrate(m),
        Command::Status(s) => status::run(s),
        Command::Gc(g) => gc::run(g),
    }
}
