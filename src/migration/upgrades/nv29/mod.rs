//! nv29 Solstice (actors v18 → v19, FIP-0118; docs/upgrades/nv29.md), as Forest 0.39
//! and go-state-types PR #462 run it: the market drops
//! `pending_deal_allocation_ids`; the reward actor takes the v19 layout,
//! with the two bootstrap reward streams whose addresses are resolved
//! through the input state's init actor. Power is not migrated (its ramp
//! fields stay, PR #466 is not part of nv29).

pub mod bootstrap;
pub mod market;
pub mod reference;
pub mod reward;

use crate::migration::migrators::Named;
use crate::migration::upgrade::UpgradeDef;

/// nv29 Solstice.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv29",
    spec_text: include_str!("spec.toml"),
    migrators: |_, _| Ok(migrators()),
    post_migrators: || vec![Box::new(reward::RewardStreams)],
    reference: |store, root, spec| reference::reference_nv29(store, root, spec),
    output_check: None,
};

/// nv29's own migrators, by the names its spec uses. The reward actor is
/// a post-migrator ([`reward::RewardStreams`]): it reads the input tree's
/// init actor, which no single actor's migration sees.
pub fn migrators() -> Vec<Named> {
    vec![(
        "nv29_market".to_string(),
        Box::new(market::DropPendingAllocations),
    )]
}
