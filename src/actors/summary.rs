//! A summary of a state tree: actors by type, miners and their sectors.

use std::collections::BTreeMap;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::manifest::identify;
use super::state_tree::{get_cbor, RawActor, StateRoot};
use super::tuple;
use crate::error::Result;
use crate::ipld::amt::AmtRoot;
use crate::ipld::hamt::for_each_entry;
use crate::ipld::load_block;

/// What `inspect` reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StateSummary {
    /// The state root.
    pub state_root: String,
    /// Actors HAMT root.
    pub actors_root: String,
    /// Actor count.
    pub actors: u64,
    /// Actor count by "name vVERSION".
    pub by_type: BTreeMap<String, u64>,
    /// Miner actors.
    pub miners: u64,
    /// Sectors over all miners (from each sectors AMT's count).
    pub sectors: u64,
    /// Largest miner's sector count.
    pub largest_miner_sectors: u64,
    /// The actors bundle the system actor names ("actors v12 (mainnet v12.0.0)").
    pub actors_bundle: String,
    /// The init actor's network name.
    pub network_name: String,
    /// Deal proposals in the market (its proposals AMT's count).
    pub deal_proposals: u64,
    /// Deal states in the market (its states AMT's count).
    pub deal_states: u64,
}

/// Walks the actors tree of `state_root` and summarizes it.
pub fn summarize<S: Blockstore>(store: &S, state_root: &Cid) -> Result<StateSummary> {
    let root: StateRoot = get_cbor(store, state_root, "state root")?;
    let mut s = StateSummary {
        state_root: state_root.to_string(),
        actors_root: root.actors.to_string(),
        ..Default::default()
    };
    for_each_entry(store, &root.actors, 5, |_key, value| {
        let a = RawActor::parse(value, &root.actors)?;
        s.actors += 1;
        let kind = match identify(&a.code) {
            Some((name, v, _)) => {
                if name == "storageminer" {
                    let head = load_block(store, &a.head, Some(root.actors))?;
                    let ranges = tuple::elements(&head, 15, "miner state", &a.head)?;
                    let sectors = tuple::cid_at(&head, &ranges[9], "miner state sectors", &a.head)?;
                    let count = AmtRoot::load(store, &sectors)?.count;
                    s.miners += 1;
                    s.sectors += count;
                    s.largest_miner_sectors = s.largest_miner_sectors.max(count);
                }
                if name == "storagemarket" {
                    let head = load_block(store, &a.head, Some(root.actors))?;
                    // proposals and states lead every version's tuple.
                    let n = crate::ipld::cbor::Cursor::new(&head).array().unwrap_or(0);
                    let ranges = tuple::elements(&head, n, "market state", &a.head)?;
                    if ranges.len() >= 2 {
                        let p = tuple::cid_at(&head, &ranges[0], "market proposals", &a.head)?;
                        let st = tuple::cid_at(&head, &ranges[1], "market states", &a.head)?;
                        s.deal_proposals += AmtRoot::load(store, &p)?.count;
                        s.deal_states += AmtRoot::load(store, &st)?.count;
                    }
                }
                format!("{name} v{v}")
            }
            None => format!("unknown code {}", a.code),
        };
        *s.by_type.entry(kind).or_default() += 1;
        Ok(())
    })?;
    if let Ok(f) = crate::actors::facts::state_facts(store, state_root) {
        s.actors_bundle = f.describe();
        s.network_name = f.network_name;
    }
    Ok(s)
}
