//! The `fil-migrate` command line: a thin layer over the library.

// Library errors carry CIDs by value (see lib.rs); they are only built on the cold path.
#![allow(clippy::result_large_err)]

mod cli;

/// mimalloc returns freed memory to the OS and does not fragment across
/// threads the way glibc's per-thread arenas do, which keeps peak RSS close
/// to the memory budget (measured: 654 MB with glibc vs see README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::init_logging();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
