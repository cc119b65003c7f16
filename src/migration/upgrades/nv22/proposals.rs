//! What the market pass needs of each deal proposal: that it exists, and
//! whether its `end_epoch` is at or after the upgrade epoch. Two bits per
//! deal ID, filled from one parallel read of the proposals AMT, instead of
//! an AMT lookup per deal state (13M of them on mainnet).

use std::sync::atomic::{AtomicU64, Ordering};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::ipld::amt::{par_for_each_value, AmtRoot};
use crate::ipld::cbor::Cursor;

/// Bit width of the proposals AMT (v12 `PROPOSALS_AMT_BITWIDTH`).
pub const PROPOSALS_AMT_BITWIDTH: u32 = 5;
const PROPOSAL_FIELDS: u64 = 11;
const PROPOSAL_END_EPOCH: u64 = 7;

/// A deal's proposal, as far as the market pass cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal {
    /// No proposal under this deal ID.
    Missing,
    /// Ends before the upgrade epoch.
    Ended,
    /// Ends at or after the upgrade epoch.
    Live,
    /// Not a v12 deal proposal: an error if a deal state needs it (the
    /// reference decodes only the proposals it looks up).
    Undecodable,
}

impl Proposal {
    fn bits(self) -> u64 {
        match self {
            Proposal::Missing => 0,
            Proposal::Ended => 1,
            Proposal::Live => 2,
            Proposal::Undecodable => 3,
        }
    }

    fn from_bits(b: u64) -> Self {
        match b & 3 {
            0 => Proposal::Missing,
            1 => Proposal::Ended,
            2 => Proposal::Live,
            _ => Proposal::Undecodable,
        }
    }
}

/// Every proposal's [`Proposal`] by deal ID.
pub struct ProposalTable {
    /// 32 deals per word, for IDs below `dense`.
    words: Vec<AtomicU64>,
    dense: u64,
    /// IDs at or above `dense` (none on a chain: IDs are below `next_id`).
    sparse: Mutex<FxHashMap<u64, Proposal>>,
}

impl ProposalTable {
    /// Reads the proposals AMT `root`; `next_id` (the market's) sizes the
    /// dense table, unless it is absurdly larger than the AMT.
    pub fn read<S: Blockstore + Sync>(
        store: &S,
        root: &Cid,
        next_id: u64,
        upgrade_epoch: i64,
    ) -> Result<Self> {
        let r = check_proposals_bit_width(store, root)?;
        let dense = if next_id <= r.count.saturating_mul(64).saturating_add(1 << 24) {
            next_id
        } else {
            0
        };
        let table = ProposalTable {
            words: (0..dense.div_ceil(32)).map(|_| AtomicU64::new(0)).collect(),
            dense,
            sparse: Mutex::new(FxHashMap::default()),
        };
        par_for_each_value(store, root, &|deal, v| {
            table.set(deal, classify(v, upgrade_epoch));
            Ok(())
        })?;
        Ok(table)
    }

    fn set(&self, deal: u64, p: Proposal) {
        if deal < self.dense {
            let shift = (deal % 32) * 2;
            self.words[(deal / 32) as usize].fetch_or(p.bits() << shift, Ordering::Relaxed);
        } else {
            self.sparse.lock().insert(deal, p);
        }
    }

    /// The proposal of `deal`.
    pub fn get(&self, deal: u64) -> Proposal {
        if deal < self.dense {
            let w = self.words[(deal / 32) as usize].load(Ordering::Relaxed);
            Proposal::from_bits(w >> ((deal % 32) * 2))
        } else {
            self.sparse
                .lock()
                .get(&deal)
                .copied()
                .unwrap_or(Proposal::Missing)
        }
    }
}

/// The proposal of `deal` read from the proposals AMT `root` (one lookup).
pub fn proposal_at<S: Blockstore>(
    store: &S,
    root: &Cid,
    deal: u64,
    upgrade_epoch: i64,
) -> Result<Proposal> {
    Ok(match crate::ipld::amt::get_value(store, root, deal)? {
        Some(v) => classify(&v, upgrade_epoch),
        None => Proposal::Missing,
    })
}

/// Checks a proposals AMT's bit width.
pub fn check_proposals_bit_width<S: Blockstore>(store: &S, root: &Cid) -> Result<AmtRoot> {
    let r = AmtRoot::load(store, root)?;
    if r.bit_width != PROPOSALS_AMT_BITWIDTH {
        return Err(Error::Malformed {
            what: "market proposals AMT",
            cid: *root,
            reason: format!(
                "bit width {} (v12 proposals use {PROPOSALS_AMT_BITWIDTH})",
                r.bit_width
            ),
        });
    }
    Ok(r)
}

fn classify(v: &[u8], upgrade_epoch: i64) -> Proposal {
    let mut cur = Cursor::new(v);
    let end = (|| {
        if cur.array().ok()? != PROPOSAL_FIELDS {
            return None;
        }
        for _ in 0..PROPOSAL_END_EPOCH {
            cur.skip().ok()?;
        }
        cur.int().ok()
    })();
    match end {
        Some(e) if e >= upgrade_epoch => Proposal::Live,
        Some(_) => Proposal::Ended,
        None => Proposal::Undecodable,
    }
}
