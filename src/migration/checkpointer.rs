//! Periodic checkpoints during a run: finished work (each migrated miner's
//! cache entries) is made durable every `checkpoint_every`, so a run killed
//! at any moment resumes from its last checkpoint instead of from nothing.

use std::time::{Duration, Instant};

use cid::Cid;
use parking_lot::Mutex;

use super::cache::MigrationCache;
use crate::error::Result;

/// Decides when a checkpoint is due and runs it on one thread at a time.
pub struct Checkpointer {
    every: Duration,
    last: Mutex<Instant>,
}

impl Checkpointer {
    /// Checkpoints at most once per `every` (zero: after every call).
    pub fn new(every: Duration) -> Self {
        Checkpointer {
            every,
            last: Mutex::new(Instant::now()),
        }
    }

    /// Checkpoints `cache` through `flush` if one is due and no other
    /// thread is checkpointing; the others go on migrating meanwhile.
    pub fn maybe(
        &self,
        cache: &dyn MigrationCache,
        flush: &dyn Fn(&Cid) -> Result<()>,
    ) -> Result<()> {
        let Some(mut last) = self.last.try_lock() else {
            return Ok(());
        };
        if last.elapsed() < self.every {
            return Ok(());
        }
        cache.checkpoint(flush)?;
        *last = Instant::now();
        Ok(())
    }
}
