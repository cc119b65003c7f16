//! nv29 Solstice (actors v18 → v19, FIP-0118; docs/upgrades/nv29.md), as Forest 0.39
//! and go-state-types PR #462 run it: the market drops
//! `pending_deal_allocation_ids`; the reward actor takes the v19 layout,
//! with the two bootstrap reward streams whose addresses are resolved
//! through the input state's init actor. Power is not migrated (its ramp
//! fields stay, PR #466 is not part of nv29).

pub mod bootstrap;
pub mod market;
pub mod reward;

use fvm_ipld_blockstore::Blockstore;

use crate::migration::migrators::Named;

/// nv29's own migrators, by the names its spec uses. The reward actor is
/// a post-migrator ([`reward::RewardStreams`]): it reads the input tree's
/// init actor, which no single actor's migration sees.
pub fn migrators<'a, B: Blockstore + Sync + 'a>() -> Vec<Named<'a, B>> {
    vec![(
        "nv29_market".to_string(),
        Box::new(market::DropPendingAllocations),
    )]
}
