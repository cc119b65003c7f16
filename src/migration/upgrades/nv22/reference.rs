//! The typed reference path for nv22 (docs/upgrades/nv22.md, the from-scratch
//! algorithm as go-state-types and Forest run it): every miner's v12 sectors
//! read with `fvm_ipld_amt`, deal states rebuilt with the v13 market type,
//! `ProviderSectors` built with the actors' own `Map2`. A deal two kept
//! sectors list goes to the highest (miner, sector), the engine's rule (the
//! reference's answer there depends on worker order).

use std::collections::BTreeMap;

use cid::Cid;
use fil_actor_market_state::{v12 as market12, v13 as market13};
use fil_actor_miner_state::v12 as miner12;
use fil_actors_shared::v13::Map2;
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::CborStore;
use multihash_codetable::Code;

use crate::migration::reference::{load_state, rebuild_state, R};
use crate::migration::spec::UpgradeSpec;

#[derive(Default)]
struct MinerPass {
    /// deal → (miner, sector), the highest listing.
    deal_to_sector: BTreeMap<u64, (u64, u64)>,
    /// miner → sector → deal IDs.
    provider_sectors: BTreeMap<u64, BTreeMap<u64, Vec<u64>>>,
}

fn read_miner<S: Blockstore>(
    store: &S,
    miner: u64,
    head: &Cid,
    upgrade: i64,
    pass: &mut MinerPass,
) -> R<()> {
    let st: miner12::State = store
        .get_cbor(head)?
        .ok_or_else(|| anyhow::anyhow!("missing miner state {head}"))?;
    let sectors: Amt<miner12::SectorOnChainInfo, _> = Amt::load(&st.sectors, store)?;
    ensure_bit_width(store, &st.sectors, 5, "sectors")?;
    sectors.for_each(|i, s| {
        if s.deal_ids.is_empty() || s.expiration < upgrade {
            return Ok(());
        }
        for d in &s.deal_ids {
            let e = pass.deal_to_sector.entry(*d).or_insert((miner, i));
            if (miner, i) > *e {
                *e = (miner, i);
            }
        }
        pass.provider_sectors
            .entry(miner)
            .or_default()
            .insert(i, s.deal_ids.clone());
        Ok(())
    })?;
    Ok(())
}

/// `fvm_ipld_amt` takes any root's bit width and does not say which: read
/// it from the root tuple `[bit_width, height, count, node]`.
fn ensure_bit_width<S: Blockstore>(store: &S, root: &Cid, want: u32, what: &str) -> R<()> {
    let (bw, _, _, _): (u32, u32, u64, serde::de::IgnoredAny) = store
        .get_cbor(root)?
        .ok_or_else(|| anyhow::anyhow!("missing {what} AMT root {root}"))?;
    anyhow::ensure!(
        bw == want,
        "{what} AMT {root} has bit width {bw}, not {want}"
    );
    Ok(())
}

fn market<S: Blockstore>(store: &S, head: &Cid, upgrade: i64, pass: &MinerPass) -> R<Cid> {
    let st: market12::State = store
        .get_cbor(head)?
        .ok_or_else(|| anyhow::anyhow!("missing market state {head}"))?;
    let proposals: Amt<market12::DealProposal, _> = Amt::load(&st.proposals, store)?;
    ensure_bit_width(store, &st.proposals, 5, "proposals")?;
    let states: Amt<market12::DealState, _> = Amt::load(&st.states, store)?;
    ensure_bit_width(store, &st.states, 6, "states")?;
    let mut out: Amt<market13::DealState, _> = Amt::new_with_bit_width(store, 6);
    states.for_each(|deal, s| {
        let p = proposals
            .get(deal)?
            .ok_or_else(|| anyhow::anyhow!("failed to find proposal for deal ID {deal}"))?;
        let sector_number = if s.slash_epoch == -1 && p.end_epoch >= upgrade {
            pass.deal_to_sector.get(&deal).map_or(0, |x| x.1)
        } else {
            0
        };
        out.set(
            deal,
            market13::DealState {
                sector_number,
                sector_start_epoch: s.sector_start_epoch,
                last_updated_epoch: s.last_updated_epoch,
                slash_epoch: s.slash_epoch,
            },
        )?;
        Ok(())
    })?;
    let states_out = out.flush()?;
    let mut outer: Map2<&S, u64, Cid> =
        Map2::empty(store, market13::PROVIDER_SECTORS_CONFIG, "provider sectors");
    for (miner, sectors) in &pass.provider_sectors {
        let mut inner: Map2<&S, u64, market13::SectorDealIDs> =
            Map2::empty(store, market13::PROVIDER_SECTORS_CONFIG, "sector deals");
        for (sector, deals) in sectors {
            inner.set(
                sector,
                market13::SectorDealIDs {
                    deals: deals.clone(),
                },
            )?;
        }
        outer.set(miner, inner.flush()?)?;
    }
    let provider_sectors = outer.flush()?;
    let new = market13::State {
        proposals: st.proposals,
        states: states_out,
        pending_proposals: st.pending_proposals,
        escrow_table: st.escrow_table,
        locked_table: st.locked_table,
        next_id: st.next_id,
        deal_ops_by_epoch: st.deal_ops_by_epoch,
        last_cron: st.last_cron,
        total_client_locked_collateral: st.total_client_locked_collateral,
        total_provider_locked_collateral: st.total_provider_locked_collateral,
        total_client_storage_fee: st.total_client_storage_fee,
        pending_deal_allocation_ids: st.pending_deal_allocation_ids,
        provider_sectors,
    };
    store.put_cbor(&new, Code::Blake2b256)
}

/// The nv22 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    let (old, upgrade) = (&spec.old_manifest, spec.height);
    let (root, input) = load_state(store, state_root)?;
    let mut pass = MinerPass::default();
    let mut market_actor = None;
    input.for_each(|k, a| {
        match old.name_of(&a.code) {
            Some("storageminer") => {
                let id = fvm_shared4::address::Address::from_bytes(k)?.id()?;
                read_miner(store, id, &a.head, upgrade, &mut pass)?;
            }
            Some("storagemarket") => market_actor = Some(k.clone()),
            _ => {}
        }
        Ok(())
    })?;
    rebuild_state(store, &root, &input, spec, |name, k, a| match name {
        "storagemarket" if market_actor.as_ref() == Some(k) => {
            Ok(Some(market(store, &a.head, upgrade, &pass)?))
        }
        _ => Ok(None),
    })
}
