//! The migration runner: the actors HAMT is migrated as a whole by the
//! cheapest exact path ([`super::actors_tree`]: cached, remapped against the
//! previous run, or a parallel structure-preserving map), each actor through
//! the migrator its spec names, on a rayon pool. Every failure cancels the
//! run and is reported with the actor's address and CID; nothing panics on
//! bad data.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::{Address, Protocol};

use super::actors_tree::{migrate_actors_tree, TreeOptions};
use super::cache::MigrationCache;
use super::cache::PREV_DEFERRED_ACTORS;
use super::checkpointer::Checkpointer;
use super::context::{in_actor, ActorInput, CancelToken, Counters, MigrationCtx};
use super::deferred::{previous_keys, store_keys, Deferred, DeferredActor};
use super::progress::Progress;
use super::report::{peak_rss_bytes, MigrationReport};
use super::router::Router;
use super::spec::UpgradeSpec;
use super::upgrades::{migrators_for, post_migrators_for};
use crate::actors::manifest::Network;
use crate::actors::state_tree::{get_cbor, RawActor, StateRoot, STATE_TREE_VERSION};
use crate::error::{Error, Result};
use crate::ipld::hamt::{get_value, replace_value, DEFAULT_BIT_WIDTH};
use crate::store::{BufferOptions, BufferedBlockstore};

pub use super::retain::{InputTree, RetainFn, RetainInputs};

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

/// Formats an actor address as the reference does (`f0…` / `t0…`).
pub fn address_text(key: &[u8], network: Network) -> String {
    let prefix = if network == Network::Mainnet {
        'f'
    } else {
        't'
    };
    match Address::from_bytes(key) {
        Ok(a) if a.protocol() == Protocol::ID => format!("{prefix}0{}", a.id().unwrap_or_default()),
        Ok(a) => {
            let s = a.to_string();
            format!("{prefix}{}", &s[1..])
        }
        Err(_) => format!(
            "<invalid address {}>",
            key.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

/// Migrates the state at `state_root` in `backing` (which holds the input and
/// receives the output) as `spec` says, reusing and filling `cache`.
/// Every block of the returned root has been written to `backing`; making
/// `backing` durable is the caller's.
pub fn migrate_state<B: Blockstore + Sync>(
    backing: &B,
    state_root: &Cid,
    spec: &UpgradeSpec,
    cache: &dyn MigrationCache,
    opts: &MigrationOptions,
) -> Result<MigrationOutcome> {
    let t_all = Instant::now();
    let threads = if opts.threads == 0 {
        num_cpus()
    } else {
        opts.threads
    };
    let buf = BufferedBlockstore::new(
        backing,
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
    let root: StateRoot = get_cbor(&buf, state_root, "state root")?;
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
    super::detect::check_spec(&super::detect::state_facts(&buf, state_root)?, spec)?;
    let migrators = migrators_for::<&B, _>(spec, &buf)?;
    let post_migrators = post_migrators_for::<&B>(spec);
    let names: Vec<&str> = migrators.iter().map(|(n, _)| n.as_str()).collect();
    let router = Router::new(spec, &names)?;
    let deferred_kinds: Vec<bool> = migrators.iter().map(|(_, m)| m.deferred()).collect();
    let deferred = Deferred::default();
    report
        .phases
        .push(("load".into(), t_all.elapsed().as_secs_f64()));

    let counters = Arc::new(Counters::new(migrators.len()));
    let progress = Progress::start(counters.clone(), opts.progress);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("migrate-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("thread pool: {e}")))?;
    let ctx = MigrationCtx {
        store: &buf,
        cache,
        spec,
        counters: &counters,
        cancel: &opts.cancel,
        retain_inputs: opts.retain_inputs.as_ref(),
        input_actors: root.actors,
    };
    let checkpointer = Checkpointer::new(opts.checkpoint_every);
    let route_of = |key: &[u8], raw: &RawActor<'_>| {
        router.route(&raw.code).ok_or_else(|| {
            Error::Invalid(format!(
                "actor {}: code {} is not in the {} actors v{} manifest",
                address_text(key, spec.network),
                raw.code,
                spec.network,
                spec.old_manifest.actors_version
            ))
        })
    };
    let input_of = |key: &[u8], raw: &RawActor<'_>, name: &str| ActorInput {
        address: address_text(key, spec.network),
        id: Address::from_bytes(key).ok().and_then(|a| a.id().ok()),
        name: name.to_string(),
        code: raw.code,
        head: raw.head,
    };
    let migrate_actor = |key: &[u8], value: &[u8]| -> Result<Vec<u8>> {
        opts.cancel.check()?;
        let raw = RawActor::parse(value, &root.actors)?;
        let route = route_of(key, &raw)?;
        let new_head = if route.code_only {
            // The head is the input's own link, read from an input node:
            // the flush need not look it up again.
            buf.vouch(std::slice::from_ref(&raw.head));
            raw.head
        } else {
            let input = input_of(key, &raw, &route.name);
            if deferred_kinds[route.migrator] {
                // In the tree for now with its old head; replaced once
                // every other actor is done (below).
                buf.vouch(std::slice::from_ref(&raw.head));
                deferred.hold(DeferredActor {
                    key: key.to_vec(),
                    migrator: route.migrator,
                    new_code: route.new_code,
                    input,
                    value: value.to_vec(),
                });
                count_actor(&counters);
                return Ok(raw.with(&route.new_code, &raw.head));
            }
            let head = migrators[route.migrator]
                .1
                .migrate_state(&ctx, &input)
                .map_err(|e| in_actor(&input, e))?;
            Counters::add(&counters.by_migrator[route.migrator], 1);
            // Only migrators stage cache entries (code-only actors have
            // none until the tree's own at the end).
            checkpointer.maybe(cache, &|c: &Cid| buf.flush(c))?;
            head
        };
        count_actor(&counters);
        Ok(raw.with(&route.new_code, &new_head))
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
    // Deferred actors run serially, in address order, each from its input
    // actor, and replace their placeholder in the mapped tree; those of the
    // last run that a remap did not visit (unchanged) run all the same.
    let finish = |tree: Cid| -> Result<(Cid, Vec<(String, Cid)>)> {
        let mut list = deferred.take();
        for key in prev_deferred.iter().flatten() {
            if list.iter().any(|d| d.key == *key) {
                continue;
            }
            let Some(value) = get_value(&buf, &root.actors, DEFAULT_BIT_WIDTH, key)? else {
                continue;
            };
            let raw = RawActor::parse(&value, &root.actors)?;
            let route = route_of(key, &raw)?;
            if deferred_kinds[route.migrator] {
                let input = input_of(key, &raw, &route.name);
                list.push(DeferredActor {
                    key: key.clone(),
                    migrator: route.migrator,
                    new_code: route.new_code,
                    input,
                    value: value.clone(),
                });
            }
        }
        list.sort_by(|a, b| a.key.cmp(&b.key));
        let mut tree = tree;
        for d in &list {
            let raw = RawActor::parse(&d.value, &root.actors)?;
            let head = pool
                .install(|| migrators[d.migrator].1.migrate_state(&ctx, &d.input))
                .map_err(|e| in_actor(&d.input, e))?;
            Counters::add(&counters.by_migrator[d.migrator], 1);
            let value = raw.with(&d.new_code, &head);
            tree = replace_value(&buf, &tree, DEFAULT_BIT_WIDTH, &d.key, &value)?.ok_or_else(
                || {
                    Error::Invalid(format!(
                        "deferred actor {} vanished from the migrated actors tree",
                        d.input.address
                    ))
                },
            )?;
        }
        let extra = match any_deferred {
            true => {
                // Cache entries name only blocks the store holds.
                let keys = store_keys(&buf, &list)?;
                buf.flush(&keys)?;
                vec![(PREV_DEFERRED_ACTORS.to_string(), keys)]
            }
            false => Vec::new(),
        };
        for post in &post_migrators {
            tree = post.apply(&ctx, &root.actors, tree)?;
        }
        Ok((tree, extra))
    };
    let topts = TreeOptions {
        // The remap visits changed actors only: with deferred migrators,
        // only if they all work from those and the base names its deferred
        // actors.
        allow_remap: !any_deferred || (incremental && prev_deferred.is_some()),
        finish: &finish,
    };
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

    report.output_state_root = new_root.to_string();
    report.actors_tree = Some(tree.path);
    report.notes.extend(tree.notes.iter().cloned());
    if let Some(s) = tree.stats {
        report.actors_reused = s.entries_reused;
        report.actor_subtrees_reused = s.subtrees_reused;
        report.actor_tree_nodes_read = s.nodes_read;
    }
    report.actors = counters.actors.load(Ordering::Relaxed);
    report.first_actor_secs = counters
        .first_actor_at
        .get()
        .map(|t| t.duration_since(t_all).as_secs_f64());
    let mut special = 0;
    for ((name, _), n) in migrators.iter().zip(&counters.by_migrator).skip(1) {
        let n = n.load(Ordering::Relaxed);
        special += n;
        if n > 0 {
            report.actors_by_migrator.insert(name.clone(), n);
        }
    }
    if report.actors > special {
        report
            .actors_by_migrator
            .insert(migrators[0].0.clone(), report.actors - special);
    }
    report.sectors_from_scratch = counters.sectors_from_scratch.load(Ordering::Relaxed);
    report.sectors_via_diff = counters.sectors_via_diff.load(Ordering::Relaxed);
    report.sectors_from_cache = counters.sectors_from_cache.load(Ordering::Relaxed);
    for i in 0..3 {
        report.sector_amts_scratch_diff_cache[i] = counters.amts_by_path[i].load(Ordering::Relaxed);
    }
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

thread_local! {
    /// Actors migrated on this thread and not yet added to the shared
    /// counter: one shared atomic bumped per actor by every worker would
    /// bounce its cache line between cores millions of times.
    static UNCOUNTED: Cell<u64> = const { Cell::new(0) };
}

/// Actors a thread counts before adding them to the shared total.
const COUNT_BATCH: u64 = 1024;

fn count_actor(counters: &Counters) {
    UNCOUNTED.with(|n| {
        let v = n.get() + 1;
        if v == 1 {
            counters.first_actor_at.get_or_init(Instant::now);
        }
        if v >= COUNT_BATCH {
            Counters::add(&counters.actors, v);
            n.set(0);
        } else {
            n.set(v);
        }
    });
}

/// Adds the pool threads' uncounted actors to the total (at the end of a
/// run: every actor is migrated on a thread of `pool`).
fn flush_actor_count(pool: &rayon::ThreadPool, counters: &Counters) {
    pool.broadcast(|_| {
        UNCOUNTED.with(|n| {
            Counters::add(&counters.actors, n.get());
            n.set(0);
        })
    });
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
