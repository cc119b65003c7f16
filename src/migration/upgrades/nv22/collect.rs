//! What nv22's miner pass hands to its deferred market pass (UPGRADES §3.3):
//! for every deal of every kept sector, which sector lists it; and for every
//! miner with a kept sector, its finished `ProviderSectors` inner map.

use cid::Cid;
use parking_lot::Mutex;

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
    listings: Mutex<Vec<DealListing>>,
    providers: Mutex<Vec<(u64, Cid)>>,
}

impl Collected {
    /// Adds one miner's listings and its inner map (`None`: no kept sector).
    pub fn add_miner(&self, miner: u64, listings: Vec<DealListing>, inner: Option<Cid>) {
        if !listings.is_empty() {
            self.listings.lock().extend(listings);
        }
        if let Some(root) = inner {
            self.providers.lock().push((miner, root));
        }
    }

    /// Takes everything collected: the listings sorted by deal, then miner,
    /// then sector; the miners' inner maps.
    pub fn take(&self) -> (Vec<DealListing>, Vec<(u64, Cid)>) {
        let mut listings = std::mem::take(&mut *self.listings.lock());
        listings.sort_unstable();
        let providers = std::mem::take(&mut *self.providers.lock());
        (listings, providers)
    }
}

/// The sector a deal's state gets: the reference keeps the last listing any
/// worker wrote, so a deal two sectors list (which the chain never allows)
/// has no one answer there. Ours is fixed: the highest (miner, sector).
/// `listings` is sorted as [`Collected::take`] leaves it.
pub fn sector_of(listings: &[DealListing], deal: u64) -> Option<u64> {
    let end = listings.partition_point(|l| l.deal <= deal);
    (end > 0 && listings[end - 1].deal == deal).then(|| listings[end - 1].sector)
}
