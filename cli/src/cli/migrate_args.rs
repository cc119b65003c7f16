//! The arguments of `migrate` and `premigrate` (and of `migrate --to`,
//! which runs them through every upgrade in turn).

use std::path::PathBuf;

use clap::Args;
use fil_migrate::actors::manifest::Network;

use super::args::{parse_bytes, parse_seconds, EngineArg};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Input snapshot: a CARv1, a `.forest.car.zst` (served in place through
    /// its frame index) or a single-stream `.car.zst` (decompressed once).
    #[arg(long)]
    pub(super) snapshot: PathBuf,
    /// For a chain snapshot (block headers as roots): migrate the state of
    /// the tipset at this epoch (the last one before it if it was a null
    /// round), found by walking parents back from the head. Default: the
    /// head tipset's ParentStateRoot.
    #[arg(long, conflicts_with = "state_root")]
    pub(super) epoch: Option<i64>,
    /// Decompressed frames a framed snapshot keeps in memory.
    #[arg(long, value_parser = parse_bytes, default_value = "16MiB")]
    pub(super) frame_cache: u64,
    /// Upgrade to run (`nv21` … `nv29`, a fix upgrade such as `nv22fix`),
    /// or `auto`: the one that starts from the state's actors bundle (its
    /// system actor's manifest).
    #[arg(long, default_value = "auto")]
    pub(super) upgrade: String,
    /// Run every upgrade from the state's bundle up to this network version
    /// (`nv29`) or upgrade (`nv26fix`) in turn, each one's output the next
    /// one's input, printing each root. A rehearsal: no messages run in
    /// between, so it is not a chain's history.
    #[arg(long, conflicts_with_all = ["upgrade", "store", "keep_inputs"])]
    pub(super) to: Option<String>,
    /// Network (selects bundles and heights): mainnet (alias testnetnet) or
    /// calibnet (alias calibrationnet). Default: the state's own (its init
    /// actor's network name); given, it must match it. A state of another
    /// name (a devnet) needs it.
    #[arg(long)]
    pub(super) network: Option<Network>,
    /// State root to migrate (default: the CAR root, or its head tipset's ParentStateRoot).
    #[arg(long)]
    pub(super) state_root: Option<String>,
    /// Store directory: receives the output blocks and keeps the migration cache
    /// (a premigration's results are reused by the next run on the same store).
    /// Default: a temporary one, removed at exit.
    #[arg(long)]
    pub(super) store: Option<PathBuf>,
    /// Also write the migrated state as a snapshot: `.forest.car.zst` (framed
    /// and indexed, what the Rust node imports), `.car.zst` or `.car`. Its
    /// root is the state root.
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Memory for not-yet-written output blocks (default: a quarter of available memory).
    #[arg(long, value_parser = parse_bytes)]
    pub(super) memory_budget: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub(super) threads: usize,
    /// Re-run from scratch without cache, compare roots, decode every migrated sector.
    #[arg(long)]
    pub(super) verify: bool,
    /// Write a JSON report here.
    #[arg(long)]
    pub(super) report: Option<PathBuf>,
    /// Seconds between cache checkpoints (finished work made durable for
    /// resume), from 0 to a week.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub(super) checkpoint_every: f64,
    /// Skip hash verification of blocks read from the snapshot.
    #[arg(long)]
    pub(super) no_verify_reads: bool,
    /// With --store: also keep each miner's input sectors tree, so a later
    /// run on this store can diff against it (premigrate always does).
    #[arg(long)]
    pub(super) keep_inputs: bool,
    /// How a new store keeps its blocks (an existing store keeps its own).
    #[arg(long, value_enum, default_value_t)]
    pub(super) store_engine: EngineArg,
}
