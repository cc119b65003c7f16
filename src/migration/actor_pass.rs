//! The two passes over the actors of a run: the actor pass migrates each
//! actor of the input tree by the route its code names (code-only actors
//! by the fast path, deferred ones held with their old head), and the
//! deferred pass migrates the held actors afterwards, serially, in address
//! order, each from its input actor, putting them into the migrated tree
//! and running the post-migrators (docs/design.md §7).

use std::cell::Cell;
use std::time::Instant;

use cid::Cid;
use fvm_shared3::address::{Address, Protocol};

use super::actors_tree::Finished;
use super::cache::PREV_DEFERRED_ACTORS;
use super::checkpointer::Checkpointer;
use super::context::{in_actor, ActorInput, Counters, MigrationCtx};
use super::deferred::{store_keys, Deferred, DeferredActor};
use super::migrators::{Named, PostMigrator};
use super::router::{Route, Router};
use crate::actors::manifest::Network;
use crate::actors::state_tree::RawActor;
use crate::error::{Error, Result};
use crate::ipld::hamt::{get_value, replace_value, DEFAULT_BIT_WIDTH};

/// Everything a pass reads.
pub struct ActorPass<'a> {
    /// The run's context (store, cache, spec, counters, cancellation).
    pub ctx: &'a MigrationCtx<'a>,
    /// The input actors HAMT (named in errors).
    pub actors: Cid,
    /// The run's migrators, indexed by the router.
    pub migrators: &'a [Named],
    /// Old code → migrator and new code.
    pub router: &'a Router,
    /// Which migrators are deferred.
    pub deferred_kinds: &'a [bool],
    /// The actors held for the deferred pass.
    pub deferred: &'a Deferred,
    /// Periodic checkpoints of the cache.
    pub checkpointer: &'a Checkpointer,
}

impl ActorPass<'_> {
    fn route_of(&self, key: &[u8], raw: &RawActor<'_>) -> Result<&Route> {
        let spec = self.ctx.spec;
        self.router.route(&raw.code).ok_or_else(|| {
            Error::WrongState(format!(
                "actor {}: code {} is not in the {} actors v{} manifest",
                address_text(key, spec.network),
                raw.code,
                spec.network,
                spec.old_manifest.actors_version
            ))
        })
    }

    fn input_of(&self, key: &[u8], raw: &RawActor<'_>, name: &str) -> ActorInput {
        ActorInput {
            address: address_text(key, self.ctx.spec.network),
            id: Address::from_bytes(key).ok().and_then(|a| a.id().ok()),
            name: name.to_string(),
            code: raw.code,
            head: raw.head,
        }
    }

    /// One actor's new entry (`value` is its input entry).
    pub fn migrate_actor(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        let ctx = self.ctx;
        ctx.cancel.check()?;
        let raw = RawActor::parse(value, &self.actors)?;
        let route = self.route_of(key, &raw)?;
        let new_head = if route.code_only {
            // The head is the input's own link, read from an input node:
            // the flush need not look it up again.
            ctx.store.vouch(std::slice::from_ref(&raw.head));
            raw.head
        } else {
            let input = self.input_of(key, &raw, &route.name);
            if self.deferred_kinds[route.migrator] {
                // In the tree for now with its old head; replaced once
                // every other actor is done (the deferred pass).
                ctx.store.vouch(std::slice::from_ref(&raw.head));
                self.deferred.hold(DeferredActor {
                    key: key.to_vec(),
                    migrator: route.migrator,
                    new_code: route.new_code,
                    input,
                    value: value.to_vec(),
                });
                count_actor(ctx.counters);
                return Ok(raw.with(&route.new_code, &raw.head));
            }
            let head = self.migrators[route.migrator]
                .1
                .migrate_state(ctx, &input)
                .map_err(|e| in_actor(&input, e))?;
            Counters::add(&ctx.counters.by_migrator[route.migrator], 1);
            // Only migrators stage cache entries (code-only actors have
            // none until the tree's own at the end).
            self.checkpointer
                .maybe(ctx.cache, &|c: &Cid| ctx.store.flush(c))?;
            head
        };
        count_actor(ctx.counters);
        Ok(raw.with(&route.new_code, &new_head))
    }

    /// The deferred pass on the migrated tree `tree`: the held actors and
    /// those of the last run (`previous`) that a remap did not visit, then
    /// the post-migrators. Returns the final tree and the cache entries
    /// recorded with the tree's diff base.
    pub fn deferred_pass(
        &self,
        pool: &rayon::ThreadPool,
        previous: Option<&[Vec<u8>]>,
        post_migrators: &[Box<dyn PostMigrator>],
        tree: Cid,
    ) -> Result<Finished> {
        let ctx = self.ctx;
        let any_deferred = self.deferred_kinds.iter().any(|d| *d);
        let mut list = self.deferred.take();
        for key in previous.into_iter().flatten() {
            if list.iter().any(|d| d.key == *key) {
                continue;
            }
            let Some(value) = get_value(ctx.store, &self.actors, DEFAULT_BIT_WIDTH, key)? else {
                continue;
            };
            let raw = RawActor::parse(&value, &self.actors)?;
            let route = self.route_of(key, &raw)?;
            if self.deferred_kinds[route.migrator] {
                let input = self.input_of(key, &raw, &route.name);
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
            let raw = RawActor::parse(&d.value, &self.actors)?;
            let head = pool
                .install(|| self.migrators[d.migrator].1.migrate_state(ctx, &d.input))
                .map_err(|e| in_actor(&d.input, e))?;
            Counters::add(&ctx.counters.by_migrator[d.migrator], 1);
            let value = raw.with(&d.new_code, &head);
            tree = replace_value(ctx.store, &tree, DEFAULT_BIT_WIDTH, &d.key, &value)?.ok_or_else(
                || {
                    Error::WrongState(format!(
                        "deferred actor {} vanished from the migrated actors tree",
                        d.input.address
                    ))
                },
            )?;
        }
        let extra = match any_deferred {
            true => {
                // Cache entries name only blocks the store holds.
                let keys = store_keys(ctx.store, &list)?;
                ctx.store.flush(&keys)?;
                vec![(PREV_DEFERRED_ACTORS.to_string(), keys)]
            }
            false => Vec::new(),
        };
        for post in post_migrators {
            tree = post.apply(ctx, &self.actors, tree)?;
        }
        Ok((tree, extra))
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
pub fn flush_actor_count(pool: &rayon::ThreadPool, counters: &Counters) {
    pool.broadcast(|_| {
        UNCOUNTED.with(|n| {
            Counters::add(&counters.actors, n.get());
            n.set(0);
        })
    });
}
