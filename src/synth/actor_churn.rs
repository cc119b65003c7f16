//! Churn of the actors themselves, besides the miners' sectors: what a chain
//! does to the state tree in N epochs. Senders' nonces and balances move,
//! recipients' balances move, payment channels whose settlement epoch passed
//! are collected (deleted), some miners without sectors pay fees (their
//! state changes, their sectors do not), and the market's cron epoch
//! advances. New accounts are created by the caller (they need the init
//! actor). Rates are per actor and epoch, so a small test state churns as
//! a mainnet one does in proportion; every choice follows from the seed.

use cid::Cid;
use fil_actor_miner_state::v11 as miner;
use fvm_shared3::address::Address;
use fvm_shared3::econ::TokenAmount;

use super::population::PaychState;
use super::sector_gen::{chance, mix};
use crate::actors::manifest::Manifest;
use crate::actors::state_tree::{get_cbor, put_cbor, ActorState};
use crate::error::Result;
use crate::store::BufferedBlockstore;
use fvm_ipld_blockstore::Blockstore;

/// Rates of actor churn, per actor and epoch.
#[derive(Debug, Clone)]
pub struct ActorChurn {
    /// Chance that an account (multisig, eth account) sends messages.
    pub sender_rate: f64,
    /// Chance that an actor receives funds.
    pub recipient_rate: f64,
    /// Chance that a miner without sectors pays fees (its state changes).
    pub fee_miner_rate: f64,
}

impl Default for ActorChurn {
    /// Mainnet-like: of 3.8M actors, about 4,500 distinct senders, 2,700
    /// recipients and 380 fee-paying miners in 180 epochs.
    fn default() -> Self {
        ActorChurn {
            sender_rate: 8.4e-6,
            recipient_rate: 4e-6,
            fee_miner_rate: 3e-6,
        }
    }
}

/// What actor churn changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ActorChurnStats {
    /// Actors whose nonce and balance changed.
    pub senders: u64,
    /// Actors whose balance grew.
    pub recipients: u64,
    /// Payment channels collected (deleted).
    pub deleted: u64,
    /// Miners whose state changed without a sector change.
    pub fee_miners: u64,
}

fn id_of(key: &[u8]) -> u64 {
    Address::from_bytes(key)
        .ok()
        .and_then(|a| a.id().ok())
        .unwrap_or(u64::MAX)
}

/// Applies actor churn for `epochs` epochs ending at `new_epoch` to `actors`.
/// `empty_sectors` is the empty sectors AMT: only miners whose sectors are
/// that are touched here (the others churn with their sectors).
#[allow(clippy::too_many_arguments)]
pub fn churn_actors<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
    actors: &mut Vec<(Vec<u8>, ActorState)>,
    manifest: &Manifest,
    rates: &ActorChurn,
    seed: u64,
    epochs: i64,
    new_epoch: i64,
    empty_sectors: &Cid,
) -> Result<ActorChurnStats> {
    let mut stats = ActorChurnStats::default();
    let name = |a: &ActorState| manifest.name_of(&a.code).unwrap_or("");
    let e = epochs.max(0) as f64;
    let senders = ["account", "multisig", "ethaccount"];
    let p_send = (rates.sender_rate * e).min(1.0);
    let p_recv = (rates.recipient_rate * e).min(1.0);
    let p_fee = (rates.fee_miner_rate * e).min(1.0);
    let mut deleted = Vec::new();
    for (i, (key, a)) in actors.iter_mut().enumerate() {
        let id = id_of(key);
        let r = |k: u64| [seed, id, new_epoch as u64, k];
        let kind = name(a);
        if senders.contains(&kind) && chance(&r(1), p_send) {
            let msgs = 1 + mix(&r(2)) % 8;
            a.sequence += msgs;
            let fee = TokenAmount::from_nano(msgs * (50_000 + mix(&r(3)) % 100_000));
            if a.balance > fee {
                a.balance -= fee;
            }
            stats.senders += 1;
        } else if chance(&r(4), p_recv) {
            a.balance += TokenAmount::from_nano(1 + mix(&r(5)) % 10_000_000_000);
            stats.recipients += 1;
        }
        match kind {
            "paymentchannel" => {
                let st: PaychState = get_cbor(buf, &a.head, "payment channel state")?;
                if st.settling_at != 0 && st.settling_at <= new_epoch {
                    deleted.push(i);
                }
            }
            "storageminer" if chance(&r(6), p_fee) => {
                let mut st: miner::State = get_cbor(buf, &a.head, "miner state v11")?;
                if st.sectors == *empty_sectors {
                    st.fee_debt += TokenAmount::from_nano(1 + mix(&r(7)) % 1_000_000);
                    a.head = put_cbor(buf, &st)?;
                    stats.fee_miners += 1;
                }
            }
            _ => {}
        }
    }
    for i in deleted.into_iter().rev() {
        actors.remove(i);
        stats.deleted += 1;
    }
    Ok(stats)
}
