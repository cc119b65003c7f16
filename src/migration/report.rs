//! The machine-readable migration report (`--report out.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::BufferStats;

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationReport {
    /// Upgrade name.
    pub upgrade: String,
    /// Network.
    pub network: String,
    /// Input state root.
    pub input_state_root: String,
    /// Output state root.
    pub output_state_root: String,
    /// Worker threads.
    pub threads: usize,
    /// Memory budget of the write buffer, bytes.
    pub memory_budget_bytes: u64,
    /// Wall time per phase, seconds, in order.
    pub phases: Vec<(String, f64)>,
    /// Actors migrated (passed through their migrator; a remap reuses the
    /// rest without touching them).
    pub actors: u64,
    /// How the actors tree was migrated: cached, remapped, mapped, rebuilt.
    pub actors_tree: Option<crate::migration::actors_tree::TreePath>,
    /// A remap's unchanged actors in changed buckets, whose previous result
    /// was reused.
    pub actors_reused: u64,
    /// A remap's unchanged subtrees of the actors tree, reused unread.
    pub actor_subtrees_reused: u64,
    /// Nodes of the actors trees (input, and a remap's previous pair) read.
    pub actor_tree_nodes_read: u64,
    /// Actors per migrator.
    pub actors_by_migrator: BTreeMap<String, u64>,
    /// Sector infos transformed building AMTs from scratch.
    pub sectors_from_scratch: u64,
    /// Sector infos transformed or deleted applying diffs.
    pub sectors_via_diff: u64,
    /// Sector infos of miners' `sectors` AMTs found in the cache (snapshot hits are
    /// counted in `sector_amts_scratch_diff_cache` only).
    pub sectors_from_cache: u64,
    /// Sectors AMTs (miners' and snapshots') migrated from scratch, by diff, from cache.
    pub sector_amts_scratch_diff_cache: [u64; 3],
    /// Blocks read from the input/backing store.
    pub blocks_read: u64,
    /// Bytes read from the input/backing store.
    pub bytes_read: u64,
    /// Blocks written to the output store.
    pub blocks_written: u64,
    /// Bytes written to the output store.
    pub bytes_written: u64,
    /// Peak bytes held in the write buffer.
    pub peak_buffered_bytes: u64,
    /// Peak resident set size of the process, bytes (VmHWM).
    pub peak_rss_bytes: u64,
    /// Seconds from the run's start until the first actor was migrated.
    pub first_actor_secs: Option<f64>,
    /// Which state of the snapshot was migrated (set by the CLI).
    pub source: Option<crate::chain::StateSource>,
    /// The input file's kind and, when framed, its frame reads (set by the CLI).
    pub snapshot: Option<SnapshotRead>,
    /// Whether `--verify` ran and agreed.
    pub verified: Option<bool>,
    /// Cache status notes (hits, fallbacks).
    pub notes: Vec<String>,
}

/// How the snapshot file was read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotRead {
    /// "CARv1", "forest.car.zst (frames + index)", …
    pub layout: String,
    /// zstd frames decompressed (framed files).
    pub frames_decompressed: Option<u64>,
    /// Lookups served from the frame cache (framed files).
    pub frame_cache_hits: Option<u64>,
    /// Seconds to open the file (index loaded, built or found).
    pub open_secs: f64,
}

impl MigrationReport {
    /// Sector infos this run transformed (from scratch or in changed AMT
    /// leaves). Every changed leaf is rewritten whole, so the ratio of two
    /// runs' counts bounds the speed-up of the one transforming fewer, at
    /// equal cost per sector info.
    pub fn sectors_transformed(&self) -> u64 {
        self.sectors_via_diff + self.sectors_from_scratch
    }

    /// Records how the actors tree was migrated.
    pub fn absorb_tree(&mut self, tree: &crate::migration::actors_tree::TreeOutcome) {
        self.actors_tree = Some(tree.path);
        self.notes.extend(tree.notes.iter().cloned());
        if let Some(s) = &tree.stats {
            self.actors_reused = s.entries_reused;
            self.actor_subtrees_reused = s.subtrees_reused;
            self.actor_tree_nodes_read = s.nodes_read;
        }
    }

    /// Fills the actor and sector counts from a run's counters: actors
    /// per migrator (`names` in the run's order; the first, code-only,
    /// gets the actors no other counted), sectors by path, the time to the
    /// first actor since `start`.
    pub fn absorb_counters(
        &mut self,
        counters: &crate::migration::context::Counters,
        names: &[&str],
        start: std::time::Instant,
    ) {
        use std::sync::atomic::Ordering;
        self.actors = counters.actors.load(Ordering::Relaxed);
        self.first_actor_secs = counters
            .first_actor_at
            .get()
            .map(|t| t.duration_since(start).as_secs_f64());
        let mut special = 0;
        for (name, n) in names.iter().zip(&counters.by_migrator).skip(1) {
            let n = n.load(Ordering::Relaxed);
            special += n;
            if n > 0 {
                self.actors_by_migrator.insert(name.to_string(), n);
            }
        }
        if let Some(first) = names.first().filter(|_| self.actors > special) {
            self.actors_by_migrator
                .insert(first.to_string(), self.actors - special);
        }
        self.sectors_from_scratch = counters.sectors_from_scratch.load(Ordering::Relaxed);
        self.sectors_via_diff = counters.sectors_via_diff.load(Ordering::Relaxed);
        self.sectors_from_cache = counters.sectors_from_cache.load(Ordering::Relaxed);
        for (i, c) in counters.amts_by_path.iter().enumerate() {
            self.sector_amts_scratch_diff_cache[i] = c.load(Ordering::Relaxed);
        }
    }

    /// Fills the store counters from a buffer's stats.
    pub fn absorb_buffer(&mut self, s: &BufferStats) {
        self.blocks_read = s.backing_reads;
        self.bytes_read = s.backing_read_bytes;
        self.blocks_written = s.flushed_blocks;
        self.bytes_written = s.flushed_bytes;
        self.peak_buffered_bytes = s.peak_buffered_bytes;
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 if unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
