//! Issue 14's wrong sector count: a store held a `sectorsAmt-` entry whose
//! AMT had 999,965 values under a count of 1,000,333.
//!
//! The cause: a miner's diff base was recorded by two puts,
//! `prevSectorsIn-<miner>` then `prevSectorsOut-<miner>`, and a periodic
//! checkpoint runs on another worker thread at any moment. One that ran
//! between the two made the new input durable beside the *previous* run's
//! output; a run that then ended before its next checkpoint (killed, or
//! aborted writing to a closed pipe) left that pair. The next run remapped
//! against it: `remap_changed` reuses the old output wherever the new input
//! equals the old input, and counts the old output's count plus the changes
//! measured on the input side, so a pair that was not one migration gave
//! stale values and a count that disagrees with them.
//!
//! The fix: the pair is put in one call that a checkpoint sees whole or
//! not at all, and a pair is used only if its output is the cached result
//! of its input.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use cid::Cid;
use common::states::{generate, small_config, successor};
use common::store_runs::{opts, uncached_root, StoreRun};
use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::cache::{prev_sectors_in_key, prev_sectors_out_key};
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationCache, Upgrade};
use fil_migrate::store::{MemStore, Overlay};
use parking_lot::Mutex;

/// A cache that checks, after every call a worker makes, that a checkpoint
/// taken at that moment would hold whole pairs only: for every miner whose
/// `prevSectorsIn` this run put, its `prevSectorsOut` too, and vice versa.
struct SplitPairDetector {
    inner: MemoryCache,
    staged: Mutex<BTreeMap<String, Cid>>,
    splits: Mutex<Vec<String>>,
}

impl SplitPairDetector {
    fn new() -> Self {
        SplitPairDetector {
            inner: MemoryCache::default(),
            staged: Mutex::new(BTreeMap::new()),
            splits: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, entries: &[(&str, Cid)]) {
        let mut staged = self.staged.lock();
        for (k, v) in entries {
            staged.insert(k.to_string(), *v);
        }
        for key in staged.keys() {
            let other = if let Some(m) = key.strip_prefix("prevSectorsIn-") {
                prev_sectors_out_key(m)
            } else if let Some(m) = key.strip_prefix("prevSectorsOut-") {
                prev_sectors_in_key(m)
            } else {
                continue;
            };
            if !staged.contains_key(&other) {
                self.splits
                    .lock()
                    .push(format!("{key} staged without {other}"));
            }
        }
    }
}

impl MigrationCache for SplitPairDetector {
    fn get(&self, key: &str) -> fil_migrate::Result<Option<Cid>> {
        self.inner.get(key)
    }

    fn put(&self, key: &str, value: Cid) -> fil_migrate::Result<()> {
        self.inner.put(key, value)?;
        self.record(&[(key, value)]);
        Ok(())
    }

    fn put_many(&self, entries: &[(&str, Cid)]) -> fil_migrate::Result<()> {
        self.inner.put_many(entries)?;
        self.record(entries);
        Ok(())
    }
}

#[test]
fn wrong_sector_count_no_checkpoint_can_split_a_diff_base_pair() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 3, 2_000, 41));
    let out = MemStore::new();
    let both = Overlay {
        upper: &out,
        lower: &input,
    };
    let cache = SplitPairDetector::new();
    let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
    migrate_state(&both, &s0, &spec, &cache, &opts()).unwrap();
    assert!(
        cache
            .staged
            .lock()
            .keys()
            .any(|k| k.starts_with("prevSectorsIn-")),
        "the run recorded no diff base: the test checks nothing"
    );
    let splits = cache.splits.lock();
    assert!(
        splits.is_empty(),
        "a checkpoint at these moments would make half a pair durable: {splits:?}"
    );
}

/// What the crash left: the newer input beside the older output. The next
/// run must not use that pair, and gives the uncached root.
#[test]
fn wrong_sector_count_a_mismatched_durable_pair_is_not_used() {
    let (input, s0) = generate(&small_config(Network::Mainnet, 3, 2_000, 42));
    let s1 = successor(&input, &s0, 43);
    let s2 = successor(&input, &s1, 44);
    let want = uncached_root(&input, &s2);
    let dir = tempfile::tempdir().unwrap();
    let input = Arc::new(input);
    // Premigrate s0, then run s1 on a scratch copy to learn its inputs.
    {
        let pre = StoreRun::open(dir.path(), true);
        pre.migrate(&input, &s0, &opts()).unwrap();
    }
    let s1_inputs: Vec<(String, Cid)> = {
        let scratch = MemoryCache::default();
        let out = MemStore::new();
        let both = Overlay {
            upper: &out,
            lower: &*input,
        };
        let spec = Upgrade::load("nv21", Network::Mainnet).unwrap();
        migrate_state(&both, &s1, &spec, &scratch, &opts()).unwrap();
        scratch
            .entries()
            .into_iter()
            .filter(|(k, _)| k.starts_with("prevSectorsIn-"))
            .collect()
    };
    // The half pair: s1's inputs made durable, s0's outputs left.
    {
        let run = StoreRun::open(dir.path(), true);
        for (k, v) in &s1_inputs {
            run.cache.put(k, *v).unwrap();
        }
        run.cache.checkpoint(&|_| Ok(())).unwrap();
    }
    let next = StoreRun::open(dir.path(), true);
    let out = next.migrate(&input, &s2, &opts()).unwrap();
    assert_eq!(out.state_root, want);
}
