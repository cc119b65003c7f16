//! The migration runner: walk the input actors HAMT (one producer thread,
//! bounded memory), migrate actors on a pool of workers fed by a bounded
//! channel, and build the output actors HAMT on one writer (this thread) in
//! hash order, re-sequencing results as they come back. Deferred migrators
//! run after the parallel phase. Every failure cancels the run and is
//! reported with the actor's address and CID; nothing panics on bad data.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use cid::Cid;
use crossbeam_channel::bounded;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::{Address, Protocol};
use parking_lot::Mutex;

use super::cache::MigrationCache;
use super::context::{in_actor, ActorInput, CancelToken, Counters, MigrationCtx};
use super::migrators::code::CodeMigrator;
use super::migrators::nv21_miner::Nv21MinerMigrator;
use super::migrators::system::SystemMigrator;
use super::migrators::ActorMigrator;
use super::progress::Progress;
use super::report::{peak_rss_bytes, MigrationReport};
use super::spec::{MigratorKind, UpgradeSpec};
use crate::actors::manifest::Network;
use crate::actors::state_tree::{get_cbor, RawActor, StateRoot, STATE_TREE_VERSION};
use crate::error::{Error, Result};
use crate::ipld::hamt::{for_each_entry, HamtBuilder, DEFAULT_BIT_WIDTH};
use crate::store::{BufferOptions, BufferedBlockstore};

/// Copies an input tree (given its root) into durable storage. An offline
/// premigration keeps each miner's input sectors AMT this way, so that the
/// final migration can diff against it although the earlier snapshot is gone.
#[derive(Clone)]
pub struct RetainInputs(pub Arc<RetainFn>);

/// The callback behind [`RetainInputs`].
pub type RetainFn = dyn Fn(&Cid) -> Result<()> + Send + Sync;

impl std::fmt::Debug for RetainInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetainInputs(..)")
    }
}

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

struct Job {
    seq: u64,
    key: Vec<u8>,
    value: Vec<u8>,
    input: ActorInput,
    kind: MigratorKind,
}

/// An output actors-tree entry: (address key, ActorState bytes).
type Entry = (Vec<u8>, Vec<u8>);

enum Done {
    Actor(u64, Vec<u8>, Vec<u8>),
    Deferred(u64),
}

fn kind_index(k: MigratorKind) -> usize {
    match k {
        MigratorKind::Code => 0,
        MigratorKind::System => 1,
        MigratorKind::Nv21Miner => 2,
    }
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

struct Migrators {
    code: CodeMigrator,
    system: SystemMigrator,
    miner: Nv21MinerMigrator,
}

impl Migrators {
    fn get<B: Blockstore + Sync>(&self, k: MigratorKind) -> &dyn ActorMigrator<B> {
        match k {
            MigratorKind::Code => &self.code,
            MigratorKind::System => &self.system,
            MigratorKind::Nv21Miner => &self.miner,
        }
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
                "state tree version {} (nv21 needs {STATE_TREE_VERSION})",
                root.version
            ),
        });
    }
    let migrators = Migrators {
        code: CodeMigrator,
        system: SystemMigrator,
        miner: Nv21MinerMigrator::new(&buf)?,
    };
    report
        .phases
        .push(("load".into(), t_all.elapsed().as_secs_f64()));

    let counters = Arc::new(Counters::default());
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
    };
    let deferred: Mutex<Vec<Job>> = Mutex::new(Vec::new());
    let run_job = |job: &Job| -> Result<(Vec<u8>, Vec<u8>)> {
        let m = migrators.get::<&B>(job.kind);
        let new_head = m
            .migrate_state(&ctx, &job.input)
            .map_err(|e| in_actor(&job.input, e))?;
        let new_code = spec
            .new_manifest
            .code_of(&job.input.name)
            .ok_or_else(|| Error::Invalid(format!("no actors v12 code for {}", job.input.name)))?;
        let raw = RawActor::parse(&job.value, &root.actors)?;
        Counters::add(&counters.actors, 1);
        Counters::add(&counters.by_kind[kind_index(job.kind)], 1);
        Ok((job.key.clone(), raw.with(&new_code, &new_head)))
    };

    let t = Instant::now();
    let (job_tx, job_rx) = bounded::<Job>(4 * threads.max(1) * 64);
    let (done_tx, done_rx) = bounded::<Result<Done>>(4096);
    let mut builder = HamtBuilder::new(&buf, DEFAULT_BIT_WIDTH)?
        .with_subtree_hook(Box::new(|c: &Cid| ctx.flush_if_over_budget(c)));
    let mut first_error: Option<Error> = None;
    let mut pending: BTreeMap<u64, Option<Entry>> = BTreeMap::new();
    let mut next_seq = 0u64;
    let cancel = &opts.cancel;
    std::thread::scope(|scope| {
        // Producer: walk the input actors tree.
        let done_for_walk = done_tx.clone();
        let walk_ctx = &ctx;
        let deferred_ref = &deferred;
        let migrators_ref = &migrators;
        scope.spawn(move || {
            let mut seq = 0u64;
            let r = for_each_entry(
                walk_ctx.store,
                &root.actors,
                DEFAULT_BIT_WIDTH,
                |key, value| {
                    cancel.check()?;
                    let raw = RawActor::parse(value, &root.actors)?;
                    let address = address_text(key, spec.network);
                    let name = spec.old_manifest.name_of(&raw.code).ok_or_else(|| {
                        Error::Invalid(format!(
                            "actor {address}: code {} is not in the {} actors v{} manifest",
                            raw.code, spec.network, spec.old_manifest.actors_version
                        ))
                    })?;
                    let kind = *spec.migrators.get(name).ok_or_else(|| {
                        Error::Invalid(format!("actor {address}: no migrator for {name}"))
                    })?;
                    let job = Job {
                        seq,
                        key: key.to_vec(),
                        value: value.to_vec(),
                        input: ActorInput {
                            address,
                            name: name.to_string(),
                            code: raw.code,
                            head: raw.head,
                        },
                        kind,
                    };
                    seq += 1;
                    if migrators_ref.get::<&B>(kind).is_deferred() {
                        let s = job.seq;
                        deferred_ref.lock().push(job);
                        done_for_walk
                            .send(Ok(Done::Deferred(s)))
                            .map_err(|_| Error::Cancelled)?;
                    } else {
                        job_tx.send(job).map_err(|_| Error::Cancelled)?;
                    }
                    Ok(())
                },
            );
            if let Err(e) = r {
                cancel.cancel();
                let _ = done_for_walk.send(Err(e));
            }
        });
        // Workers: a rayon pool consuming the job channel.
        let pool = &pool;
        let run = &run_job;
        let worker_rx = job_rx.clone();
        let worker_tx = done_tx.clone();
        scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..threads {
                    let rx = worker_rx.clone();
                    let tx = worker_tx.clone();
                    s.spawn(move |_| {
                        while let Some(job) = next_job(&rx) {
                            if cancel.is_cancelled() {
                                break;
                            }
                            let r = run(&job).map(|(k, v)| Done::Actor(job.seq, k, v));
                            if r.is_err() {
                                cancel.cancel();
                            }
                            if tx.send(r).is_err() {
                                break;
                            }
                        }
                    });
                }
                drop(worker_rx);
                drop(worker_tx);
            });
        });
        drop(job_rx);
        drop(done_tx);
        // Writer: re-sequence and build the output tree in hash order.
        let mut last_checkpoint = Instant::now();
        for msg in done_rx.iter() {
            if first_error.is_none() && last_checkpoint.elapsed() >= opts.checkpoint_every {
                if let Err(e) = cache.checkpoint(&|c: &Cid| buf.flush(c)) {
                    cancel.cancel();
                    first_error = Some(e);
                }
                last_checkpoint = Instant::now();
            }
            match msg {
                Ok(Done::Actor(seq, k, v)) => {
                    pending.insert(seq, Some((k, v)));
                }
                Ok(Done::Deferred(seq)) => {
                    pending.insert(seq, None);
                }
                Err(e) => {
                    if first_error.is_none() || matches!(first_error, Some(Error::Cancelled)) {
                        first_error = Some(e);
                    }
                    continue;
                }
            }
            if first_error.is_some() {
                continue;
            }
            while let Some(Some((k, v))) = pending.get(&next_seq) {
                if let Err(e) = builder.push(k, v) {
                    cancel.cancel();
                    first_error = Some(e);
                    break;
                }
                pending.remove(&next_seq);
                next_seq += 1;
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    cancel.check()?;
    report
        .phases
        .push(("migrate actors".into(), t.elapsed().as_secs_f64()));

    // Deferred migrators, then the rest of the tree.
    let t = Instant::now();
    let jobs = std::mem::take(&mut *deferred.lock());
    for job in &jobs {
        let (k, v) = run_job(job)?;
        pending.insert(job.seq, Some((k, v)));
    }
    while let Some(Some((k, v))) = pending.remove(&next_seq) {
        builder.push(&k, &v)?;
        next_seq += 1;
    }
    if let Some((seq, _)) = pending.iter().next() {
        return Err(Error::Invalid(format!(
            "internal: actor #{seq} was never migrated"
        )));
    }
    report
        .phases
        .push(("deferred".into(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let actors = builder.finish()?;
    let new_root = StateRoot {
        version: STATE_TREE_VERSION,
        actors,
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
    report.actors = counters.actors.load(Ordering::Relaxed);
    for (name, i) in [("code", 0), ("system", 1), ("nv21_miner", 2)] {
        let n = counters.by_kind[i].load(Ordering::Relaxed);
        if n > 0 {
            report.actors_by_migrator.insert(name.into(), n);
        }
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

/// Takes the next job; while none is queued, helps with other workers'
/// parallel subtasks (a big miner's subtrees) instead of blocking.
fn next_job(rx: &crossbeam_channel::Receiver<Job>) -> Option<Job> {
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                        Ok(job) => return Some(job),
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    }
                }
            }
        }
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
