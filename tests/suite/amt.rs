//! Streaming AMT algorithms checked against `fvm_ipld_amt` as the model.

use std::collections::BTreeMap;

use cid::Cid;
use fil_migrate::ipld::amt::{diff, for_each_value, AmtBuilder, AmtPatcher, ChangeKind, Patch};
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::tracking::TrackingBlockstore;
use fvm_ipld_blockstore::{Blockstore, MemoryBlockstore};
use fvm_ipld_encoding::RawBytes;
use proptest::prelude::*;

fn value_bytes(payload: &[u8]) -> Vec<u8> {
    fvm_ipld_encoding::to_vec(&RawBytes::new(payload.to_vec())).unwrap()
}

fn payload(i: u64, salt: u8) -> Vec<u8> {
    let n = (i % 7) as usize + 1;
    (0..n)
        .map(|k| (i as u8).wrapping_add(k as u8).wrapping_add(salt))
        .collect()
}

/// Root CID by the reference library.
fn model_root(store: &impl Blockstore, bw: u32, items: &BTreeMap<u64, Vec<u8>>) -> Cid {
    let mut amt = Amt::new_with_bit_width(store, bw);
    for (i, v) in items {
        amt.set(*i, RawBytes::new(v.clone())).unwrap();
    }
    amt.flush().unwrap()
}

fn built_root(store: &impl Blockstore, bw: u32, items: &BTreeMap<u64, Vec<u8>>) -> Cid {
    let mut b = AmtBuilder::new(store, bw).unwrap();
    for (i, v) in items {
        b.push(*i, &value_bytes(v)).unwrap();
    }
    b.finish().unwrap()
}

fn contents(store: &impl Blockstore, root: &Cid) -> BTreeMap<u64, Vec<u8>> {
    let mut out = BTreeMap::new();
    for_each_value(store, root, |i, v| {
        let rb: RawBytes = fvm_ipld_encoding::from_slice(v).unwrap();
        out.insert(i, rb.to_vec());
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn builder_matches_fvm_ipld_amt_for_every_bit_width_and_edge_count() {
    for bw in 1..=8u32 {
        for count in [
            0u64, 1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 1025,
        ] {
            let items: BTreeMap<u64, Vec<u8>> = (0..count).map(|i| (i, payload(i, 1))).collect();
            let store = MemoryBlockstore::new();
            assert_eq!(
                built_root(&store, bw, &items),
                model_root(&store, bw, &items),
                "bit width {bw}, count {count}"
            );
        }
    }
}

#[test]
fn builder_matches_for_sparse_indices_up_to_2_pow_40() {
    for bw in [1u32, 3, 5, 8] {
        let items: BTreeMap<u64, Vec<u8>> = [0u64, 5, 1 << 20, (1 << 33) + 7, 1 << 40]
            .into_iter()
            .map(|i| (i, payload(i, 2)))
            .collect();
        let store = MemoryBlockstore::new();
        assert_eq!(
            built_root(&store, bw, &items),
            model_root(&store, bw, &items),
            "bw {bw}"
        );
        // A single far index alone.
        let one: BTreeMap<u64, Vec<u8>> = [(1u64 << 40, vec![1])].into_iter().collect();
        assert_eq!(
            built_root(&store, bw, &one),
            model_root(&store, bw, &one),
            "bw {bw}"
        );
    }
}

#[test]
fn builder_matches_for_100k_entries() {
    let items: BTreeMap<u64, Vec<u8>> = (0..100_000u64)
        .map(|i| (i * 3 / 2, payload(i, 3)))
        .collect();
    let store = MemoryBlockstore::new();
    assert_eq!(built_root(&store, 5, &items), model_root(&store, 5, &items));
}

/// Golden roots: pinned so that a change in either implementation's encoding is caught.
#[test]
fn golden_roots_of_fixed_small_trees() {
    let store = MemoryBlockstore::new();
    let empty: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let three: BTreeMap<u64, Vec<u8>> = [(0u64, vec![1]), (1, vec![2]), (40, vec![3])]
        .into_iter()
        .collect();
    let hundred: BTreeMap<u64, Vec<u8>> = (0..100u64).map(|i| (i, vec![i as u8])).collect();
    let got: Vec<String> = [&empty, &three, &hundred]
        .iter()
        .map(|m| {
            let ours = built_root(&store, 5, m);
            assert_eq!(ours, model_root(&store, 5, m));
            ours.to_string()
        })
        .collect();
    assert_eq!(
        got,
        [
            "bafy2bzaceacu3yonapahihxmnhzuvk76yupwjmyeymd2l5n6xfs5st52shm6a",
            "bafy2bzacecvzqjcdhdzsy6mzbxezne2s6ton3gkabhpzctldxvbwpcsdrerci",
            "bafy2bzaced7xx5p65tqxaz3bjcvbmqxlymzwekmcts4rr37ghtnexdigucu5k",
        ]
    );
}

fn arb_map(max_index: u64, max_len: usize) -> impl Strategy<Value = BTreeMap<u64, Vec<u8>>> {
    prop::collection::btree_map(
        0..max_index,
        prop::collection::vec(any::<u8>(), 0..12),
        0..max_len,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn builder_matches_model(bw in 1u32..=8, items in arb_map(1 << 14, 300)) {
        let store = MemoryBlockstore::new();
        prop_assert_eq!(built_root(&store, bw, &items), model_root(&store, bw, &items));
    }

    #[test]
    fn patcher_matches_model(
        bw in 1u32..=6,
        initial in arb_map(1 << 12, 200),
        changes in prop::collection::btree_map(0u64..(1 << 13), prop::option::of(prop::collection::vec(any::<u8>(), 0..8)), 0..200),
    ) {
        let store = MemoryBlockstore::new();
        let start = model_root(&store, bw, &initial);

        // The model: fvm_ipld_amt applying the same changes.
        let mut amt: Amt<RawBytes, _> = Amt::load(&start, &store).unwrap();
        let mut expected = initial.clone();
        for (i, c) in &changes {
            match c {
                Some(v) => { amt.set(*i, RawBytes::new(v.clone())).unwrap(); expected.insert(*i, v.clone()); }
                None => { amt.delete(*i).unwrap(); expected.remove(i); }
            }
        }
        let model = amt.flush().unwrap();

        let mut p = AmtPatcher::open(&store, &start).unwrap();
        let encoded: Vec<(u64, Option<Vec<u8>>)> = changes.iter().map(|(i, c)| (*i, c.as_ref().map(|v| value_bytes(v)))).collect();
        for (i, c) in &encoded {
            match c {
                Some(v) => p.apply(Patch::Set(*i, v)).unwrap(),
                None => p.apply(Patch::Delete(*i)).unwrap(),
            }
        }
        let got = p.finish().unwrap();
        prop_assert_eq!(got, model);
        prop_assert_eq!(contents(&store, &got), expected);
    }

    #[test]
    fn diff_matches_the_naive_difference(
        bw in 1u32..=6,
        a in arb_map(1 << 12, 200),
        edits in prop::collection::btree_map(0u64..(1 << 13), prop::option::of(prop::collection::vec(any::<u8>(), 0..8)), 0..60),
    ) {
        let store = MemoryBlockstore::new();
        let mut b = a.clone();
        for (i, e) in &edits {
            match e { Some(v) => { b.insert(*i, v.clone()); } None => { b.remove(i); } }
        }
        let ra = model_root(&store, bw, &a);
        let rb = model_root(&store, bw, &b);
        let mut got = Vec::new();
        diff(&store, &ra, &rb, |c| {
            let dec = |x: Option<&[u8]>| x.map(|v| fvm_ipld_encoding::from_slice::<RawBytes>(v).unwrap().to_vec());
            got.push((c.index, c.kind, dec(c.before), dec(c.after)));
            Ok(())
        }).unwrap();
        let mut want = Vec::new();
        let keys: std::collections::BTreeSet<u64> = a.keys().chain(b.keys()).copied().collect();
        for k in keys {
            match (a.get(&k), b.get(&k)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => want.push((k, ChangeKind::Modify, Some(x.clone()), Some(y.clone()))),
                (Some(x), None) => want.push((k, ChangeKind::Remove, Some(x.clone()), None)),
                (None, Some(y)) => want.push((k, ChangeKind::Add, None, Some(y.clone()))),
                (None, None) => unreachable!(),
            }
        }
        prop_assert_eq!(got, want);
    }
}

#[test]
fn patching_everything_away_gives_the_empty_root() {
    let store = MemoryBlockstore::new();
    let items: BTreeMap<u64, Vec<u8>> = (0..2000u64).map(|i| (i * 5, payload(i, 9))).collect();
    let start = built_root(&store, 5, &items);
    let mut p = AmtPatcher::open(&store, &start).unwrap();
    for i in items.keys() {
        p.apply(Patch::Delete(*i)).unwrap();
    }
    let got = p.finish().unwrap();
    assert_eq!(got, built_root(&store, 5, &BTreeMap::new()));
}

#[test]
fn diff_rejects_different_bit_widths_and_handles_empty_sides() {
    let store = MemoryBlockstore::new();
    let items: BTreeMap<u64, Vec<u8>> = (0..100u64).map(|i| (i, payload(i, 4))).collect();
    let a = built_root(&store, 5, &items);
    let b = built_root(&store, 4, &items);
    assert!(diff(&store, &a, &b, |_| Ok(())).is_err());
    let empty = built_root(&store, 5, &BTreeMap::new());
    let mut adds = 0;
    diff(&store, &empty, &a, |c| {
        assert_eq!(c.kind, ChangeKind::Add);
        adds += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(adds, 100);
}

fn sector_like_value(i: u64, salt: u8) -> Vec<u8> {
    let mut v = vec![salt; 200];
    v[..8].copy_from_slice(&i.to_be_bytes());
    value_bytes(&v)
}

/// Two 1M-entry trees that differ in k entries: the diff must read
/// O(k × height) nodes, not O(n), and the patcher must write O(k × height).
#[test]
fn diff_and_patch_of_1m_entry_trees_touch_only_changed_paths() {
    const N: u64 = 1_000_000;
    let mem = MemoryBlockstore::new();
    let mut b = AmtBuilder::new(&mem, 5).unwrap();
    for i in 0..N {
        b.push(i, &sector_like_value(i, 0)).unwrap();
    }
    let old = b.finish().unwrap();
    let changed: Vec<u64> = (0..100u64).map(|k| k * 9_973 + 17).collect();
    let mut p = AmtPatcher::open(&mem, &old).unwrap();
    let news: Vec<Vec<u8>> = changed.iter().map(|i| sector_like_value(*i, 1)).collect();
    for (i, v) in changed.iter().zip(&news) {
        p.apply(Patch::Set(*i, v)).unwrap();
    }
    let written = p.nodes_written;
    let new = p.finish().unwrap();
    // height of a 1M tree with bit width 5 is 3 (32^4 > 1M): 3 non-root nodes per change at most.
    assert!(written <= 100 * 3, "patcher wrote {written} nodes");

    let tracking = TrackingBlockstore::new(&mem);
    let mut seen = Vec::new();
    diff(&tracking, &old, &new, |c| {
        assert_eq!(c.kind, ChangeKind::Modify);
        seen.push(c.index);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, changed);
    let reads = tracking.stats.borrow().r;
    // 2 roots + 2 × (changed paths: at most 3 nodes each).
    assert!(reads <= 2 + 2 * 3 * 100, "diff read {reads} nodes");
    assert!(
        reads >= 2 + 2 * 100,
        "diff read implausibly few nodes: {reads}"
    );
}

#[test]
fn parallel_map_equals_a_rebuild_and_refuses_non_canonical_input() {
    use fil_migrate::ipld::amt::map::map_values;
    use fil_migrate::ipld::amt::{AmtRoot, Node, Slot};
    let store = fil_migrate::store::MemStore::new();
    let items: BTreeMap<u64, Vec<u8>> = (0..5_000u64).map(|i| (i * 7, payload(i, 1))).collect();
    let root = built_root(&store, 5, &items);
    // `v` runs on to the leaf's next values: the mapper takes one.
    let f = |_: u64, v: &[u8], out: &mut Vec<u8>| {
        let one = fil_migrate::ipld::cbor::Cursor::new(v).skip().unwrap();
        let len = one.end;
        let mut rb: RawBytes = fvm_ipld_encoding::from_slice(&v[one]).unwrap();
        let mut b = rb.to_vec();
        b.push(0xaa);
        rb = RawBytes::new(b);
        out.extend_from_slice(&fvm_ipld_encoding::to_vec(&rb).unwrap());
        Ok(len)
    };
    let mapped = map_values(&store, &root, 5, &f, &|_| Ok(()))
        .unwrap()
        .unwrap();
    assert_eq!(mapped.values_mapped, items.len() as u64);
    let mapped = mapped.root;
    let expected: BTreeMap<u64, Vec<u8>> = items
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.push(0xaa);
            (*k, v)
        })
        .collect();
    assert_eq!(mapped, model_root(&store, 5, &expected));

    // Excess height (root holding only its first child): not canonical.
    let r = AmtRoot::load(&store, &root).unwrap();
    let mut node_bytes = Vec::new();
    r.node.encode(&mut node_bytes, 5);
    let child = fil_migrate::ipld::cids::cbor_cid(&node_bytes);
    store.put_keyed(&child, &node_bytes).unwrap();
    let mut top = Node::empty(5);
    top.slots[0] = Slot::Link(child);
    let tall = AmtRoot {
        bit_width: 5,
        height: r.height + 1,
        count: r.count,
        node: top,
    }
    .store(&store)
    .unwrap();
    assert_eq!(map_values(&store, &tall, 5, &f, &|_| Ok(())).unwrap(), None);
    // A wrong bit width is refused too.
    assert_eq!(map_values(&store, &root, 4, &f, &|_| Ok(())).unwrap(), None);
}

/// Appends `v` plus one byte (0xaa): a value map whose output differs in
/// length from its input, as the sector transcode's does.
fn grow_one(_: u64, v: &[u8], out: &mut Vec<u8>) -> fil_migrate::error::Result<usize> {
    let one = fil_migrate::ipld::cbor::Cursor::new(v).skip().unwrap();
    let len = one.end;
    let mut b = fvm_ipld_encoding::from_slice::<RawBytes>(&v[one])
        .unwrap()
        .to_vec();
    b.push(0xaa);
    out.extend_from_slice(&fvm_ipld_encoding::to_vec(&RawBytes::new(b)).unwrap());
    Ok(len)
}

fn grown(items: &BTreeMap<u64, Vec<u8>>) -> BTreeMap<u64, Vec<u8>> {
    items
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.push(0xaa);
            (*k, v)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The incremental map of a changed tree equals fvm_ipld_amt's tree of the
    /// mapped values, or declines (different heights) — never a wrong root.
    #[test]
    fn incremental_map_matches_the_model(
        bw in 1u32..=5,
        a in arb_map(1 << 12, 300),
        edits in prop::collection::btree_map(0u64..(1 << 12), prop::option::of(prop::collection::vec(any::<u8>(), 0..8)), 0..80),
    ) {
        use fil_migrate::ipld::amt::map::map_values;
        use fil_migrate::ipld::amt::remap::remap_changed;
        let store = fil_migrate::store::MemStore::new();
        let mut b = a.clone();
        for (i, e) in &edits {
            match e { Some(v) => { b.insert(*i, v.clone()); } None => { b.remove(i); } }
        }
        let (ra, rb) = (model_root(&store, bw, &a), model_root(&store, bw, &b));
        let Some(out_a) = map_values(&store, &ra, bw, &grow_one, &|_| Ok(())).unwrap() else {
            return Ok(()); // the empty tree
        };
        let out_a = out_a.root;
        let vouched = std::sync::Mutex::new(0usize);
        let vouch = |l: &[Cid]| *vouched.lock().unwrap() += l.len();
        let got = remap_changed(&store, &rb, &ra, &out_a, bw, &grow_one, &|_| Ok(()), &vouch).unwrap();
        let ha = fil_migrate::ipld::amt::AmtRoot::load(&store, &ra).unwrap().height;
        let hb = fil_migrate::ipld::amt::AmtRoot::load(&store, &rb).unwrap().height;
        match got {
            Some(r) => {
                prop_assert_eq!(r.root, model_root(&store, bw, &grown(&b)));
                prop_assert!(r.values_mapped <= b.len() as u64);
            }
            None => prop_assert!(ha != hb || ha == 0 || b.is_empty(), "declined at equal heights {}", ha),
        }
    }
}

#[test]
fn incremental_map_of_1m_entries_maps_only_the_changed_leaves() {
    use fil_migrate::ipld::amt::map::map_values;
    use fil_migrate::ipld::amt::remap::remap_changed;
    let store = fil_migrate::store::MemStore::new();
    let mut items: BTreeMap<u64, Vec<u8>> = (0..1_000_000u64).map(|i| (i, payload(i, 1))).collect();
    let ra = built_root(&store, 5, &items);
    let out_a = map_values(&store, &ra, 5, &grow_one, &|_| Ok(()))
        .unwrap()
        .unwrap()
        .root;
    // 100 scattered edits and a removed run of 40,000 (whole subtrees).
    for k in 0..100u64 {
        items.insert(k * 9_973, payload(k, 2));
    }
    for k in 500_000..540_000u64 {
        items.remove(&k);
    }
    let rb = built_root(&store, 5, &items);
    let r = remap_changed(&store, &rb, &ra, &out_a, 5, &grow_one, &|_| Ok(()), &|_| {})
        .unwrap()
        .unwrap();
    assert_eq!(r.root, built_root(&store, 5, &grown(&items)));
    assert!(
        r.values_mapped <= 100 * 32 + 64,
        "{} values mapped",
        r.values_mapped
    );
}

/// `par_build` over `items` (one value each), in a store shared by workers.
fn par_built_root(
    store: &fil_migrate::store::MemStore,
    bw: u32,
    items: &BTreeMap<u64, Vec<u8>>,
) -> Cid {
    let items: Vec<(u64, Vec<u8>)> = items.iter().map(|(i, v)| (*i, v.clone())).collect();
    fil_migrate::ipld::amt::par_build(
        store,
        bw,
        &items,
        |t| t.0,
        |run, out| {
            assert_eq!(run.len(), 1, "distinct indices make runs of one");
            out.extend_from_slice(&value_bytes(&run[0].1));
            Ok(())
        },
        |_| Ok(()),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn parallel_builder_matches_model(bw in 1u32..=8, items in arb_map(1 << 14, 300)) {
        let store = fil_migrate::store::MemStore::new();
        prop_assert_eq!(par_built_root(&store, bw, &items), model_root(&store, bw, &items));
    }
}

#[test]
fn parallel_builder_matches_for_sparse_indices_and_groups_runs() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let store = fil_migrate::store::MemStore::new();
    // Sparse up to 2^40, three levels and more: several root slots.
    let items: BTreeMap<u64, Vec<u8>> = (0..3_000u64)
        .map(|i| (i * i * 122_177 % (1 << 40), payload(i, 3)))
        .collect();
    for bw in [1, 3, 5, 6, 8] {
        assert_eq!(
            par_built_root(&store, bw, &items),
            model_root(&store, bw, &items),
            "bit width {bw}"
        );
    }
    // Runs of equal indices make one value each; the hook sees every
    // finished subtree above the leaves.
    let listed: Vec<(u64, u8)> = (0..20_000u64)
        .flat_map(|i| (0..(i % 3 + 1)).map(move |k| (i * 7, (i + k) as u8)))
        .collect();
    let grouped: BTreeMap<u64, Vec<u8>> = listed
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|t| t.1).collect()))
        .collect();
    let hooked = AtomicU64::new(0);
    let root = fil_migrate::ipld::amt::par_build(
        &store,
        5,
        &listed,
        |t| t.0,
        |run, out| {
            let bytes: Vec<u8> = run.iter().map(|t| t.1).collect();
            out.extend_from_slice(&value_bytes(&bytes));
            Ok(())
        },
        |_| {
            hooked.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(root, model_root(&store, 5, &grouped));
    assert_eq!(contents(&store, &root), grouped);
    assert!(hooked.load(Ordering::Relaxed) > 100);
}

#[test]
fn parallel_builder_refuses_values_out_of_order_and_builds_the_empty_tree() {
    let store = fil_migrate::store::MemStore::new();
    let err = fil_migrate::ipld::amt::par_build(
        &store,
        5,
        &[3u64, 2_000_000, 1_000],
        |t| *t,
        |_, out| {
            out.push(0xf6);
            Ok(())
        },
        |_| Ok(()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
    let empty = fil_migrate::ipld::amt::par_build(
        &store,
        5,
        &[] as &[u64],
        |t| *t,
        |_, _| Ok(()),
        |_| Ok(()),
    )
    .unwrap();
    assert_eq!(empty, model_root(&store, 5, &BTreeMap::new()));
}
