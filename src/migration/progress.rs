//! Progress output: a spinner with rates on a terminal, a log line every few
//! seconds otherwise (so a node's log or CI output stays readable).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::context::Counters;

/// How often the rates are refreshed.
const TICK: Duration = Duration::from_millis(200);

/// Reports progress from a background thread until dropped.
pub struct Progress {
    /// Dropping it wakes the thread at once: a run's end never waits for a
    /// tick (a final migration takes tens of milliseconds).
    stop: Option<crossbeam_channel::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `counters` (which must outlive the returned value's thread: pass an Arc).
    pub fn start(counters: std::sync::Arc<Counters>, enabled: bool) -> Self {
        if !enabled {
            return Progress {
                stop: None,
                handle: None,
            };
        }
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let handle = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let bar = spinner(tty);
            let start = Instant::now();
            let mut last_log = Instant::now();
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                let secs = start.elapsed().as_secs_f64().max(1e-3);
                let actors = counters.actors.load(Ordering::Relaxed);
                let sectors = counters.sectors_from_scratch.load(Ordering::Relaxed)
                    + counters.sectors_via_diff.load(Ordering::Relaxed);
                let msg = format!(
                    "{actors} actors ({:.0}/s), {sectors} sectors ({:.0}/s)",
                    actors as f64 / secs,
                    sectors as f64 / secs
                );
                match &bar {
                    Some(b) => b.set_message(msg),
                    None if last_log.elapsed() >= Duration::from_secs(5) => {
                        tracing::info!("migrating: {msg}");
                        last_log = Instant::now();
                    }
                    None => {}
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress {
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take()); // disconnects: the thread's wait returns at once
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A spinner on a terminal, with the `progress-bar` feature (the CLI's);
/// a library build without it logs instead.
#[cfg(feature = "progress-bar")]
fn spinner(tty: bool) -> Option<indicatif::ProgressBar> {
    tty.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(TICK);
        b
    })
}

#[cfg(not(feature = "progress-bar"))]
fn spinner(_tty: bool) -> Option<NoSpinner> {
    None
}

/// What a build without spinners has in their place: never made.
#[cfg(not(feature = "progress-bar"))]
struct NoSpinner;

#[cfg(not(feature = "progress-bar"))]
impl NoSpinner {
    fn set_message(&self, _msg: String) {}
    fn finish_and_clear(&self) {}
}
