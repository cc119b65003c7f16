//! Real chain data, which no generator of ours can vouch for:
//!
//! - `testdata/corpus/mainnet-v9-v10-states.car`: init, market, power and
//!   miner states (actors v9 and v10, mainnet epochs 2,679,332–2,799,999)
//!   with every block of theirs the test-vector corpus holds (see
//!   `testdata/corpus/README.md`);
//! - the 125,989 real mainnet sector infos of the shared test data
//!   (`mainnet-sector-leaves.car`, in the shared test-data directory beside
//!   the repository; `FIL_MIGRATE_SECTOR_LEAVES` names another path).
//!
//! Every structure decodes with the typed actor crates and re-encodes to
//! its own bytes; v10's layouts are v11's, so the whole ones are grafted
//! into generated v11 states and migrated through every upgrade, each step
//! equal to the typed reference path.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::actors::state_tree::{get_cbor, put_cbor, ActorState, StateRoot};
use fil_migrate::ipld::amt::node::Node;
use fil_migrate::ipld::amt::root::AmtRoot;
use fil_migrate::migration::chain::upgrade_path;
use fil_migrate::migration::detect::state_facts;
use fil_migrate::migration::reference::reference_root;
use fil_migrate::migration::{migrate_state, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::{CarSource, CarSourceOptions, MemStore};
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;
use fvm_ipld_hamt::{BytesKey, Hamt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::common::states::{generate, small_config};

/// One extracted actor state, as the corpus index lists it.
#[derive(Debug, Clone, Serialize_tuple, Deserialize_tuple)]
struct Extracted {
    kind: String,
    vector: String,
    epoch: i64,
    actor: u64,
    head: Cid,
    state_tree_version: u64,
    actors_version: u64,
}

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/corpus/mainnet-v9-v10-states.car")
}

/// The corpus's blocks and its index.
fn corpus() -> (MemStore, Vec<Extracted>) {
    let car = CarSource::open(corpus_path(), CarSourceOptions::default()).unwrap();
    let store = MemStore::new();
    let index = car.roots()[0];
    let mut stack = vec![index];
    let mut seen = std::collections::HashSet::new();
    while let Some(c) = stack.pop() {
        if !seen.insert(c) {
            continue;
        }
        let Some(data) = car.read(&c).unwrap() else {
            continue; // a partial DAG: only what the vector's message touched
        };
        if c.codec() == 0x71 {
            stack.extend(fil_migrate::ipld::links::links_of(&c, &data).unwrap());
        }
        store.put_keyed(&c, &data).unwrap();
    }
    let entries: Vec<Extracted> = get_cbor(&store, &index, "corpus index").unwrap();
    (store, entries)
}

/// Decodes `cid` as `T` and checks that it re-encodes to the same bytes.
fn round_trip<T: Serialize + DeserializeOwned>(store: &MemStore, cid: &Cid, what: &str) -> T {
    let bytes = store
        .get(cid)
        .unwrap()
        .unwrap_or_else(|| panic!("{what} {cid}"));
    let v: T =
        fvm_ipld_encoding::from_slice(&bytes).unwrap_or_else(|e| panic!("{what} {cid}: {e}"));
    assert_eq!(
        fvm_ipld_encoding::to_vec(&v).unwrap(),
        bytes,
        "{what} {cid} re-encodes to other bytes"
    );
    v
}

/// Every value of the AMT `root` in the nodes present (a partial AMT
/// yields what the vector holds).
fn present_values(store: &MemStore, root: &Cid) -> Vec<(u64, Vec<u8>)> {
    let Some(data) = store.get(root).unwrap() else {
        return Vec::new();
    };
    let r = AmtRoot::decode(data, root).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![(r.node, r.height, 0u64)];
    let width = 1u64 << r.bit_width;
    while let Some((node, height, base)) = stack.pop() {
        let span = width.pow(height);
        for slot in 0..width as usize {
            let at = base + slot as u64 * span;
            if let Some(v) = node.value(slot) {
                out.push((at, v.to_vec()));
            } else if let Some(c) = node.link(slot) {
                if let Some(d) = store.get(&c).unwrap() {
                    let child = Node::decode_block(d, r.bit_width, height - 1, &c).unwrap();
                    stack.push((child, height - 1, at));
                }
            }
        }
    }
    out
}

#[test]
fn every_extracted_structure_decodes_and_reencodes_to_its_own_bytes() {
    use fil_actor_market_state::{v10 as mk10, v9 as mk9};
    use fil_actor_miner_state::{v10 as mi10, v11 as mi11, v9 as mi9};
    let (store, entries) = corpus();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &entries {
        let what = format!(
            "{} f0{} of {} (epoch {})",
            e.kind, e.actor, e.vector, e.epoch
        );
        assert!(e.actors_version == 9 || e.actors_version == 10, "{what}");
        let v9 = e.actors_version == 9;
        match e.kind.as_str() {
            "init" => {
                let name = if v9 {
                    round_trip::<fil_actor_init_state::v9::State>(&store, &e.head, &what)
                        .network_name
                } else {
                    round_trip::<fil_actor_init_state::v10::State>(&store, &e.head, &what)
                        .network_name
                };
                // Liftoff renamed the genesis `testnetnet`: the live chain says `mainnet`.
                assert_eq!(name, "mainnet", "{what}");
                assert_eq!(Network::from_chain_name(&name), Some(Network::Mainnet));
                *counts.entry("init").or_default() += 1;
            }
            "power" => {
                if v9 {
                    round_trip::<fil_actor_power_state::v9::State>(&store, &e.head, &what);
                } else {
                    round_trip::<fil_actor_power_state::v10::State>(&store, &e.head, &what);
                }
                *counts.entry("power").or_default() += 1;
            }
            "market" => {
                let (proposals, states) = if v9 {
                    let st = round_trip::<mk9::State>(&store, &e.head, &what);
                    (st.proposals, st.states)
                } else {
                    let st = round_trip::<mk10::State>(&store, &e.head, &what);
                    (st.proposals, st.states)
                };
                for (id, v) in present_values(&store, &proposals) {
                    let p: mk9::DealProposal = fvm_ipld_encoding::from_slice(&v).unwrap();
                    assert_eq!(fvm_ipld_encoding::to_vec(&p).unwrap(), v, "deal {id}");
                    *counts.entry("deal proposal").or_default() += 1;
                }
                for (id, v) in present_values(&store, &states) {
                    let s: mk9::DealState = fvm_ipld_encoding::from_slice(&v).unwrap();
                    assert_eq!(fvm_ipld_encoding::to_vec(&s).unwrap(), v, "deal state {id}");
                    *counts.entry("deal state").or_default() += 1;
                }
                *counts.entry("market").or_default() += 1;
            }
            "miner" => {
                let (deadlines, sectors) = if v9 {
                    let st = round_trip::<mi9::State>(&store, &e.head, &what);
                    (st.deadlines, st.sectors)
                } else {
                    let st = round_trip::<mi10::State>(&store, &e.head, &what);
                    (st.deadlines, st.sectors)
                };
                // v11 reads v9 and v10 miner states as they are.
                round_trip::<mi11::State>(&store, &e.head, &what);
                let dls = round_trip::<mi9::Deadlines>(&store, &deadlines, &what);
                for d in &dls.due {
                    if store.has(d).unwrap() {
                        let dl = round_trip::<mi9::Deadline>(&store, d, &what);
                        *counts.entry("deadline").or_default() += 1;
                        for (_, v) in present_values(&store, &dl.partitions) {
                            let p: mi9::Partition = fvm_ipld_encoding::from_slice(&v).unwrap();
                            assert_eq!(fvm_ipld_encoding::to_vec(&p).unwrap(), v, "{what}");
                            *counts.entry("partition").or_default() += 1;
                        }
                    }
                }
                for (n, v) in present_values(&store, &sectors) {
                    let s: mi11::SectorOnChainInfo = fvm_ipld_encoding::from_slice(&v).unwrap();
                    assert_eq!(s.sector_number, n, "{what}");
                    assert_eq!(fvm_ipld_encoding::to_vec(&s).unwrap(), v, "{what}");
                    let mut out = Vec::new();
                    fil_migrate::actors::sector_v11_v12::transcode(&v, &mut out).unwrap();
                    assert_eq!(
                        out,
                        fil_migrate::actors::sector_v11_v12::typed(&v).unwrap(),
                        "{what} sector {n}"
                    );
                    *counts.entry("sector").or_default() += 1;
                }
                *counts.entry("miner").or_default() += 1;
            }
            other => panic!("unknown kind {other}"),
        }
    }
    eprintln!("decoded and re-encoded: {counts:?}");
    for (kind, at_least) in [
        ("init", 2),
        ("market", 2),
        ("power", 2),
        ("miner", 4),
        ("deal proposal", 20),
        ("deal state", 1),
        ("deadline", 48),
        ("partition", 1),
        ("sector", 10),
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= at_least,
            "{kind}: {counts:?}"
        );
    }
}

fn opts() -> MigrationOptions {
    MigrationOptions {
        threads: 2,
        memory_budget: 4 << 20,
        ..Default::default()
    }
}

/// Every upgrade on mainnet from v11 through `last`, each step's engine
/// root equal to the typed reference path's; returns the roots.
fn through_every_upgrade(store: &MemStore, v11: &Cid, last: &str) -> Vec<(String, Cid)> {
    let first = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let specs = upgrade_path(Network::Mainnet, &first.old_manifest.data_cid, last).unwrap();
    let mut root = *v11;
    let mut out = Vec::new();
    for spec in &specs {
        let engine = migrate_state(store, &root, spec, &NoCache, &opts())
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name))
            .state_root;
        let reference = reference_root(store, &root, spec).unwrap();
        assert_eq!(engine, reference, "{}", spec.name);
        out.push((spec.name.clone(), engine));
        root = engine;
    }
    out
}

/// `state` with `f` applied to its actors HAMT.
fn edit_actors(
    store: &MemStore,
    state: &Cid,
    f: impl FnOnce(&mut Hamt<&MemStore, ActorState, BytesKey>),
) -> Cid {
    let sr: StateRoot = get_cbor(store, state, "state root").unwrap();
    let mut actors = Hamt::load_with_bit_width(&sr.actors, store, 5).unwrap();
    f(&mut actors);
    let actors = actors.flush().unwrap();
    put_cbor(store, &StateRoot { actors, ..sr }).unwrap()
}

fn id_key(id: u64) -> BytesKey {
    BytesKey(fvm_shared3::address::Address::new_id(id).to_bytes())
}

fn v11_code(name: &str) -> Cid {
    Upgrade::load("nv21", Network::Mainnet)
        .unwrap()
        .old_manifest
        .code_of(name)
        .unwrap()
}

/// Copies the corpus's blocks into `store`.
fn add_corpus(store: &MemStore, corpus: &MemStore) {
    for (c, d) in corpus.entries() {
        store.put_keyed(&c, &d).unwrap();
    }
}

#[test]
fn real_miners_and_the_real_init_grafted_into_a_v11_state_migrate_as_the_reference_does() {
    let (corpus, entries) = corpus();
    let mut cfg = small_config(Network::Mainnet, 3, 200, 41);
    cfg.deals_per_sector = 1;
    cfg.mining_reserve = true;
    cfg.solstice_contracts = true;
    let (store, v11) = generate(&cfg);
    add_corpus(&store, &corpus);
    // Whole miner DAGs (miners just created): the real v10 layouts are v11's.
    let whole: Vec<&Extracted> = entries
        .iter()
        .filter(|e| e.kind == "miner")
        .filter(|e| is_whole_dag(&store, &e.head))
        .collect();
    assert!(whole.len() >= 2, "no whole miner DAG in the corpus");
    let miner = v11_code("storageminer");
    let grafted = edit_actors(&store, &v11, |actors| {
        for e in &whole {
            actors
                .set(
                    id_key(e.actor),
                    ActorState {
                        code: miner,
                        head: e.head,
                        sequence: 0,
                        balance: Default::default(),
                        delegated_address: None,
                    },
                )
                .unwrap();
        }
    });
    let roots = through_every_upgrade(&store, &grafted, "nv29");
    assert_eq!(roots.len(), 8);

    // The real init state (its address map partial: every upgrade up to
    // nv28 keeps the init head as it is, nv29 reads the map).
    let init = entries
        .iter()
        .find(|e| e.kind == "init" && e.actors_version == 10)
        .unwrap();
    let with_init = edit_actors(&store, &v11, |actors| {
        let mut a = actors.get(&id_key(1)).unwrap().unwrap().clone();
        a.head = init.head;
        actors.set(id_key(1), a).unwrap();
    });
    let facts = state_facts(&store, &with_init).unwrap();
    assert_eq!(facts.network_name, "mainnet");
    assert_eq!(facts.resolve_network(None).unwrap(), Network::Mainnet);
    through_every_upgrade(&store, &with_init, "nv28");
}

/// Whether every block reachable from `head` is in `store`.
fn is_whole_dag(store: &MemStore, head: &Cid) -> bool {
    let mut stack = vec![*head];
    let mut seen = std::collections::HashSet::new();
    while let Some(c) = stack.pop() {
        if !fil_migrate::ipld::cids::is_walkable(&c) || !seen.insert(c) {
            continue;
        }
        let Some(d) = store.get(&c).unwrap() else {
            return false;
        };
        stack.extend(fil_migrate::ipld::links::links_of(&c, &d).unwrap());
    }
    true
}

#[test]
fn real_deal_proposals_and_states_in_a_v11_market_migrate_as_the_reference_does() {
    use fil_actor_market_state::v11 as mk;
    let (corpus, entries) = corpus();
    let mut cfg = small_config(Network::Mainnet, 3, 300, 42);
    cfg.deals_per_sector = 2;
    cfg.mining_reserve = true;
    cfg.solstice_contracts = true;
    let (store, v11) = generate(&cfg);
    // Every real proposal and deal state the corpus holds.
    let mut proposals = BTreeMap::new();
    let mut states = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind == "market") {
        let st: fil_actor_market_state::v9::State = get_cbor(&corpus, &e.head, "market").unwrap();
        for (id, v) in present_values(&corpus, &st.proposals) {
            proposals.insert(id, v);
        }
        for (id, v) in present_values(&corpus, &st.states) {
            states.insert(id, v);
        }
    }
    assert!(proposals.len() >= 20 && !states.is_empty());
    // A real state whose proposal the corpus lacks has none to migrate by.
    states.retain(|id, _| proposals.contains_key(id));
    let sr: StateRoot = get_cbor(&store, &v11, "root").unwrap();
    let actors: Hamt<_, ActorState, BytesKey> =
        Hamt::load_with_bit_width(&sr.actors, &store, 5).unwrap();
    let mut market_actor = actors.get(&id_key(5)).unwrap().unwrap().clone();
    let mut market: mk::State = get_cbor(&store, &market_actor.head, "market").unwrap();
    let mut p_amt =
        fvm_ipld_amt::Amt::<mk::DealProposal, _>::load(&market.proposals, &store).unwrap();
    let mut s_amt = fvm_ipld_amt::Amt::<mk::DealState, _>::load(&market.states, &store).unwrap();
    for (id, v) in &proposals {
        let p: mk::DealProposal = fvm_ipld_encoding::from_slice(v).unwrap();
        assert_eq!(
            &fvm_ipld_encoding::to_vec(&p).unwrap(),
            v,
            "v11 reads real proposal {id}"
        );
        p_amt.set(*id, p).unwrap();
    }
    for (id, v) in &states {
        let s: mk::DealState = fvm_ipld_encoding::from_slice(v).unwrap();
        assert_eq!(
            &fvm_ipld_encoding::to_vec(&s).unwrap(),
            v,
            "v11 reads real state {id}"
        );
        s_amt.set(*id, s).unwrap();
    }
    market.proposals = p_amt.flush().unwrap();
    market.states = s_amt.flush().unwrap();
    market.next_id = market.next_id.max(proposals.keys().last().unwrap() + 1);
    market_actor.head = put_cbor(&store, &market).unwrap();
    let grafted = edit_actors(&store, &v11, |a| {
        a.set(id_key(5), market_actor).unwrap();
    });
    through_every_upgrade(&store, &grafted, "nv29");
}

/// The shared real sector infos, if present (see the module docs).
fn sector_leaves() -> Option<PathBuf> {
    // The shared test data lies beside the checkout (`../shared`); an
    // ancestor's `shared/` is looked at too, for a checkout one level down.
    let p = std::env::var_os("FIL_MIGRATE_SECTOR_LEAVES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let candidates: Vec<PathBuf> = here
                .ancestors()
                .skip(1)
                .map(|a| a.join("shared/testdata/mainnet-sector-leaves.car"))
                .collect();
            candidates
                .iter()
                .find(|c| c.exists())
                .cloned()
                .unwrap_or_else(|| candidates[0].clone())
        });
    if p.exists() {
        return Some(p);
    }
    // CI always has the shared test data: there its absence is a failure.
    assert!(
        std::env::var_os("CI").is_none(),
        "real sector infos not found at {}",
        p.display()
    );
    eprintln!("skipped: real sector infos not found at {}", p.display());
    None
}

/// Every real sector info, with its sector number (the leaves' values as
/// the chain wrote them; numbers repeat across the miners they came from).
fn real_sectors() -> Option<Vec<(u64, Vec<u8>)>> {
    let car = CarSource::open(sector_leaves()?, CarSourceOptions::default()).unwrap();
    let list: Vec<Cid> =
        fvm_ipld_encoding::from_slice(&car.read(&car.roots()[0]).unwrap().unwrap()).unwrap();
    let mut out = Vec::new();
    for leaf in list {
        let data = car.read(&leaf).unwrap().unwrap();
        let node = Node::decode_block(data, 5, 0, &leaf).unwrap();
        for slot in 0..32 {
            if let Some(v) = node.value(slot) {
                let info: fil_actor_miner_state::v11::SectorOnChainInfo =
                    fvm_ipld_encoding::from_slice(v).unwrap();
                out.push((info.sector_number, v.to_vec()));
            }
        }
    }
    Some(out)
}

#[test]
fn every_real_sector_info_transcodes_as_the_typed_path_does() {
    let Some(sectors) = real_sectors() else {
        return;
    };
    assert!(sectors.len() > 120_000, "{}", sectors.len());
    let mut out = Vec::new();
    let (mut snapped, mut with_deals) = (0, 0);
    for (n, v) in &sectors {
        out.clear();
        fil_migrate::actors::sector_v11_v12::transcode(v, &mut out).unwrap();
        assert_eq!(
            out,
            fil_migrate::actors::sector_v11_v12::typed(v).unwrap(),
            "sector {n}"
        );
        let info: fil_actor_miner_state::v11::SectorOnChainInfo =
            fvm_ipld_encoding::from_slice(v).unwrap();
        snapped += usize::from(info.sector_key_cid.is_some());
        with_deals += usize::from(!info.deal_ids.is_empty());
    }
    // The real mix: SnapDeals-updated sectors and sectors with deals.
    assert!(snapped > 300 && with_deals > 1000, "{snapped} {with_deals}");
}

#[test]
fn a_miner_of_real_sector_infos_migrates_through_every_upgrade_as_the_reference_does() {
    let Some(all) = real_sectors() else { return };
    // One miner's sectors: each number once.
    let sectors: BTreeMap<u64, Vec<u8>> = all.into_iter().collect();
    let mut cfg = small_config(Network::Mainnet, 2, 100, 43);
    cfg.deals_per_sector = 1;
    cfg.mining_reserve = true;
    cfg.solstice_contracts = true;
    let (store, v11) = generate(&cfg);
    // The first generated miner's sectors replaced by the real ones (a
    // fifth of them through every upgrade, all of them through nv21).
    let sr: StateRoot = get_cbor(&store, &v11, "root").unwrap();
    let mut miner_id = None;
    fil_migrate::ipld::hamt::for_each_entry(&store, &sr.actors, 5, |k, v| {
        let a: ActorState = fvm_ipld_encoding::from_slice(v).unwrap();
        let id = fvm_shared3::address::Address::from_bytes(k)
            .unwrap()
            .id()
            .unwrap();
        if a.code == v11_code("storageminer") && miner_id.is_none_or(|m| id < m) {
            miner_id = Some(id);
        }
        Ok(())
    })
    .unwrap();
    let miner_id = miner_id.unwrap();
    let graft = |take: usize| {
        let mut amt = fvm_ipld_amt::Amt::<
            fil_actor_miner_state::v11::SectorOnChainInfo,
            _,
        >::new_with_bit_width(&store, 5);
        for (n, v) in sectors.iter().take(take) {
            amt.set(*n, fvm_ipld_encoding::from_slice(v).unwrap())
                .unwrap();
        }
        let root = amt.flush().unwrap();
        edit_actors(&store, &v11, |actors| {
            let mut a = actors.get(&id_key(miner_id)).unwrap().unwrap().clone();
            let mut st: fil_actor_miner_state::v11::State = get_cbor(&store, &a.head, "m").unwrap();
            st.sectors = root;
            a.head = put_cbor(&store, &st).unwrap();
            actors.set(id_key(miner_id), a).unwrap();
        })
    };
    let all = graft(sectors.len());
    through_every_upgrade(&store, &all, "nv21");
    let nv21 = Upgrade::load("nv21", Network::Mainnet).unwrap();
    let report = migrate_state(&store, &all, &nv21, &NoCache, &opts())
        .unwrap()
        .report;
    assert!(
        report.sectors_from_scratch >= sectors.len() as u64,
        "{} real sectors, {} migrated",
        sectors.len(),
        report.sectors_from_scratch
    );
    through_every_upgrade(&store, &graft(sectors.len() / 5), "nv29");
}
