//! nv22 Dragon (actors v12 → v13, FIP-0076; docs/upgrades/nv22.md): miners keep their
//! state and are read for their deals; the market, deferred until every
//! miner is done, rewrites every deal state and gains `ProviderSectors`.

pub(crate) mod base;
pub(crate) mod collect;
pub(crate) mod listings;
pub(crate) mod market;
pub(crate) mod miner;
pub(crate) mod proposals;
pub(crate) mod reference;

use std::sync::Arc;

use fvm_ipld_blockstore::Blockstore;

use crate::error::Result;
use crate::migration::migrators::{named, Named};
use crate::migration::upgrade::UpgradeDef;

/// nv22 Dragon.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv22",
    spec_text: include_str!("spec.toml"),
    migrators: |_, store| migrators(store),
    post_migrators: Vec::new,
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: None,
};

/// nv22's own migrators, by the names its spec uses: the miner and the
/// market share what the miner pass collects.
pub fn migrators<S: Blockstore>(store: &S) -> Result<Vec<Named>> {
    let collected = Arc::new(collect::Collected::default());
    Ok(vec![
        named(
            "nv22_miner",
            miner::Nv22MinerMigrator::new(store, collected.clone())?,
        ),
        named("nv22_market", market::Nv22MarketMigrator::new(collected)),
    ])
}
