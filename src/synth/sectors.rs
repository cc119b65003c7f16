//! A miner's synthetic sectors AMT and its older versions (the deadline
//! snapshots), built so the versions share every node they can: the oldest
//! version is built bottom-up, each later one is the previous one patched
//! with the sectors added and extended since, exactly as a chain grows it.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::miner_state::SectorSummary;
use super::sector_gen::{is_verified, mix, pledge_nano, sector_info, SectorParams};
use crate::error::{Error, Result};
use crate::ipld::amt::{AmtBuilder, AmtPatcher, Patch};
use crate::store::BufferedBlockstore;

/// Number of older versions kept as deadline snapshots.
pub const SNAPSHOT_VERSIONS: u32 = 2;

/// Whether `number` got an expiration extension in version step `k`.
fn extended_at(p: &SectorParams, number: u64, k: u32) -> bool {
    mix(&[p.seed, p.miner, number, 200 + u64::from(k)]).is_multiple_of(1000)
}

fn extensions(p: &SectorParams, number: u64, version: u32) -> u32 {
    (1..=version).filter(|&k| extended_at(p, number, k)).count() as u32
}

/// Sector count present at `version` (0 = oldest) when the current one (`SNAPSHOT_VERSIONS`) has `n`.
fn count_at(n: u64, version: u32) -> u64 {
    let step = n / 500;
    n - step * u64::from(SNAPSHOT_VERSIONS - version)
}

fn encode(info: &fil_actor_miner_state::v11::SectorOnChainInfo) -> Result<Vec<u8>> {
    fvm_ipld_encoding::to_vec(info).map_err(|e| Error::Synth(format!("encoding sector info: {e}")))
}

/// The built sectors of one miner.
pub struct BuiltSectors {
    /// Current sectors root.
    pub current: Cid,
    /// Older roots, oldest first.
    pub older: Vec<Cid>,
    /// Live sectors of the current version, ascending.
    pub live: Vec<SectorSummary>,
}

fn summary(
    p: &SectorParams,
    info: &fil_actor_miner_state::v11::SectorOnChainInfo,
) -> SectorSummary {
    SectorSummary {
        number: info.sector_number,
        expiration: info.expiration,
        pledge_nano: u32::try_from(pledge_nano(p, info.sector_number)).unwrap_or(u32::MAX),
        verified: is_verified(info),
    }
}

/// A hook that flushes a finished subtree out of the buffer when it is over budget.
pub fn flush_when_over_budget<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
) -> impl FnMut(&Cid) -> Result<()> + '_ {
    move |cid| {
        if buf.over_budget() {
            buf.flush(cid)?;
        }
        Ok(())
    }
}

/// Builds `n` sectors (numbers `0..n`) and the older versions.
pub fn build_sectors<B: Blockstore>(
    buf: &BufferedBlockstore<B>,
    p: &SectorParams,
    n: u64,
) -> Result<BuiltSectors> {
    let n0 = count_at(n, 0);
    let mut live = Vec::with_capacity(n as usize);
    let mut builder =
        AmtBuilder::new(buf, 5)?.with_subtree_hook(Box::new(flush_when_over_budget(buf)));
    for number in 0..n0 {
        let info = sector_info(p, number, 0);
        builder.push(number, &encode(&info)?)?;
        live.push(summary(p, &info));
    }
    let mut root = builder.finish()?;
    let mut older = vec![root];
    for version in 1..=SNAPSHOT_VERSIONS {
        let prev_n = count_at(n, version - 1);
        let this_n = count_at(n, version);
        let mut patcher =
            AmtPatcher::open(buf, &root)?.with_subtree_hook(Box::new(flush_when_over_budget(buf)));
        for number in 0..this_n {
            let new = number >= prev_n;
            if !new && !extended_at(p, number, version) {
                continue;
            }
            let info = sector_info(p, number, extensions(p, number, version));
            patcher.apply(Patch::Set(number, &encode(&info)?))?;
            let s = summary(p, &info);
            if new {
                live.push(s);
            } else {
                live[number as usize] = s;
            }
        }
        root = patcher.finish()?;
        if version < SNAPSHOT_VERSIONS {
            older.push(root);
        }
    }
    Ok(BuiltSectors {
        current: root,
        older,
        live,
    })
}
