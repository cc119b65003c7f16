//! Progress output: a spinner with rates on a terminal, a log line every few
//! seconds otherwise (so a node's log or CI output stays readable).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::context::Counters;

/// Reports progress from a background thread until dropped.
pub struct Progress {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `counters` (which must outlive the returned value's thread: pass an Arc).
    pub fn start(counters: std::sync::Arc<Counters>, enabled: bool) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !enabled {
            return Progress { stop, handle: None };
        }
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let bar = tty.then(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(Duration::from_millis(200));
                b
            });
            let start = Instant::now();
            let mut last_log = Instant::now();
            let mut last_update = Instant::now();
            while !s.load(Ordering::Relaxed) {
                // Short naps so that stopping (end of a run) never waits long.
                std::thread::sleep(Duration::from_millis(10));
                if last_update.elapsed() < Duration::from_millis(200) {
                    continue;
                }
                last_update = Instant::now();
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
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
