//! nv29 Solstice (actors v18 → v19, FIP-0118; docs/upgrades/nv29.md), as Forest 0.39
//! and go-state-types PR #462 run it: the market drops
//! `pending_deal_allocation_ids`; the reward actor takes the v19 layout,
//! with the two bootstrap reward streams whose addresses are resolved
//! through the input state's init actor. Power is not migrated (its ramp
//! fields stay, PR #466 is not part of nv29).

pub(crate) mod bootstrap;
pub(crate) mod market;
pub(crate) mod reference;
pub(crate) mod reward;

use crate::migration::migrators::named;
use crate::migration::upgrade::UpgradeDef;

/// nv29 Solstice.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv29",
    spec_text: include_str!("spec.toml"),
    // The reward actor is a post-migrator: it reads the input tree's init
    // actor, which no single actor's migration sees.
    migrators: |_, _| Ok(vec![named("nv29_market", market::DropPendingAllocations)]),
    post_migrators: || vec![Box::new(reward::RewardStreams)],
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: None,
};
