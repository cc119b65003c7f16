//! The bulk of mainnet's actor population, beyond the miners with sectors:
//! miners with no sectors, payment channels and extra placeholders. Each is
//! built with its v11 type (or, for payment channels, whose crate is not a
//! dependency, the v11 field order of `fil_actor_paych_state`).

use cid::Cid;
use fil_actor_miner_state::v11 as miner;
use fil_actors_shared::v11::runtime::Policy;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;
use fvm_shared3::address::Address;
use fvm_shared3::econ::TokenAmount;
use fvm_shared3::sector::RegisteredPoStProof;

use super::sector_gen::mix;
use crate::actors::state_tree::put_cbor;
use crate::error::{Error, Result};
use crate::ipld::amt::AmtBuilder;

/// Payment channel state, actors v11 (`fil_actor_paych_state::v11::State`).
#[derive(Debug, Clone, Serialize_tuple, Deserialize_tuple)]
pub struct PaychState {
    /// Sender (ID address).
    pub from: Address,
    /// Recipient (ID address).
    pub to: Address,
    /// Amount redeemable by `to` when the channel settles.
    pub to_send: TokenAmount,
    /// Settlement epoch (0: not settling).
    pub settling_at: i64,
    /// Earliest settlement epoch.
    pub min_settle_height: i64,
    /// Lane states (AMT, bit width 3).
    pub lane_states: Cid,
}

/// Bit width of a payment channel's lane-state AMT (v11).
pub const LANE_STATES_AMT_BITWIDTH: u32 = 3;

/// A payment channel's state, `settling` if it is being collected.
pub fn payment_channel<S: Blockstore>(
    store: &S,
    from: u64,
    to: u64,
    seed: u64,
    id: u64,
    settling_at: i64,
) -> Result<Cid> {
    let lanes = AmtBuilder::new(store, LANE_STATES_AMT_BITWIDTH)?.finish()?;
    put_cbor(
        store,
        &PaychState {
            from: Address::new_id(from),
            to: Address::new_id(to),
            to_send: TokenAmount::from_nano(mix(&[seed, id, 71]) % 1_000_000_000),
            settling_at,
            min_settle_height: 0,
            lane_states: lanes,
        },
    )
}

/// The state of miners with no sectors: `miner::State::new`'s canonical
/// empty structures, built once, with each miner's own info and proving
/// period.
pub struct EmptyMiners {
    template: miner::State,
    policy: Policy,
}

impl EmptyMiners {
    /// Builds the shared empty structures into `store`.
    pub fn new<S: Blockstore>(store: &S) -> Result<Self> {
        let policy = Policy::default();
        let template = miner::State::new(&policy, store, Cid::default(), 0, 0)
            .map_err(|e| Error::Synth(format!("empty miner state: {e:#}")))?;
        Ok(EmptyMiners { template, policy })
    }

    /// The head of miner `id` owned (and worked) by `owner`, at `epoch`.
    pub fn head<S: Blockstore>(
        &self,
        store: &S,
        seed: u64,
        id: u64,
        owner: u64,
        epoch: i64,
    ) -> Result<Cid> {
        let peer_id = mix(&[seed, id, 1]).to_be_bytes().repeat(4);
        let info = miner::MinerInfo::new(
            owner,
            owner,
            vec![],
            peer_id,
            vec![],
            RegisteredPoStProof::StackedDRGWindow32GiBV1P1,
        )
        .map_err(|e| Error::Synth(format!("miner info: {e}")))?;
        let mut st = self.template.clone();
        st.info = put_cbor(store, &info)?;
        let period = self.policy.wpost_proving_period;
        st.proving_period_start = epoch - epoch.rem_euclid(period) + (id as i64 % period);
        if st.proving_period_start > epoch {
            st.proving_period_start -= period;
        }
        st.current_deadline = ((epoch - st.proving_period_start)
            / self.policy.wpost_challenge_window)
            .clamp(0, 47) as u64;
        put_cbor(store, &st)
    }
}
