//! BufferedBlockstore: flush semantics, exact byte accounting, concurrency.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cid::Cid;
use common::{node, reachable};
use fil_migrate::store::{BufferOptions, BufferedBlockstore, DiskStore, DiskStoreOptions};
use fil_migrate::Error;
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::{Blockstore, MemoryBlockstore};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Put a new node linking to up to 3 earlier nodes (by index modulo count).
    Put { links: Vec<usize>, size: usize },
    /// Flush the subtree of an earlier node (in parallel below it if `true`).
    Flush(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::collection::vec(any::<usize>(), 0..3), 0usize..300)
            .prop_map(|(links, size)| Op::Put { links, size }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(k, p)| Op::Flush(k, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn flush_writes_exactly_the_reachable_buffered_blocks(ops in prop::collection::vec(op(), 1..80)) {
        let backing = fil_migrate::store::MemStore::new();
        let buf = BufferedBlockstore::new(&backing, BufferOptions { batch_bytes: 512, ..Default::default() });
        let mut nodes: Vec<(Cid, Vec<u8>)> = Vec::new();
        let mut model_buffered: HashMap<Cid, usize> = HashMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Put { links, size } => {
                    let links: Vec<Cid> = if nodes.is_empty() { vec![] } else {
                        links.iter().map(|l| nodes[l % nodes.len()].0).collect()
                    };
                    let (cid, data) = node(i as u64, &links, size);
                    buf.put_keyed(&cid, &data).unwrap();
                    if !backing.has(&cid).unwrap() {
                        model_buffered.insert(cid, data.len());
                    }
                    nodes.push((cid, data));
                }
                Op::Flush(k, parallel) if !nodes.is_empty() => {
                    let root = nodes[k % nodes.len()].0;
                    let before: HashSet<Cid> = model_buffered.keys().copied().collect();
                    if parallel {
                        buf.flush_parallel(&root).unwrap();
                    } else {
                        buf.flush(&root).unwrap();
                    }
                    let reach: HashSet<Cid> = reachable(&backing, &root).into_iter().collect();
                    for c in &reach {
                        prop_assert!(!buf.is_buffered(c), "reachable block {} still buffered", c);
                        model_buffered.remove(c);
                    }
                    for c in before.difference(&reach) {
                        prop_assert!(buf.is_buffered(c), "unrelated block {} was evicted", c);
                        prop_assert!(!backing.has(c).unwrap(), "unrelated block {} was written", c);
                    }
                }
                Op::Flush(..) => {}
            }
            let expected: usize = model_buffered.values().sum();
            prop_assert_eq!(buf.stats().buffered_bytes, expected as u64);
            prop_assert_eq!(buf.stats().buffered_blocks, model_buffered.len() as u64);
        }
        // Everything is still readable through the buffer.
        for (cid, data) in &nodes {
            prop_assert_eq!(&buf.get(cid).unwrap().unwrap(), data);
        }
        buf.flush_all().unwrap();
        prop_assert_eq!(buf.stats().buffered_bytes, 0);
        for (cid, _) in &nodes {
            prop_assert!(backing.has(cid).unwrap());
        }
    }
}

#[test]
fn flush_of_a_root_with_a_dangling_link_names_the_block_and_its_parent() {
    let backing = MemoryBlockstore::new();
    let buf = BufferedBlockstore::new(&backing, BufferOptions::default());
    let (missing, _) = node(1, &[], 10);
    let (parent, data) = node(2, &[missing], 10);
    buf.put_keyed(&parent, &data).unwrap();
    match buf.flush(&parent) {
        Err(Error::MissingBlock {
            cid,
            parent: Some(p),
        }) => {
            assert_eq!(cid, missing);
            assert_eq!(p, parent);
        }
        other => panic!("expected MissingBlock, got {other:?}"),
    }
    // Nothing was written: the parent must not become durable without its child.
    assert!(!backing.has(&parent).unwrap());
    assert!(buf.is_buffered(&parent));
}

#[test]
fn links_to_blocks_already_in_the_backing_store_are_not_rewritten() {
    let backing = MemoryBlockstore::new();
    let (old, old_data) = node(1, &[], 10);
    backing.put_keyed(&old, &old_data).unwrap();
    let buf = BufferedBlockstore::new(&backing, BufferOptions::default());
    let (new, data) = node(2, &[old], 10);
    buf.put_keyed(&new, &data).unwrap();
    buf.flush(&new).unwrap();
    assert_eq!(buf.stats().flushed_blocks, 1);
    assert!(backing.has(&new).unwrap());
}

#[test]
fn read_cache_serves_repeated_backing_reads() {
    let backing = MemoryBlockstore::new();
    let (c, d) = node(1, &[], 100);
    backing.put_keyed(&c, &d).unwrap();
    let buf = BufferedBlockstore::new(&backing, BufferOptions::default());
    for _ in 0..5 {
        assert_eq!(buf.get(&c).unwrap().unwrap(), d);
    }
    let s = buf.stats();
    assert_eq!(s.backing_reads, 1);
    assert_eq!(s.cache_hits, 4);
}

/// Several threads build AMTs through one buffer into one disk store and
/// flush them concurrently, some sharing subtrees; afterwards every root must
/// be fully readable from the disk store alone (the failure mode that made a
/// peer remove its diff path).
#[test]
fn concurrent_builds_and_flushes_leave_every_root_readable_from_the_backing_store() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskStore::open(dir.path(), DiskStoreOptions::default()).unwrap();
    let buf = Arc::new(BufferedBlockstore::new(
        disk.clone(),
        BufferOptions {
            budget_bytes: 64 << 10,
            batch_bytes: 16 << 10,
            ..Default::default()
        },
    ));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let buf = buf.clone();
            std::thread::spawn(move || {
                let mut roots = Vec::new();
                for round in 0..6u64 {
                    let mut amt: Amt<Vec<u8>, _> = Amt::new_with_bit_width(&*buf, 5);
                    // Threads 0/1 and 2/3 build identical trees in round 0: shared blocks.
                    let salt = if round == 0 { t / 2 } else { t * 100 + round };
                    for i in 0..3_000u64 {
                        amt.set(i * 3, vec![(salt % 256) as u8, (i % 256) as u8, 7, 7, 7])
                            .unwrap();
                        if buf.over_budget() && i % 500 == 0 {
                            let partial = amt.flush().unwrap();
                            buf.flush(&partial).unwrap();
                        }
                    }
                    let root = amt.flush().unwrap();
                    buf.flush(&root).unwrap();
                    roots.push((root, salt));
                }
                roots
            })
        })
        .collect();
    let roots: Vec<(Cid, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    disk.sync().unwrap();
    for (root, salt) in roots {
        let amt: Amt<Vec<u8>, _> = Amt::load(&root, &disk).unwrap();
        assert_eq!(amt.count(), 3_000);
        amt.for_each(|i, v| {
            assert_eq!(v[0], (salt % 256) as u8);
            assert_eq!(v[1], ((i / 3) % 256) as u8);
            Ok(())
        })
        .unwrap();
        reachable(&disk, &root);
    }
}
