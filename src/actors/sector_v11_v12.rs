//! nv21 sector info transform: `SectorOnChainInfo` v11 → v12.
//!
//! v11 `[0 number, 1 seal_proof, 2 sealed_cid, 3 deal_ids, 4 activation,
//! 5 expiration, 6 deal_weight, 7 verified_deal_weight, 8 initial_pledge,
//! 9 expected_day_reward, 10 expected_storage_pledge, 11 replaced_sector_age,
//! 12 replaced_day_reward, 13 sector_key_cid?, 14 simple_qa_power: bool]`;
//! v12 is the same except 4 = activation − replaced_sector_age when
//! `sector_key_cid` is set (else unchanged), 11 = `power_base_epoch` = old
//! activation, 14 = `flags` (uint, bit 0 = SIMPLE_QA_POWER).
//!
//! [`transcode`] rewrites those three fields and copies every other byte;
//! [`typed`] is the reference path through `fil_actor_miner_state` v11/v12,
//! used by `--verify` and the tests.

use fil_actor_miner_state::{v11, v12};

use crate::ipld::cbor::{major, write_header, Cursor};

/// Why a sector info could not be transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscodeError {
    /// Byte offset within the value.
    pub offset: usize,
    /// What was expected.
    pub reason: String,
}

impl std::fmt::Display for TranscodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.reason)
    }
}

fn err(offset: usize, reason: impl Into<String>) -> TranscodeError {
    TranscodeError {
        offset,
        reason: reason.into(),
    }
}

fn read_int(v: &[u8], r: &std::ops::Range<usize>, field: &str) -> Result<i64, TranscodeError> {
    let mut c = Cursor::new(&v[r.clone()]);
    let (m, arg) = c.header().map_err(|e| err(r.start + e.offset, e.reason))?;
    let val = match m {
        major::UINT => i64::try_from(arg).ok(),
        major::NINT => i64::try_from(arg).ok().map(|a| -1 - a),
        _ => None,
    };
    val.ok_or_else(|| err(r.start, format!("{field}: expected an integer epoch")))
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_header(out, major::UINT, v as u64);
    } else {
        write_header(out, major::NINT, (-1 - v) as u64);
    }
}

/// Appends the v12 encoding of the v11 sector info `v11` to `out`.
pub fn transcode(v11: &[u8], out: &mut Vec<u8>) -> Result<(), TranscodeError> {
    let used = transcode_prefix(v11, out)?;
    if used != v11.len() {
        return Err(err(used, "trailing bytes after the sector info"));
    }
    Ok(())
}

/// Transcodes the sector info at the start of `input` (which may continue
/// with more values) and returns its length: an AMT leaf's values are mapped
/// straight from the block without first being split into slices, so each
/// is parsed once.
pub fn transcode_prefix(input: &[u8], out: &mut Vec<u8>) -> Result<usize, TranscodeError> {
    let mut c = Cursor::new(input);
    let n = c.array().map_err(|e| err(e.offset, e.reason))?;
    if n != 15 {
        return Err(err(
            0,
            format!("SectorOnChainInfo v11 has 15 fields, found {n}"),
        ));
    }
    let mut f: [std::ops::Range<usize>; 15] = Default::default();
    for slot in f.iter_mut() {
        *slot = c.skip().map_err(|e| err(e.offset, e.reason))?;
    }
    let v11 = &input[..c.pos()];
    let activation = read_int(v11, &f[4], "activation")?;
    let replaced_age = read_int(v11, &f[11], "replaced_sector_age")?;
    let has_key = match v11[f[13].start] {
        0xf6 => false,
        b if b >> 5 == major::TAG => true,
        _ => return Err(err(f[13].start, "sector_key_cid: expected null or a CID")),
    };
    let flags = match &v11[f[14].clone()] {
        [0xf4] => 0,
        [0xf5] => 1,
        _ => return Err(err(f[14].start, "simple_qa_power: expected a boolean")),
    };
    // Two's-complement arithmetic, as the reference's int64 (Go) and the
    // Rust node's release build compute it: a sum the chain cannot hold
    // still has the reference's answer, never an error only we would raise.
    let new_activation = if has_key {
        activation.wrapping_sub(replaced_age)
    } else {
        activation
    };
    out.reserve(v11.len() + 8);
    write_header(out, major::ARRAY, 15);
    out.extend_from_slice(&v11[f[0].start..f[3].end]);
    write_int(out, new_activation);
    out.extend_from_slice(&v11[f[5].start..f[10].end]);
    out.extend_from_slice(&v11[f[4].clone()]); // power_base_epoch = old activation
    out.extend_from_slice(&v11[f[12].start..f[13].end]);
    write_header(out, major::UINT, flags);
    Ok(v11.len())
}

/// The reference path: decode with the v11 type, build the v12 type field by
/// field as go-state-types' `migrateSectorInfo` does, encode.
pub fn typed(v11_bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let s: v11::SectorOnChainInfo = fvm_ipld_encoding::from_slice(v11_bytes)?;
    Ok(fvm_ipld_encoding::to_vec(&typed_info(s))?)
}

/// The v12 sector info for a v11 one (typed).
pub fn typed_info(s: v11::SectorOnChainInfo) -> v12::SectorOnChainInfo {
    let activation = if s.sector_key_cid.is_some() {
        // int64 arithmetic, as the reference's (see `transcode_prefix`).
        s.activation.wrapping_sub(s.replaced_sector_age)
    } else {
        s.activation
    };
    v12::SectorOnChainInfo {
        sector_number: s.sector_number,
        seal_proof: i64::from(s.seal_proof).into(),
        sealed_cid: s.sealed_cid,
        deal_ids: s.deal_ids,
        activation,
        expiration: s.expiration,
        deal_weight: s.deal_weight,
        verified_deal_weight: s.verified_deal_weight,
        initial_pledge: tokens(&s.initial_pledge),
        expected_day_reward: tokens(&s.expected_day_reward),
        expected_storage_pledge: tokens(&s.expected_storage_pledge),
        power_base_epoch: s.activation,
        replaced_day_reward: tokens(&s.replaced_day_reward),
        sector_key_cid: s.sector_key_cid,
        flags: if s.simple_qa_power {
            v12::SectorOnChainInfoFlags::SIMPLE_QA_POWER
        } else {
            v12::SectorOnChainInfoFlags::empty()
        },
    }
}

fn tokens(t: &fvm_shared3::econ::TokenAmount) -> fvm_shared4::econ::TokenAmount {
    fvm_shared4::econ::TokenAmount::from_atto(t.atto().clone())
}
