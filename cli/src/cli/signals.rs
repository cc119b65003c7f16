//! SIGINT and SIGTERM: the run is cancelled, not killed. Workers stop at
//! their next actor, what finished is checkpointed into a `--store`,
//! temporary stores and outputs are removed as the error unwinds, and the
//! process exits 130 (SIGINT) or 143 (SIGTERM) with one line saying what
//! was kept. A second signal of either kind ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use fil_migrate::migration::CancelToken;
use signal_hook::consts::{SIGINT, SIGTERM};

struct Installed {
    cancel: CancelToken,
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Installs the handlers (once, before any work starts).
pub fn install() -> anyhow::Result<()> {
    let cancel = CancelToken::new();
    let (int, term) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    for (sig, own) in [(SIGINT, &int), (SIGTERM, &term)] {
        // Registered first, so it sees the flag as the earlier signal left
        // it: a second signal exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, cancel.flag())?;
        signal_hook::flag::register(sig, own.clone())?;
        signal_hook::flag::register(sig, cancel.flag())?;
    }
    let _ = INSTALLED.set(Installed { cancel, int, term });
    Ok(())
}

/// The token every command's work is cancelled through.
pub fn cancel_token() -> CancelToken {
    INSTALLED
        .get()
        .map_or_else(CancelToken::new, |i| i.cancel.clone())
}

/// The signal that cancelled the run, if one did: (name, exit code).
pub fn received() -> Option<(&'static str, u8)> {
    let i = INSTALLED.get()?;
    if i.int.load(Ordering::SeqCst) {
        Some(("SIGINT", 130))
    } else if i.term.load(Ordering::SeqCst) {
        Some(("SIGTERM", 143))
    } else {
        None
    }
}
