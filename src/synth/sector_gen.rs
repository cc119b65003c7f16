//! Deterministic synthetic sector infos (v11), shaped like mainnet's: 32 GiB
//! or 64 GiB V1_1 seal proofs, commitment-codec sealed CIDs, deals for about
//! a third, about a tenth snap-upgraded (`sector_key_cid` and
//! `replaced_sector_age` set), a mix of `simple_qa_power`.
//!
//! Every attribute is a pure function of (seed, miner, sector number, version)
//! so that older versions (deadline snapshots) and successors can be
//! regenerated without storing the tree.

use cid::Cid;
use fil_actor_miner_state::v11::SectorOnChainInfo;
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;
use fvm_shared3::sector::RegisteredSealProof;

/// Epochs per day.
pub const EPOCHS_PER_DAY: i64 = 2880;
/// fil-commitment-sealed codec (CommR).
pub const COMMR_CODEC: u64 = 0xf102;
/// fil-commitment-unsealed codec (CommD).
pub const COMMD_CODEC: u64 = 0xf101;
/// poseidon-bls12_381-a2-fc1 multihash (CommR).
pub const POSEIDON: u64 = 0xb401;
/// sha2-256-trunc254-padded multihash (CommD).
pub const SHA2_TRUNC254: u64 = 0x1012;

/// Whether the event keyed by `parts` happens, with probability `p`
/// (deterministic: the same parts always give the same answer).
pub fn chance(parts: &[u64], p: f64) -> bool {
    (mix(parts) as f64 / u64::MAX as f64) < p
}

/// A 64-bit mix of its inputs (splitmix64 over a running state).
pub fn mix(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for p in parts {
        h ^= p
            .wrapping_add(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        h = splitmix(h);
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A commitment CID (CommR or CommD) with a 32-byte digest derived from `seed`.
pub fn commitment(codec: u64, mh: u64, seed: u64) -> Cid {
    let mut digest = [0u8; 32];
    for (i, chunk) in digest.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(&[seed, i as u64]).to_le_bytes());
    }
    digest[31] &= 0x3f; // field elements are < 2^254
    Cid::new_v1(
        codec,
        cid::multihash::Multihash::wrap(mh, &digest).expect("32-byte digest"),
    )
}

/// The miner-level parameters sector generation depends on.
#[derive(Debug, Clone, Copy)]
pub struct SectorParams {
    /// Generator seed.
    pub seed: u64,
    /// Miner actor ID.
    pub miner: u64,
    /// The state's epoch (sectors are active and unexpired at it).
    pub epoch: i64,
    /// 64 GiB sectors instead of 32 GiB.
    pub large: bool,
    /// Deal IDs from a market (`gen --deals-per-sector`): sector `n` lists
    /// 1..=`per_sector` of `base + n·per_sector + k`, unique over the state.
    /// `None`: random IDs and no market behind them (the nv21 states).
    pub deals: Option<DealIds>,
}

/// A miner's range of deal IDs (see [`SectorParams::deals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealIds {
    /// The miner's first deal ID.
    pub base: u64,
    /// Most deals one sector lists.
    pub per_sector: u64,
}

impl SectorParams {
    /// Bytes per sector.
    pub fn sector_size(&self) -> u64 {
        if self.large {
            64 << 30
        } else {
            32 << 30
        }
    }

    /// The seal proof.
    pub fn seal_proof(&self) -> RegisteredSealProof {
        if self.large {
            RegisteredSealProof::StackedDRG64GiBV1P1
        } else {
            RegisteredSealProof::StackedDRG32GiBV1P1
        }
    }
}

/// Pledges are whole nanoFIL so partition sums stay exact in 64 bits.
pub const NANO: u64 = 1_000_000_000;

/// The sector info of `number` as of `extensions` expiration extensions.
pub fn sector_info(p: &SectorParams, number: u64, extensions: u32) -> SectorOnChainInfo {
    let r = |k: u64| mix(&[p.seed, p.miner, number, k]);
    // Sectors are sealed in sequence and committed in batches, so neighbours
    // (which share a partition) have close activations and equal lifetimes.
    let age_days = 540 - ((number / 2000) % 530) as i64;
    let activation =
        (p.epoch - age_days * EPOCHS_PER_DAY - (r(1) % EPOCHS_PER_DAY as u64) as i64).max(1);
    let batch = mix(&[p.seed, p.miner, number / 1000, 7]);
    let lifetime_days = [180, 360, 540][(batch % 3) as usize] + (r(2) % 10) as i64;
    let mut expiration = activation + lifetime_days * EPOCHS_PER_DAY;
    while expiration <= p.epoch {
        expiration += 540 * EPOCHS_PER_DAY;
    }
    expiration += i64::from(extensions) * 180 * EPOCHS_PER_DAY;
    let has_deals = r(3) % 3 == 0;
    let deal_ids: Vec<u64> = match (has_deals, p.deals) {
        (false, _) => Vec::new(),
        (true, None) => (0..1 + r(4) % 3)
            .map(|k| 1_000_000 + (r(5 + k) % 50_000_000))
            .collect(),
        (true, Some(d)) => (0..1 + r(4) % d.per_sector)
            .map(|k| d.base + number * d.per_sector + k)
            .collect(),
    };
    let size = BigInt::from(p.sector_size());
    let duration = BigInt::from(expiration - activation);
    let verified = has_deals && r(8) % 2 == 0;
    let (deal_weight, verified_deal_weight) = match (has_deals, verified) {
        (false, _) => (BigInt::from(0), BigInt::from(0)),
        (true, false) => (&size * &duration, BigInt::from(0)),
        (true, true) => (BigInt::from(0), &size * &duration),
    };
    let snapped = r(10) % 10 == 0;
    let pledge = pledge_nano(p, number) * NANO;
    let day_reward = pledge / 200 + r(11) % NANO;
    SectorOnChainInfo {
        sector_number: number,
        seal_proof: p.seal_proof(),
        sealed_cid: commitment(COMMR_CODEC, POSEIDON, r(12)),
        deal_ids,
        activation,
        expiration,
        deal_weight,
        verified_deal_weight,
        initial_pledge: TokenAmount::from_atto(pledge),
        expected_day_reward: TokenAmount::from_atto(day_reward),
        expected_storage_pledge: TokenAmount::from_atto(day_reward * 20),
        replaced_sector_age: if snapped {
            (r(13) % 300) as i64 * EPOCHS_PER_DAY
        } else {
            0
        },
        replaced_day_reward: if snapped {
            TokenAmount::from_atto(day_reward / 2)
        } else {
            TokenAmount::from_atto(0u64)
        },
        sector_key_cid: snapped.then(|| commitment(COMMR_CODEC, POSEIDON, r(14))),
        simple_qa_power: r(15) % 2 == 0,
    }
}

/// Initial pledge of a sector in nanoFIL (0.15–0.25 FIL per 32 GiB).
pub fn pledge_nano(p: &SectorParams, number: u64) -> u64 {
    let base = 150_000_000 + mix(&[p.seed, p.miner, number, 100]) % 100_000_000;
    if p.large {
        base * 2
    } else {
        base
    }
}

/// Whether a sector info carries verified deal weight (10× quality).
pub fn is_verified(s: &SectorOnChainInfo) -> bool {
    s.verified_deal_weight != BigInt::from(0)
}
