//! What nv22's miner pass hands to its deferred market pass (docs/upgrades/nv22.md):
//! every visited miner's `ProviderSectors` inner map, and, when the market
//! is rebuilt from scratch, every deal listing of every kept sector. Which
//! of the two passes the market makes is decided once, before the miners
//! run ([`Collected::decide`]), so the miners collect what it will need.

use std::sync::OnceLock;

use cid::Cid;
use parking_lot::Mutex;
use rayon::slice::ParallelSliceMut;

use super::base::MarketBase;

/// One deal ID listed by a kept sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DealListing {
    /// The deal.
    pub deal: u64,
    /// The miner whose sector lists it.
    pub miner: u64,
    /// The sector (its AMT index).
    pub sector: u64,
}

/// Shared by the miner migrator (which fills it, from every worker) and the
/// market migrator (which takes it once every miner is done).
#[derive(Debug, Default)]
pub struct Collected {
    /// `Some(base)`: the market is patched from the last run's base, and
    /// only the miners that changed since are visited.
    base: OnceLock<Option<MarketBase>>,
    listings: Mutex<Vec<DealListing>>,
    miners: Mutex<Vec<(u64, Option<Cid>)>>,
}

/// What the market pass receives.
pub struct Harvest {
    /// Every listing, sorted by deal, miner, sector (from-scratch pass only).
    pub listings: Vec<DealListing>,
    /// Each visited miner's inner map (`None`: no kept sector), by miner.
    pub miners: Vec<(u64, Option<Cid>)>,
}

impl Collected {
    /// Fixes the market's pass for this run (the first call wins).
    pub fn decide(&self, base: Option<MarketBase>) -> Option<MarketBase> {
        *self.base.get_or_init(|| base)
    }

    /// The base the market patches, if it does not start from scratch.
    pub fn base(&self) -> Option<MarketBase> {
        self.base.get().copied().flatten()
    }

    /// Whether the market needs every listing (a from-scratch pass).
    pub fn wants_listings(&self) -> bool {
        self.base().is_none()
    }

    /// Adds one miner's inner map and (from scratch) its listings.
    pub fn add_miner(&self, miner: u64, listings: Vec<DealListing>, inner: Option<Cid>) {
        if !listings.is_empty() {
            self.listings.lock().extend(listings);
        }
        self.miners.lock().push((miner, inner));
    }

    /// Takes everything collected.
    pub fn take(&self) -> Harvest {
        let mut listings = std::mem::take(&mut *self.listings.lock());
        // Every deal's listing on mainnet (13M): sorted on every core.
        listings.par_sort_unstable();
        let mut miners = std::mem::take(&mut *self.miners.lock());
        miners.sort_unstable();
        Harvest { listings, miners }
    }
}

/// The sector a deal's state gets: the reference keeps the last listing any
/// worker wrote, so a deal two sectors list (which the chain never allows)
/// has no one answer there. Ours is fixed: the highest (miner, sector).
/// `listings` is sorted as [`Collected::take`] leaves them.
pub fn sector_of(listings: &[DealListing], deal: u64) -> Option<u64> {
    let end = listings.partition_point(|l| l.deal <= deal);
    (end > 0 && listings[end - 1].deal == deal).then(|| listings[end - 1].sector)
}
