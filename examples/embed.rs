//! Embedding fil-migrate in a node: a premigration ahead of the upgrade,
//! then the final migration at the upgrade epoch through the same cache,
//! both over the node's own blockstore (here a plain
//! `fvm_ipld_blockstore::MemoryBlockstore`).
//!
//! `cargo run --example embed` prints the two roots and checks the final
//! against an uncached run of the same state.

use fil_migrate::actors::manifest::Network;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, NoCache, Upgrade};
use fil_migrate::store::{BufferOptions, BufferedBlockstore, Shared};
use fil_migrate::synth::churn::{churn_state, ChurnConfig};
use fil_migrate::synth::{build::build_state, default_epoch, GenConfig, MinerSizes};
use fvm_ipld_blockstore::MemoryBlockstore;

fn main() -> anyhow::Result<()> {
    // The node's store. Its `MemoryBlockstore` is not `Sync`; `Shared`
    // lets the migration's worker threads use it.
    let store = Shared::new(MemoryBlockstore::new());

    // Two states a node would have: one ~180 epochs before the upgrade and
    // the one at the upgrade. Generated here; a node passes its own roots.
    let (early, at_upgrade) = {
        let buf = BufferedBlockstore::new(&store, BufferOptions::default());
        let cfg = GenConfig {
            network: Network::Mainnet,
            seed: 1,
            epoch: default_epoch(Network::Mainnet),
            miners: MinerSizes::Fixed {
                miners: 3,
                sectors: 2_000,
            },
            accounts: 50,
            multisigs: 3,
            evm_contracts: 3,
            eth_accounts: 3,
            empty_miners: 5,
            payment_channels: 2,
            placeholders: 0,
            deals_per_sector: 0,
            mining_reserve: false,
            solstice_contracts: false,
            mixed_vesting: false,
        };
        let (early, _) = build_state(&buf, &cfg)?;
        buf.flush(&early)?;
        let (later, _) = churn_state(&buf, &early, &ChurnConfig::default())?;
        buf.flush(&later)?;
        (early, later)
    };

    // nv21 on mainnet; a node picks the upgrade of its height.
    let spec = Upgrade::load("nv21", Network::Mainnet)?;
    let opts = MigrationOptions {
        memory_budget: 64 << 20,
        ..Default::default()
    };
    // The cache a node keeps between the two runs (`StoreCache` persists
    // it in a store directory instead, and survives a restart).
    let cache = MemoryCache::default();

    let pre = migrate_state(&store, &early, &spec, &cache, &opts)?;
    println!("premigration: {early} -> {}", pre.state_root);
    let fin = migrate_state(&store, &at_upgrade, &spec, &cache, &opts)?;
    println!(
        "final:        {at_upgrade} -> {} ({} actors, tree {:?}, {:.3} s)",
        fin.state_root,
        fin.report.actors,
        fin.report.actors_tree,
        fin.report.phases.last().map_or(0.0, |p| p.1)
    );
    let uncached = migrate_state(&store, &at_upgrade, &spec, &NoCache, &opts)?;
    anyhow::ensure!(
        uncached.state_root == fin.state_root,
        "the final through the cache differs from the uncached run"
    );
    println!("uncached run agrees: {}", uncached.state_root);
    Ok(())
}
