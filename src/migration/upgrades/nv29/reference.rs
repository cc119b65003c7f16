//! The typed reference path for nv29 (docs/upgrades/nv29.md, as Forest 0.39 runs
//! it): the v18 market and reward states decoded and rebuilt as v19 with
//! `fil_actor_*_state`'s v19 types, the bootstrap addresses resolved with
//! `fvm_ipld_hamt` over the input init actor, and the streams checked with
//! the v19 crate's own `validate_streams_state`.

use cid::Cid;
use fil_actor_market_state::{v18 as m18, v19 as m19};
use fil_actor_reward_state::{v18 as r18, v19 as r19};
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::CborStore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use fvm_shared4::address::Address;
use multihash_codetable::Code;

use crate::actors::manifest::Network;
use crate::migration::reference::{get, load_state, rebuild_state, Actor, R};
use crate::migration::spec::UpgradeSpec;

fn hex20(s: &str) -> R<[u8; 20]> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    anyhow::ensure!(s.len() == 40, "address {s}");
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

/// The nv29 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    const DENOM: u64 = r19::DENOM;
    const PERCENT: u64 = DENOM / 100;
    let (timelock, ramp): (i64, i64) = match spec.network {
        Network::Mainnet => (20_160, 2_366_766),
        Network::Calibnet => (720, 25_920),
    };
    let slope = ((45 * PERCENT) as i64 + ramp - 1) / ramp;
    let activation = spec.height + 1;
    let (root, input) = load_state(store, state_root)?;
    let id_key = |id: u64| BytesKey(Address::new_id(id).to_bytes());
    let init: Actor = input
        .get(&id_key(1))?
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no init actor"))?;
    let init_state: fil_actor_init_state::v18::State = get(store, &init.head)?;
    let address_map: Hamt<_, u64, BytesKey> =
        Hamt::load_with_bit_width(&init_state.address_map, store, 5)?;
    let resolve = |hex: &str| -> R<u64> {
        let eth = hex20(hex)?;
        let addr = Address::new_delegated(10, &eth)?;
        let id = *address_map
            .get(&BytesKey(addr.to_bytes()))?
            .ok_or_else(|| anyhow::anyhow!("failed to resolve {hex} ({addr})"))?;
        anyhow::ensure!(id != 99, "{hex} resolves to f099");
        let a = input
            .get(&id_key(id))?
            .ok_or_else(|| anyhow::anyhow!("{hex}: no actor f0{id}"))?;
        anyhow::ensure!(
            Some(a.code) != spec.old_manifest.code_of("paymentchannel"),
            "{hex}: f0{id} is a payment channel"
        );
        Ok(id)
    };
    let swa = resolve("0x66C11A9F6dfEC3c1557958cF9f575a023EB01421")?;
    let sra = resolve("0x0339f205314C8210AF7Cb075d1A96D012e7896a9")?;
    let orchestrator = resolve("0x97A90f5696be5E3C8d3752C92Adac287c2b4484e")?;

    rebuild_state(store, &root, &input, spec, |name, _, a| match name {
        "storagemarket" => {
            let st: m18::State = get(store, &a.head)?;
            let out = m19::State {
                proposals: st.proposals,
                states: st.states,
                pending_proposals: st.pending_proposals,
                escrow_table: st.escrow_table,
                locked_table: st.locked_table,
                next_id: st.next_id,
                deal_ops_by_epoch: st.deal_ops_by_epoch,
                last_cron: st.last_cron,
                total_client_locked_collateral: st.total_client_locked_collateral,
                total_provider_locked_collateral: st.total_provider_locked_collateral,
                total_client_storage_fee: st.total_client_storage_fee,
                provider_sectors: st.provider_sectors,
            };
            Ok(Some(store.put_cbor(&out, Code::Blake2b256)?))
        }
        "reward" => {
            let st: r18::State = get(store, &a.head)?;
            let streams = r19::StreamsState {
                streams: vec![
                    r19::Stream {
                        id: 1,
                        weight: r19::WeightRecord {
                            v_start: 95 * PERCENT,
                            slope: -slope,
                            t_start: activation,
                            floor: 50 * PERCENT,
                            cap: 95 * PERCENT,
                        },
                        distribution: None,
                    },
                    r19::Stream {
                        id: 2,
                        weight: r19::WeightRecord {
                            v_start: 5 * PERCENT,
                            slope,
                            t_start: activation,
                            floor: 5 * PERCENT,
                            cap: 10 * PERCENT,
                        },
                        distribution: Some(r19::ExplicitDistribution {
                            writer: Address::new_id(sra),
                            shares: vec![r19::RecipientShare {
                                recipient: Address::new_id(orchestrator),
                                share: DENOM,
                            }],
                            payable: Default::default(),
                            claimed_period: Default::default(),
                        }),
                    },
                ],
                tombstones: Vec::new(),
                pending_writes_queue: Vec::new(),
            };
            let accrued = vec![r19::StreamAccrual {
                id: 2,
                amount: Default::default(),
            }];
            r19::validate_streams_state(&streams, &accrued, activation)?;
            let out = r19::State {
                cumsum_baseline: st.cumsum_baseline,
                cumsum_realized: st.cumsum_realized,
                effective_network_time: st.effective_network_time,
                effective_baseline_power: st.effective_baseline_power,
                this_epoch_reward: st.this_epoch_reward,
                this_epoch_reward_smoothed:
                    fil_actors_shared::v19::builtin::reward::smooth::FilterEstimate {
                        position: st.this_epoch_reward_smoothed.position,
                        velocity: st.this_epoch_reward_smoothed.velocity,
                    },
                this_epoch_baseline_power: st.this_epoch_baseline_power,
                epoch: st.epoch,
                total_minted_reward: st.total_storage_power_reward,
                total_burn_minted: Default::default(),
                total_explicit_minted: Default::default(),
                swa_timelock_epochs: timelock,
                swa_actor: Address::new_id(swa),
                accrued,
                streams_root: store.put_cbor(&streams, Code::Blake2b256)?,
            };
            Ok(Some(store.put_cbor(&out, Code::Blake2b256)?))
        }
        _ => Ok(None),
    })
}
