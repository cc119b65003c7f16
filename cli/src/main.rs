//! The `fil-migrate` command line: a thin layer over the library.

// Library errors carry CIDs by value (see lib.rs); they are only built on the cold path.
#![allow(clippy::result_large_err)]

mod cli;

/// mimalloc returns freed memory to the OS and does not fragment across
/// threads the way glibc's per-thread arenas do, which keeps peak RSS close
/// to the memory budget (README: Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc's `purge_delay` option: how long freed memory is kept before it is
/// returned to the OS (the C enum value; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// The purge delay this tool runs with, milliseconds (see `main`).
const PURGE_DELAY_MS: std::os::raw::c_long = 10;

fn main() -> ExitCode {
    // Return freed memory soon: a migration frees its write buffer in large
    // waves, and a long purge delay shows up as peak RSS above the budget.
    // Not at once (delay 0): then every freed page is handed back with an
    // madvise whose TLB shootdown interrupts the other cores, and a migration
    // of millions of small actors spends most of its time there (compare
    // `MIMALLOC_PURGE_DELAY=0 fil-migrate migrate …` with the default).
    // `MIMALLOC_PURGE_DELAY` (milliseconds), mimalloc's own variable, wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a global allocator option before any thread is started.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    // No transparent huge pages for this process: mimalloc asks for them on
    // its arenas (MADV_HUGEPAGE), and a huge page is resident whole, zeroed
    // 2 MiB at a time, once any byte of it is touched, which shows up as
    // peak RSS above the budget without a gain in time (README:
    // Performance). `MIMALLOC_ALLOW_THP=1`, mimalloc's own variable, keeps them.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: sets a flag of this process; no memory is touched.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    // Die of SIGPIPE when the reader of our output goes away (`status | head`),
    // as command-line tools do, instead of panicking in `println!` (Rust
    // ignores SIGPIPE, so a write to a closed pipe returns EPIPE). A run
    // killed this way is like one killed by any signal: its store resumes.
    // SAFETY: restores a signal's default disposition before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    cli::init_logging();
    let args = cli::Cli::parse();
    if let Err(e) = cli::signals::install() {
        eprintln!("error: installing the SIGINT/SIGTERM handlers: {e}");
        return ExitCode::FAILURE;
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match cli::signals::received() {
            Some((name, code)) => {
                eprintln!("interrupted by {name}: {}", error_chain(&e));
                ExitCode::from(code)
            }
            None => {
                eprintln!("error: {}", error_chain(&e));
                ExitCode::FAILURE
            }
        },
    }
}

/// The error and its causes, each once: a typed error's message often quotes
/// its source already, and `{:#}` would print that source a second time.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
