//! States of the singleton builtin actors (system, init, reward, cron, power,
//! market, verified registry, datacap, EAM, burnt funds), built with their
//! v11 types.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::address::Address;
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;

use crate::actors::state_tree::put_cbor;
use crate::error::{Error, Result};
use crate::ipld::hamt::{key_hash, HamtBuilder};

/// Singleton actor IDs.
pub mod ids {
    /// System.
    pub const SYSTEM: u64 = 0;
    /// Init.
    pub const INIT: u64 = 1;
    /// Reward.
    pub const REWARD: u64 = 2;
    /// Cron.
    pub const CRON: u64 = 3;
    /// Storage power.
    pub const POWER: u64 = 4;
    /// Storage market.
    pub const MARKET: u64 = 5;
    /// Verified registry.
    pub const VERIFREG: u64 = 6;
    /// Datacap.
    pub const DATACAP: u64 = 7;
    /// Ethereum address manager.
    pub const EAM: u64 = 10;
    /// The mining reserve (a multisig until nv23).
    pub const MINING_RESERVE: u64 = 90;
    /// Burnt funds (an account).
    pub const BURNT_FUNDS: u64 = 99;
    /// First ID of non-singleton actors.
    pub const FIRST_NON_SINGLETON: u64 = 100;
}

fn err(what: &'static str) -> impl Fn(String) -> Error {
    move |e| Error::Synth(format!("building {what} state: {e}"))
}

/// The CID of the empty tuple `[]` (stateless actors' head, state info).
pub fn empty_array<S: Blockstore>(store: &S) -> Result<Cid> {
    put_cbor(store, &[(); 0])
}

/// Builds a HAMT from (key, value bytes) in any order (sorted by hash here).
pub fn hamt_from<S: Blockstore>(store: &S, mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Cid> {
    entries.sort_by_cached_key(|(k, _)| key_hash(k));
    let mut b = HamtBuilder::new(store, 5)?;
    for (k, v) in &entries {
        b.push(k, v)?;
    }
    b.finish()
}

fn cbor<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    fvm_ipld_encoding::to_vec(v).map_err(|e| Error::Synth(format!("encoding: {e}")))
}

/// System actor state: `[manifest data CID]`.
pub fn system<S: Blockstore>(store: &S, manifest_data: Cid) -> Result<Cid> {
    put_cbor(
        store,
        &fil_actor_system_state::v11::State {
            builtin_actors: manifest_data,
        },
    )
}

/// Init actor state with its robust-address → ID map.
pub fn init<S: Blockstore>(
    store: &S,
    network_name: &str,
    next_id: u64,
    map: Vec<(Address, u64)>,
) -> Result<Cid> {
    let mut st = fil_actor_init_state::v11::State::new(store, network_name.to_string())
        .map_err(|e| err("init")(e.to_string()))?;
    let entries = map
        .into_iter()
        .map(|(a, id)| Ok((a.to_bytes(), cbor(&id)?)))
        .collect::<Result<Vec<_>>>()?;
    st.address_map = hamt_from(store, entries)?;
    st.next_id = next_id;
    put_cbor(store, &st)
}

/// Power actor state with one claim per miner.
pub fn power<S: Blockstore>(
    store: &S,
    claims: &[(u64, fil_actor_power_state::v11::Claim)],
    pledge: &TokenAmount,
) -> Result<Cid> {
    let mut st =
        fil_actor_power_state::v11::State::new(store).map_err(|e| err("power")(e.to_string()))?;
    let (mut raw, mut qa) = (BigInt::from(0), BigInt::from(0));
    let mut entries = Vec::with_capacity(claims.len());
    for (id, c) in claims {
        raw += &c.raw_byte_power;
        qa += &c.quality_adj_power;
        entries.push((Address::new_id(*id).to_bytes(), cbor(c)?));
    }
    st.claims = hamt_from(store, entries)?;
    st.miner_count = claims.len() as i64;
    st.miner_above_min_power_count = claims
        .iter()
        .filter(|(_, c)| c.raw_byte_power >= BigInt::from(10u64 << 40))
        .count() as i64;
    st.total_raw_byte_power = raw.clone();
    st.total_bytes_committed = raw.clone();
    st.total_quality_adj_power = qa.clone();
    st.total_qa_bytes_committed = qa.clone();
    st.this_epoch_raw_byte_power = raw;
    st.this_epoch_quality_adj_power = qa;
    st.total_pledge_collateral = pledge.clone();
    st.this_epoch_pledge_collateral = pledge.clone();
    put_cbor(store, &st)
}

/// Reward actor state at the given network power.
pub fn reward<S: Blockstore>(store: &S, power: BigInt, epoch: i64) -> Result<Cid> {
    let mut st = fil_actor_reward_state::v11::State::new(power);
    st.epoch = epoch;
    put_cbor(store, &st)
}

/// Cron actor state: the two genesis entries (power and market ticks).
pub fn cron<S: Blockstore>(store: &S) -> Result<Cid> {
    use fil_actor_cron_state::v11::{Entry, State};
    put_cbor(
        store,
        &State {
            entries: vec![
                Entry {
                    receiver: Address::new_id(ids::POWER),
                    method_num: 5,
                },
                Entry {
                    receiver: Address::new_id(ids::MARKET),
                    method_num: 9,
                },
            ],
        },
    )
}

/// Market actor state (empty tables).
pub fn market<S: Blockstore>(store: &S, epoch: i64) -> Result<Cid> {
    let mut st =
        fil_actor_market_state::v11::State::new(store).map_err(|e| err("market")(e.to_string()))?;
    st.last_cron = epoch - 1;
    st.next_id = 60_000_000;
    put_cbor(store, &st)
}

/// Verified registry state.
pub fn verifreg<S: Blockstore>(store: &S, root_key: Address) -> Result<Cid> {
    let st = fil_actor_verifreg_state::v11::State::new(store, root_key)
        .map_err(|e| err("verifreg")(e.to_string()))?;
    put_cbor(store, &st)
}

/// Datacap state (governed by the verified registry).
pub fn datacap<S: Blockstore>(store: &S) -> Result<Cid> {
    let token = frc46_token::token::state::TokenState::new(store)
        .map_err(|e| err("datacap")(e.to_string()))?;
    put_cbor(
        store,
        &fil_actor_datacap_state::v11::State {
            governor: Address::new_id(ids::VERIFREG),
            token,
        },
    )
}

/// Account state.
pub fn account<S: Blockstore>(store: &S, address: Address) -> Result<Cid> {
    put_cbor(store, &fil_actor_account_state::v11::State { address })
}
