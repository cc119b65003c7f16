//! WindowPoSt in a churned state. Within the epochs of a churn every miner
//! with live sectors proves each deadline whose challenge window passes:
//! on mainnet nearly every such miner's head changes between a
//! premigration and the upgrade, even where its sectors do not, and a
//! final migration has that many miners to migrate again. A deadline whose
//! window closed during the churn keeps its proofs as the optimistic
//! submissions snapshot (its sectors snapshot is set by the churn); the
//! deadline whose window is open holds them as the current submissions,
//! with every partition posted.

use fil_actor_miner_state::v11 as miner;
use fvm_ipld_amt::Amt;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared3::sector::{PoStProof, RegisteredPoStProof};

use super::sector_gen::{mix, SectorParams};
use crate::error::{Error, Result};

/// Bytes of a WindowPoSt proof (one SNARK of the partitions proven).
const PROOF_BYTES: usize = 192;

/// What a deadline holds of its WindowPoSt when the state is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Posting {
    /// Nothing proven since the deadline was last built.
    #[default]
    None,
    /// Its window closed during the churn: the proofs are the snapshot.
    Closed,
    /// Its window is open and every partition is proven.
    Open,
}

/// The postings of a miner whose deadline `current` was open when the
/// churn began and through which `passed` windows went by: those windows'
/// deadlines closed, the next one is open.
pub fn postings(current: u64, passed: usize) -> [Posting; 48] {
    let mut out = [Posting::None; 48];
    for k in 0..passed.min(47) {
        out[((current + k as u64) % 48) as usize] = Posting::Closed;
    }
    out[((current + passed.min(47) as u64) % 48) as usize] = Posting::Open;
    out
}

/// Records `posting` in `dl`: one proof of the `proven` partitions (none
/// when every partition was missed).
pub fn record<S: Blockstore>(
    store: &S,
    p: &SectorParams,
    deadline: usize,
    dl: &mut miner::Deadline,
    proven: &[u64],
    posting: Posting,
) -> Result<()> {
    if posting == Posting::None || proven.is_empty() {
        return Ok(());
    }
    let proven = BitField::try_from_bits(proven.iter().copied())
        .map_err(|e| Error::Synth(format!("posted partitions: {e}")))?;
    let proof_type = if p.large {
        RegisteredPoStProof::StackedDRGWindow64GiBV1
    } else {
        RegisteredPoStProof::StackedDRGWindow32GiBV1
    };
    let proof_bytes: Vec<u8> = (0..PROOF_BYTES / 8)
        .flat_map(|i| {
            mix(&[p.seed, p.miner, deadline as u64, p.epoch as u64, i as u64]).to_le_bytes()
        })
        .collect();
    let mut submissions: Amt<miner::WindowedPoSt, _> = Amt::new_with_bit_width(
        store,
        miner::DEADLINE_OPTIMISTIC_POST_SUBMISSIONS_AMT_BITWIDTH,
    );
    submissions
        .set(
            0,
            miner::WindowedPoSt {
                partitions: proven.clone(),
                proofs: vec![PoStProof {
                    post_proof: proof_type,
                    proof_bytes,
                }],
            },
        )
        .map_err(|e| Error::Synth(format!("post submissions: {e}")))?;
    let submissions = submissions
        .flush()
        .map_err(|e| Error::Synth(format!("post submissions: {e}")))?;
    match posting {
        Posting::Closed => dl.optimistic_post_submissions_snapshot = submissions,
        Posting::Open => {
            dl.partitions_posted = proven;
            dl.optimistic_post_submissions = submissions;
        }
        Posting::None => unreachable!("returned above"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_that_passed_are_closed_and_the_next_is_open() {
        let p = postings(46, 3);
        assert_eq!(p[46], Posting::Closed);
        assert_eq!(p[47], Posting::Closed);
        assert_eq!(p[0], Posting::Closed);
        assert_eq!(p[1], Posting::Open);
        assert_eq!(p.iter().filter(|x| **x == Posting::None).count(), 44);
        // A churn longer than a proving period leaves one deadline open.
        assert_eq!(
            postings(0, 100)
                .iter()
                .filter(|x| **x == Posting::Open)
                .count(),
            1
        );
    }
}
