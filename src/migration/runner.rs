//! The migration runner: the actors HAMT is migrated as a whole by the
//! cheapest exact path ([`super::actors_tree`]: cached, remapped against the
//! previous run, or a parallel structure-preserving map), each actor through
//! the migrator its spec names, on a rayon pool. Every failure cancels the
//! run and is reported with the actor's address and CID; nothing panics on
//! bad data.

use std::sync::Arc;
use std::time::Instant;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::actor_pass::{flush_actor_count, ActorPass};
use super::actors_tree::{migrate_actors_tree, TreeOptions};
use super::cache::MigrationCache;
use super::checkpointer::Checkpointer;
use super::context::RunStore;
use super::context::{CancelToken, Counters, MigrationCtx};
use super::deferred::{previous_keys, Deferred};
use super::migrators::code::CodeMigrator;
use super::migrators::system::SystemMigrator;
use super::migrators::Named;
use super::progress::Progress;
use super::report::{peak_rss_bytes, MigrationReport};
use super::router::Router;
use super::spec::UpgradeSpec;
use super::spec::{CODE_MIGRATOR, SYSTEM_MIGRATOR};
use super::upgrade::Upgrade;
use crate::actors::state_tree::{get_cbor, RawActor, StateRoot, STATE_TREE_VERSION};
use crate::error::{Error, Result};
use crate::store::{BufferOptions, BufferedBlockstore, DynStore};

use super::retain::RetainInputs;

/// How to run a migration.
#[derive(Debug, Clone)]
pub struct MigrationOptions {
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Bytes of output blocks kept in memory before finished subtrees are flushed.
    pub memory_budget: u64,
    /// Cancellation.
    pub cancel: CancelToken,
    /// Show progress (spinner on a terminal, log lines otherwise).
    pub progress: bool,
    /// How often the cache is checkpointed during the run (a persisted cache
    /// makes finished work durable, so a killed run resumes from it).
    pub checkpoint_every: std::time::Duration,
    /// Keep migrated miners' input sectors trees (see [`RetainInputs`]).
    pub retain_inputs: Option<RetainInputs>,
}

impl Default for MigrationOptions {
    fn default() -> Self {
        MigrationOptions {
            threads: 0,
            memory_budget: default_memory_budget(),
            cancel: CancelToken::new(),
            progress: false,
            checkpoint_every: std::time::Duration::from_secs(10),
            retain_inputs: None,
        }
    }
}

/// A quarter of the memory available now, between 256 MiB and 16 GiB.
pub fn default_memory_budget() -> u64 {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    (sys.available_memory() / 4).clamp(256 << 20, 16 << 30)
}

/// The result of a migration.
#[derive(Debug, Clone)]
pub struct MigrationOutcome {
    /// The new state root.
    pub state_root: Cid,
    /// What was measured.
    pub report: MigrationReport,
}

/// Migrates the state at `state_root` in `backing` (which holds the input and
/// receives the output) by `upgrade`, reusing and filling `cache`.
/// Every block of the returned root has been written to `backing`; making
/// `backing` durable is the caller's.
pub fn migrate_state<B: Blockstore + Sync>(
    backing: &B,
    state_root: &Cid,
    upgrade: &Upgrade,
    cache: &dyn MigrationCache,
    opts: &MigrationOptions,
) -> Result<MigrationOutcome> {
    let spec = &upgrade.spec;
    let t_all = Instant::now();
    let threads = if opts.threads == 0 {
        num_cpus()
    } else {
        opts.threads
    };
    let buf = BufferedBlockstore::new(
        DynStore::new(backing),
        BufferOptions {
            budget_bytes: opts.memory_budget,
            ..Default::default()
        },
    );
    let mut report = MigrationReport {
        upgrade: spec.name.clone(),
        network: spec.network.to_string(),
        input_state_root: state_root.to_string(),
        threads,
        memory_budget_bytes: opts.memory_budget,
        ..Default::default()
    };

    // The plan: the state checked against the spec, its migrators routed.
    let root = load_root(&buf, state_root, spec)?;
    let migrators = migrators_of(upgrade, &buf)?;
    let post_migrators = (upgrade.def.post_migrators)();
    let names: Vec<&str> = migrators.iter().map(|(n, _)| n.as_str()).collect();
    let router = Router::new(spec, &names)?;
    let deferred_kinds: Vec<bool> = migrators.iter().map(|(_, m)| m.deferred()).collect();
    report
        .phases
        .push(("load".into(), t_all.elapsed().as_secs_f64()));

    let counters = Arc::new(Counters::new(migrators.len()));
    let progress = Progress::start(counters.clone(), opts.progress);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("migrate-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("thread pool: {e}")))?;
    let ctx = MigrationCtx {
        store: &buf,
        cache,
        spec,
        counters: &counters,
        cancel: &opts.cancel,
        retain_inputs: opts.retain_inputs.as_ref(),
        input_actors: root.actors,
    };
    let deferred = Deferred::default();
    let checkpointer = Checkpointer::new(opts.checkpoint_every);
    let pass = ActorPass {
        ctx: &ctx,
        actors: root.actors,
        migrators: &migrators,
        router: &router,
        deferred_kinds: &deferred_kinds,
        deferred: &deferred,
        checkpointer: &checkpointer,
    };

    // A previous output's actors carry new code: a pair whose output holds
    // an actor that does not was not made by this upgrade.
    let new_codes: rustc_hash::FxHashSet<Cid> =
        spec.new_manifest.entries.iter().map(|(_, c)| *c).collect();
    let is_output = |value: &[u8]| {
        RawActor::parse(value, &root.actors).is_ok_and(|a| new_codes.contains(&a.code))
    };
    // Before the pass: may a deferred migrator work from the changed actors
    // only (a remapped tree)? Each is asked (it prepares for either pass).
    let mut incremental = true;
    for (m, _) in migrators.iter().zip(&deferred_kinds).filter(|(_, d)| **d) {
        incremental &= m.1.incremental_ok(&ctx)?;
    }
    let any_deferred = deferred_kinds.iter().any(|d| *d);
    let prev_deferred = if any_deferred {
        previous_keys(&buf, cache)?
    } else {
        Some(Vec::new())
    };
    let migrate_actor = |key: &[u8], value: &[u8]| pass.migrate_actor(key, value);
    let finish =
        |tree: Cid| pass.deferred_pass(&pool, prev_deferred.as_deref(), &post_migrators, tree);
    let topts = TreeOptions {
        // The remap visits changed actors only: with deferred migrators,
        // only if they all work from those and the base names its deferred
        // actors.
        allow_remap: !any_deferred || (incremental && prev_deferred.is_some()),
        finish: &finish,
    };

    // The actor pass (the deferred pass runs inside, on the fresh tree).
    let t = Instant::now();
    let tree = match pool
        .install(|| migrate_actors_tree(&ctx, &root.actors, &migrate_actor, &is_output, &topts))
    {
        Ok(t) => t,
        Err(Error::Cancelled) => {
            // What finished before the cancellation is made durable (a
            // persisted cache): the next run resumes from it.
            cache.checkpoint(&|c: &Cid| buf.flush(c))?;
            return Err(Error::Cancelled);
        }
        Err(e) => return Err(e),
    };
    flush_actor_count(&pool, &counters);
    report
        .phases
        .push(("migrate actors".into(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let new_root = StateRoot {
        version: STATE_TREE_VERSION,
        actors: tree.root,
        info: root.info,
    }
    .store(&buf)?;
    buf.flush(&new_root)?;
    cache.checkpoint(&|c: &Cid| buf.flush(c))?;
    report
        .phases
        .push(("flush".into(), t.elapsed().as_secs_f64()));
    drop(progress);

    // The report.
    report.output_state_root = new_root.to_string();
    report.absorb_tree(&tree);
    report.absorb_counters(&counters, &names, t_all);
    report.absorb_buffer(&buf.stats());
    report.peak_rss_bytes = peak_rss_bytes();
    report
        .phases
        .push(("total".into(), t_all.elapsed().as_secs_f64()));
    Ok(MigrationOutcome {
        state_root: new_root,
        report,
    })
}

/// The migrators `upgrade` runs: `code`, `system` and its own, every one
/// its spec names built.
fn migrators_of(upgrade: &Upgrade, store: &RunStore<'_>) -> Result<Vec<Named>> {
    let mut all: Vec<Named> = vec![
        (CODE_MIGRATOR.to_string(), Box::new(CodeMigrator)),
        (SYSTEM_MIGRATOR.to_string(), Box::new(SystemMigrator)),
    ];
    all.extend((upgrade.def.migrators)(&upgrade.spec, store)?);
    for name in upgrade.spec.migrators.values() {
        if !all.iter().any(|(n, _)| n == name) {
            return Err(Error::Spec {
                upgrade: upgrade.name.clone(),
                reason: format!("no migrator named {name:?} is built for it"),
            });
        }
    }
    Ok(all)
}

/// The state root at `state_root`, checked: its tree version, and that
/// `spec` migrates its bundle on its network.
fn load_root<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> Result<StateRoot> {
    let root: StateRoot = get_cbor(store, state_root, "state root")?;
    if root.version != STATE_TREE_VERSION {
        return Err(Error::Malformed {
            what: "state root",
            cid: *state_root,
            reason: format!(
                "state tree version {} ({} needs {STATE_TREE_VERSION})",
                root.version, spec.name
            ),
        });
    }
    super::detect::check_spec(&super::detect::state_facts(store, state_root)?, spec)?;
    Ok(root)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
