//! The HAMT diff, structure-preserving map and incremental remap, each
//! checked against `fvm_ipld_hamt` (same key set and values ⇒ same root)
//! and a `BTreeMap` model, including deletes that collapse subtrees back
//! into buckets and inserts that push buckets down.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use fil_migrate::ipld::hamt::{diff, map_entries, remap_entries, HamtBuilder};
use fil_migrate::ipld::hamt::{key_hash, HamtChange};
use fil_migrate::store::MemStore;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::RawBytes;
use fvm_ipld_hamt::{BytesKey, Hamt};
use proptest::prelude::*;

type Items = BTreeMap<Vec<u8>, Vec<u8>>;

fn model_root(store: &impl Blockstore, bw: u32, items: &Items) -> Cid {
    let mut h: Hamt<_, RawBytes, BytesKey> = Hamt::new_with_bit_width(store, bw);
    for (k, v) in items {
        h.set(BytesKey(k.clone()), RawBytes::new(v.clone()))
            .unwrap();
    }
    h.flush().unwrap()
}

/// The transform under test: a value depends on its key and old value.
fn transform_plain(key: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = v.iter().rev().copied().collect();
    out.push(key.len() as u8);
    out
}

fn transform(key: &[u8], item: &[u8]) -> fil_migrate::error::Result<Vec<u8>> {
    let v: RawBytes = fvm_ipld_encoding::from_slice(item).unwrap();
    Ok(fvm_ipld_encoding::to_vec(&RawBytes::new(transform_plain(key, &v))).unwrap())
}

fn transformed(items: &Items) -> Items {
    items
        .iter()
        .map(|(k, v)| (k.clone(), transform_plain(k, v)))
        .collect()
}

/// A thread-safe store that counts reads.
struct Counting<'a> {
    inner: &'a MemStore,
    reads: AtomicU64,
}

impl<'a> Counting<'a> {
    fn new(inner: &'a MemStore) -> Self {
        Counting {
            inner,
            reads: AtomicU64::new(0),
        }
    }

    fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl Blockstore for Counting<'_> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(k)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.inner.put_keyed(k, block)
    }
}

/// Vouches for every previous output value (the tests' transform has no
/// recognisable output).
fn vouch_all(_: &[u8]) -> bool {
    true
}

fn no_vouch(_: &[Cid]) {}

fn no_hook(_: &Cid, _: usize) -> fil_migrate::error::Result<()> {
    Ok(())
}

fn map_root(store: &(impl Blockstore + Sync), bw: u32, root: &Cid) -> Cid {
    map_entries(store, root, bw, &transform, &no_hook)
        .unwrap()
        .expect("canonical input")
        .root
}

/// The remap of `root` against the pair `(base_in, base_out)` with the
/// tests' transform, or `None` when the remap declines.
fn remap_root(
    store: &(impl Blockstore + Sync),
    root: &Cid,
    base_in: &Cid,
    base_out: &Cid,
) -> Option<fil_migrate::ipld::hamt::HamtMapped> {
    remap_entries(
        store, root, base_in, base_out, 5, &transform, &no_hook, &vouch_all, &no_vouch,
    )
    .unwrap()
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn items_strategy(max: usize) -> impl Strategy<Value = Items> {
    prop::collection::btree_map(
        key_strategy(),
        prop::collection::vec(any::<u8>(), 0..8),
        0..max,
    )
}

/// An edit: set a key (insert or update) or delete one.
#[derive(Debug, Clone)]
enum Edit {
    Set(Vec<u8>, Vec<u8>),
    Delete(usize),
}

fn edits_strategy() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (key_strategy(), prop::collection::vec(any::<u8>(), 0..8))
                .prop_map(|(k, v)| Edit::Set(k, v)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Delete),
        ],
        0..60,
    )
}

fn apply(items: &Items, edits: &[Edit]) -> Items {
    let mut out = items.clone();
    for e in edits {
        match e {
            Edit::Set(k, v) => {
                out.insert(k.clone(), v.clone());
            }
            Edit::Delete(i) if !out.is_empty() => {
                let k = out.keys().nth(i % out.len()).unwrap().clone();
                out.remove(&k);
            }
            Edit::Delete(_) => {}
        }
    }
    out
}

/// (key, value before, value after) of every changed key, in hash order.
type Changes = Vec<(Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>)>;

fn model_diff(a: &Items, b: &Items) -> Changes {
    let mut keys: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    keys.sort_by_key(|k| key_hash(k));
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}

fn our_diff(store: &impl Blockstore, bw: u32, a: &Cid, b: &Cid) -> Changes {
    let plain = |item: &[u8]| {
        fvm_ipld_encoding::from_slice::<RawBytes>(item)
            .unwrap()
            .to_vec()
    };
    let mut out = Vec::new();
    diff(store, a, b, bw, |c: HamtChange<'_>| {
        out.push((c.key.to_vec(), c.before.map(plain), c.after.map(plain)));
        Ok(())
    })
    .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn map_equals_fvm_ipld_hamt_of_the_transformed_entries(bw in 1u32..=8, items in items_strategy(300)) {
        let store = MemStore::new();
        let root = model_root(&store, bw, &items);
        prop_assert_eq!(map_root(&store, bw, &root), model_root(&store, bw, &transformed(&items)));
    }

    #[test]
    fn remap_equals_a_from_scratch_build_after_inserts_updates_and_deletes(
        bw in prop::sample::select(vec![1u32, 2, 3, 5, 5, 5, 6, 8]),
        items in items_strategy(300),
        edits in edits_strategy(),
    ) {
        let store = MemStore::new();
        let after = apply(&items, &edits);
        let base_in = model_root(&store, bw, &items);
        let base_out = map_root(&store, bw, &base_in);
        let new_in = model_root(&store, bw, &after);
        let r = remap_entries(&store, &new_in, &base_in, &base_out, bw, &transform, &no_hook, &vouch_all, &no_vouch)
            .unwrap()
            .expect("the pair lines up");
        prop_assert_eq!(r.root, model_root(&store, bw, &transformed(&after)));
        // Each change maps at most itself and the ≤ 3 neighbours of a bucket
        // that split into a subtree or a subtree that collapsed into one.
        let changes = model_diff(&items, &after).len() as u64;
        prop_assert!(r.entries_mapped <= 4 * changes, "{} mapped for {} changes", r.entries_mapped, changes);
    }

    #[test]
    fn diff_reports_exactly_the_changed_keys_in_hash_order(
        bw in 1u32..=8,
        items in items_strategy(300),
        edits in edits_strategy(),
    ) {
        let store = MemStore::new();
        let after = apply(&items, &edits);
        let a = model_root(&store, bw, &items);
        let b = model_root(&store, bw, &after);
        prop_assert_eq!(our_diff(&store, bw, &a, &b), model_diff(&items, &after));
        prop_assert_eq!(our_diff(&store, bw, &b, &a), model_diff(&after, &items));
    }
}

fn id_key(id: u64) -> Vec<u8> {
    let mut k = vec![0u8];
    let mut buf = unsigned_varint::encode::u64_buffer();
    k.extend_from_slice(unsigned_varint::encode::u64(id, &mut buf));
    k
}

/// Builds an address-keyed HAMT of `n` entries with our builder (the same
/// root as `fvm_ipld_hamt`, checked in tests/hamt.rs) fast enough for 1M.
fn big_tree(store: &impl Blockstore, n: u64, changed: &dyn Fn(u64) -> bool) -> Cid {
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|id| {
            let v = if changed(id) { id + 1 } else { id };
            let item = fvm_ipld_encoding::to_vec(&RawBytes::new(v.to_be_bytes().to_vec())).unwrap();
            (id_key(id), item)
        })
        .collect();
    entries.sort_by_cached_key(|(k, _)| key_hash(k));
    let mut b = HamtBuilder::new(store, 5).unwrap();
    for (k, v) in &entries {
        b.push(k, v).unwrap();
    }
    b.finish().unwrap()
}

#[test]
fn diff_and_remap_of_a_1m_entry_tree_read_o_changes_times_depth_nodes() {
    let mem = MemStore::new();
    let n = 1_000_000u64;
    let k = 100u64;
    let every = n / k;
    let a = big_tree(&mem, n, &|_| false);
    let b = big_tree(&mem, n, &|id| id % every == 7);
    let tracking = Counting::new(&mem);
    let mut changes = 0;
    diff(&tracking, &a, &b, 5, |c| {
        assert!(c.before.is_some() && c.after.is_some());
        changes += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(changes, k);
    // A 1M-entry tree at bit width 5 has 4 levels (32^3 nodes at depth 3
    // hold ~30 keys each, in buckets); a change reads its path in both
    // trees, the root and most depth-1 nodes shared with other changes, so
    // between 2 and 4 nodes per change and tree.
    let diff_reads = tracking.reads();
    assert!(diff_reads <= 2 * 4 * k, "diff read {diff_reads} nodes");
    assert!(diff_reads >= 2 * 2 * k, "diff read {diff_reads} nodes");

    let base_out = map_root(&mem, 5, &a);
    let calls = AtomicU64::new(0);
    let counted = |key: &[u8], v: &[u8]| {
        calls.fetch_add(1, Ordering::Relaxed);
        transform(key, v)
    };
    let tracking = Counting::new(&mem);
    let r = remap_entries(
        &tracking, &b, &a, &base_out, 5, &counted, &no_hook, &vouch_all, &no_vouch,
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.root, map_root(&mem, 5, &b), "remap equals the full map");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        k,
        "only the changed entries are transformed"
    );
    assert_eq!(r.entries_mapped, k);
    let remap_reads = tracking.reads();
    assert_eq!(remap_reads, r.nodes_read);
    assert!(remap_reads <= 3 * 4 * k, "remap read {remap_reads} nodes");
    assert!(remap_reads >= 3 * 2 * k, "remap read {remap_reads} nodes");
}

#[test]
fn map_and_remap_refuse_a_non_canonical_input() {
    // A root whose only pointer is a bucket at the wrong slot for its key:
    // a chain never writes it, and mapping it in place would keep it there.
    let store = MemStore::new();
    let key = id_key(1234);
    let right = fil_migrate::ipld::hamt::slot_at(&key_hash(&key), 0, 5).unwrap();
    let wrong = (right + 1) % 32;
    let value = fvm_ipld_encoding::to_vec(&RawBytes::new(vec![1])).unwrap();
    let mut block = Vec::new();
    fil_migrate::ipld::hamt::node::encode_node(
        &mut block,
        &[(
            wrong,
            fil_migrate::ipld::hamt::node::EncodedPointer::Bucket(vec![(&key[..], &value[..])]),
        )],
    );
    let root = fil_migrate::ipld::cids::cbor_cid(&block);
    store.put_keyed(&root, &block).unwrap();
    assert!(map_entries(&store, &root, 5, &transform, &no_hook)
        .unwrap()
        .is_none());
    let good = model_root(&store, 5, &[(vec![7u8], vec![1u8])].into_iter().collect());
    let good_out = map_root(&store, 5, &good);
    assert!(remap_root(&store, &root, &good, &good_out).is_none());
    // A base pair that is not one map's input and output does not line up.
    let other = model_root(&store, 5, &(0..50u8).map(|i| (vec![i], vec![i])).collect());
    let other_out = map_root(&store, 5, &other);
    let newer = model_root(&store, 5, &[(vec![8u8], vec![1u8])].into_iter().collect());
    assert!(remap_root(&store, &newer, &good, &other_out).is_none());
    let r = remap_root(&store, &newer, &good, &good_out).unwrap();
    assert_eq!(r.root, map_root(&store, 5, &newer));
}

#[test]
fn a_bucket_out_of_key_order_is_an_error_naming_the_node_and_its_parent() {
    // Two keys in one bucket of a child node, written in descending order.
    let store = MemStore::new();
    let keys: Vec<Vec<u8>> = (0..5000u64).map(id_key).collect();
    let slot = |k: &Vec<u8>, d| fil_migrate::ipld::hamt::slot_at(&key_hash(k), d, 5).unwrap();
    let (a, b) = keys
        .iter()
        .flat_map(|x| keys.iter().map(move |y| (x, y)))
        .find(|(x, y)| x < y && slot(x, 0) == slot(y, 0) && slot(x, 1) == slot(y, 1))
        .unwrap();
    let value = fvm_ipld_encoding::to_vec(&RawBytes::new(vec![1])).unwrap();
    use fil_migrate::ipld::hamt::node::{encode_node, EncodedPointer};
    let mut child = Vec::new();
    // Non-canonical in size too (2 keys), but order is checked first.
    encode_node(
        &mut child,
        &[(
            slot(a, 1),
            EncodedPointer::Bucket(vec![(&b[..], &value[..]), (&a[..], &value[..])]),
        )],
    );
    let child_cid = fil_migrate::ipld::cids::cbor_cid(&child);
    store.put_keyed(&child_cid, &child).unwrap();
    let mut root = Vec::new();
    encode_node(&mut root, &[(slot(a, 0), EncodedPointer::Link(child_cid))]);
    let root_cid = fil_migrate::ipld::cids::cbor_cid(&root);
    store.put_keyed(&root_cid, &root).unwrap();
    let err = map_entries(&store, &root_cid, 5, &transform, &no_hook)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&child_cid.to_string()), "{err}");
    assert!(err.contains(&root_cid.to_string()), "{err}");
    assert!(err.contains("ascending key order"), "{err}");
}

#[test]
fn a_truncated_node_is_an_error_naming_it_and_its_parent() {
    let store = MemStore::new();
    let items: Items = (0..200u64)
        .map(|i| (id_key(i), i.to_be_bytes().to_vec()))
        .collect();
    let root = model_root(&store, 5, &items);
    // Replace the root's first child by a truncated copy under the same CID.
    let data = store.get(&root).unwrap().unwrap();
    let node = fil_migrate::ipld::hamt::HamtNode::decode(data, 5, &root).unwrap();
    let child = node
        .pointers
        .iter()
        .find_map(|(_, p)| match p {
            fil_migrate::ipld::hamt::Pointer::Link(c) => Some(*c),
            _ => None,
        })
        .expect("200 keys need child nodes");
    let bytes = store.get(&child).unwrap().unwrap();
    // The root is intact; its first child (the first pointer that errs, so
    // the error reported) is cut in half.
    let damaged = MemStore::new();
    damaged
        .put_keyed(&root, &store.get(&root).unwrap().unwrap())
        .unwrap();
    damaged
        .put_keyed(&child, &bytes[..bytes.len() / 2])
        .unwrap();
    let err = map_entries(&damaged, &root, 5, &transform, &no_hook)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&child.to_string()), "{err}");
    assert!(err.contains(&format!("linked from {root}")), "{err}");
}
