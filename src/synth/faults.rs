//! Faults and recoveries of a miner's sectors, and how a WindowPoSt moves
//! them. On mainnet a churn's proofs do more than change each proving
//! miner's head: a partition that misses its window turns faulty whole,
//! sectors declared recovering are proven and leave the fault set, owners
//! declare faults and recoveries. So a churned deadline's partitions are
//! new blocks with new bitfields and powers, as a final migration meets
//! them.
//!
//! A generated state starts from a stable per-sector draw ([`FaultBook::initial`]);
//! a churned one starts from what the input's partitions say
//! ([`FaultBook::read`]), so faults persist across churns and a sector
//! onboarded during one is healthy.

use std::collections::HashSet;

use cid::Cid;
use fil_actor_miner_state::v11 as miner;
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;

use super::sector_gen::{chance, mix, SectorParams};
use super::window_post::Posting;
use crate::actors::state_tree::get_cbor;
use crate::error::{Error, Result};

/// How often a churn's WindowPoSt moves faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// Chance that a partition whose window closed during the churn was not
    /// proven: every sector of it is then detected faulty.
    pub missed_partition: f64,
    /// Chance that a healthy sector of a proven partition is declared faulty.
    pub declared_fault: f64,
    /// Chance that a faulty sector's owner declares it recovering.
    pub declared_recovery: f64,
}

impl Default for FaultRates {
    /// Rates of our choosing, not measured from the chain: a partition in a
    /// few hundred misses a window, a sector in tens of thousands is declared
    /// faulty, and faulty sectors recover within a few proving periods. The
    /// final migration's cost depends on which miners' heads change (all
    /// proving ones, whatever these rates), not on how many sectors fault.
    fn default() -> Self {
        FaultRates {
            missed_partition: 1.0 / 400.0,
            declared_fault: 1.0 / 20_000.0,
            declared_recovery: 0.25,
        }
    }
}

/// Whether a sector of a generated (not churned) state is faulty: about
/// 0.1 %, stable for a sector.
pub fn initially_faulty(p: &SectorParams, number: u64) -> bool {
    mix(&[p.miner, number, 777]).is_multiple_of(1000)
}

/// What a churn's WindowPoSt did to faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FaultStats {
    /// Partitions whose window closed without a proof.
    pub missed_partitions: u64,
    /// Sectors that became faulty (missed partitions and declarations).
    pub new_faults: u64,
    /// Recovering sectors proven again.
    pub recovered: u64,
    /// Faulty sectors declared recovering.
    pub recoveries_declared: u64,
}

impl FaultStats {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &FaultStats) {
        self.missed_partitions += other.missed_partitions;
        self.new_faults += other.new_faults;
        self.recovered += other.recovered;
        self.recoveries_declared += other.recoveries_declared;
    }
}

/// The faulty sectors of one miner, and which of them are declared
/// recovering (always a subset of the faulty ones).
#[derive(Debug, Clone, Default)]
pub struct FaultBook {
    faulty: HashSet<u64>,
    recovering: HashSet<u64>,
    /// How a proof moves them.
    rates: FaultRates,
}

impl FaultBook {
    /// Faults of a generated state's `live` sector numbers:
    /// [`initially_faulty`], no recoveries.
    pub fn initial(p: &SectorParams, live: impl Iterator<Item = u64>) -> Self {
        FaultBook {
            faulty: live.filter(|&n| initially_faulty(p, n)).collect(),
            recovering: HashSet::new(),
            rates: FaultRates::default(),
        }
    }

    /// The book with proofs drawing faults and recoveries at `rates`.
    pub fn with_rates(self, rates: FaultRates) -> Self {
        FaultBook { rates, ..self }
    }

    /// Faults and recoveries recorded in the partitions of `deadlines`.
    pub fn read<S: Blockstore>(store: &S, deadlines: &miner::Deadlines) -> Result<Self> {
        let mut book = FaultBook::default();
        for c in &deadlines.due {
            let dl: miner::Deadline = get_cbor(store, c, "deadline v11")?;
            let partitions: Amt<miner::Partition, _> =
                Amt::load(&dl.partitions, store).map_err(|e| amt_error(dl.partitions, e))?;
            partitions
                .for_each(|_, part| {
                    book.faulty.extend(part.faults.iter());
                    book.recovering.extend(part.recoveries.iter());
                    Ok(())
                })
                .map_err(|e| amt_error(dl.partitions, e))?;
        }
        // A recovery is only declared for a faulty sector.
        book.recovering.retain(|n| book.faulty.contains(n));
        Ok(book)
    }

    /// Whether sector `number` is faulty.
    pub fn is_faulty(&self, number: u64) -> bool {
        self.faulty.contains(&number)
    }

    /// Whether sector `number` is faulty and declared recovering.
    pub fn is_recovering(&self, number: u64) -> bool {
        self.recovering.contains(&number)
    }

    /// Applies the WindowPoSt of partition `at` (deadline, index), which
    /// holds sectors `numbers`, as `posting` says it went. Returns whether
    /// the partition was proven (it belongs in the proof's partitions).
    pub fn prove(
        &mut self,
        p: &SectorParams,
        at: (usize, u64),
        numbers: &[u64],
        posting: Posting,
        stats: &mut FaultStats,
    ) -> bool {
        if posting == Posting::None {
            return false;
        }
        let (deadline, index) = at;
        // A sector's draw, on the stack: this runs for every sector proven.
        let draw = |n: u64, tag: u64| [p.seed, p.miner, p.epoch as u64, n, tag];
        let missed = [p.seed, p.miner, p.epoch as u64, deadline as u64, index, 1];
        // Only a closed window can have been missed; an open one may still
        // be proven.
        if posting == Posting::Closed && chance(&missed, self.rates.missed_partition) {
            stats.missed_partitions += 1;
            for &n in numbers {
                if self.faulty.insert(n) {
                    stats.new_faults += 1;
                }
                self.recovering.remove(&n);
            }
            return false;
        }
        for &n in numbers {
            if self.recovering.remove(&n) {
                self.faulty.remove(&n);
                stats.recovered += 1;
            } else if self.is_faulty(n) {
                if chance(&draw(n, 2), self.rates.declared_recovery) {
                    self.recovering.insert(n);
                    stats.recoveries_declared += 1;
                }
            } else if chance(&draw(n, 3), self.rates.declared_fault) {
                self.faulty.insert(n);
                stats.new_faults += 1;
            }
        }
        true
    }
}

fn amt_error(root: Cid, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what: "deadline partitions",
        cid: root,
        reason: e.to_string(),
    }
}
