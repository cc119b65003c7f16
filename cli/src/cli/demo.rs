//! `fil-migrate demo`: the main job on an embedded default. Generates a
//! synthetic mainnet v11 state and a successor 180 epochs later, premigrates
//! the first, migrates the second through the premigration's cache (diffing
//! only what changed), verifies the result against an uncached from-scratch
//! run and the typed reference path, and prints a report.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use fil_migrate::actors::manifest::Network;
use fil_migrate::chain::default_state_root;
use fil_migrate::migration::verify::verify;
use fil_migrate::migration::{migrate_state, MemoryCache, MigrationOptions, Upgrade};
use fil_migrate::store::{
    CarSource, CarSourceOptions, DiskStore, DiskStoreOptions, LowerFirst, Overlay,
};
use fil_migrate::synth::churn::ChurnConfig;
use fil_migrate::synth::{churn_car, default_epoch, generate_car, GenConfig, MinerSizes};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Sectors per miner.
    #[arg(long, default_value_t = 200_000)]
    sectors: u64,
    /// Miners.
    #[arg(long, default_value_t = 3)]
    miners: u64,
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let budget = 256 << 20;
    println!("fil-migrate demo in {}", dir.display());

    let t = Instant::now();
    let cfg = GenConfig {
        network: Network::Mainnet,
        seed: 1,
        epoch: default_epoch(Network::Mainnet),
        miners: MinerSizes::Fixed {
            miners: a.miners,
            sectors: a.sectors,
        },
        accounts: 1_000,
        multisigs: 10,
        evm_contracts: 10,
        eth_accounts: 10,
        empty_miners: 0,
        payment_channels: 0,
        placeholders: 0,
        deals_per_sector: 0,
        mining_reserve: false,
        solstice_contracts: false,
        mixed_vesting: false,
    };
    let s0 = dir.join("s0.car");
    let g = generate_car(&s0, &cfg, budget)?;
    println!(
        "1. generated S0: {} actors, {} miners, {} sectors -> {} in {:.2?}",
        g.stats.actors,
        g.stats.miners,
        g.stats.sectors,
        g.state_root,
        t.elapsed()
    );
    let t = Instant::now();
    let s1 = dir.join("s1.car");
    let c = churn_car(&s0, &s1, &ChurnConfig::default(), budget)?;
    println!(
        "2. churned S1 (+180 epochs): {} removed, {} modified, {} added sectors, {} new blocks -> {} in {:.2?}",
        c.stats.removed, c.stats.modified, c.stats.added, c.new_blocks, c.state_root, t.elapsed()
    );

    let spec = Upgrade::load("nv21", Network::Mainnet)?;
    let disk = DiskStore::open(dir.join("store"), DiskStoreOptions::default())?;
    let cache = MemoryCache::default();
    let opts = MigrationOptions {
        memory_budget: budget,
        ..Default::default()
    };
    let car0 = CarSource::open(&s0, CarSourceOptions::default())?;
    let root0 = default_state_root(&car0, car0.roots())?;
    let pre = migrate_state(
        &LowerFirst(Overlay {
            upper: &disk,
            lower: &car0,
        }),
        &root0,
        &spec,
        &cache,
        &opts,
    )?;
    disk.sync()?;
    println!(
        "3. premigrated S0 -> {} in {:.2}s ({} sectors from scratch)",
        pre.state_root,
        pre.report.phases.last().map_or(0.0, |p| p.1),
        pre.report.sectors_from_scratch
    );
    let car1 = CarSource::open(&s1, CarSourceOptions::default())?;
    let root1 = default_state_root(&car1, car1.roots())?;
    // As in a node at the upgrade epoch, the blockstore holds both states:
    // the final run reads S1 and, where S1 changed, the premigrated S0.
    let store1 = LowerFirst(Overlay {
        upper: &disk,
        lower: Overlay {
            upper: &car1,
            lower: &car0,
        },
    });
    let fin = migrate_state(&store1, &root1, &spec, &cache, &opts)?;
    disk.sync()?;
    let r = &fin.report;
    println!(
        "4. migrated S1 -> {} in {:.2}s: actors tree {:?}, {} actors migrated, {} subtrees reused; sectors {} via diff, {} from scratch, {} covered by cache",
        fin.state_root,
        r.phases.last().map_or(0.0, |p| p.1),
        r.actors_tree,
        r.actors,
        r.actor_subtrees_reused,
        r.sectors_via_diff,
        r.sectors_from_scratch,
        r.sectors_from_cache
    );
    let t = Instant::now();
    let v = verify(&store1, &root1, &fin.state_root, &spec, &opts)?;
    println!(
        "5. verified: uncached from-scratch run agrees, {}, the typed reference path (fil_actor_miner_state + fvm_ipld_amt/hamt) agrees ({:.2?})",
        v.output_check.as_deref().unwrap_or("no output check"),
        t.elapsed()
    );
    println!("report: {}", serde_json::to_string_pretty(r)?);
    println!("new state root: {}", fin.state_root);
    Ok(())
}
