//! `fil-migrate gen`: synthetic snapshot CARs.

use std::path::PathBuf;

use clap::Args;
use fil_migrate::actors::manifest::Network;
use fil_migrate::synth::churn::ChurnConfig;
use fil_migrate::synth::{
    churn_car, default_epoch, generate_car, mainnet_preset, GenConfig, MinerSizes,
    MAINNET_PRESET_SECTORS,
};

use fil_migrate::migration::car_run::migrate_car_chain;
use fil_migrate::migration::{MigrationOptions, Upgrade};

use super::args::parse_bytes;

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output CAR file.
    #[arg(long)]
    out: PathBuf,
    /// Network whose published actors v11 manifest the state uses.
    #[arg(long, default_value = "mainnet")]
    network: Network,
    /// Seed for every random choice (same arguments and seed ⇒ same state root).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Epoch of the state (default: 900 epochs before the network's nv21 upgrade).
    #[arg(long)]
    epoch: Option<i64>,
    /// Number of miners.
    #[arg(long, default_value_t = 1)]
    miners: u64,
    /// Sectors per miner (fixed size).
    #[arg(long, default_value_t = 10_000, conflicts_with = "total_sectors")]
    sectors: u64,
    /// Total sectors spread over the miners by a power law (mainnet-like).
    #[arg(long)]
    total_sectors: Option<u64>,
    /// Power-law exponent for --total-sectors.
    #[arg(long, default_value_t = 1.1)]
    alpha: f64,
    /// Plain accounts besides the miners' owners and workers.
    #[arg(long, default_value_t = 100)]
    accounts: u64,
    /// Multisig actors.
    #[arg(long, default_value_t = 5)]
    multisigs: u64,
    /// EVM contracts.
    #[arg(long, default_value_t = 5)]
    evm: u64,
    /// Ethereum accounts.
    #[arg(long, default_value_t = 5)]
    eth_accounts: u64,
    /// Miners with no sectors (each with an owner account and a zero claim).
    #[arg(long, default_value_t = 0)]
    empty_miners: u64,
    /// Payment channels.
    #[arg(long, default_value_t = 0)]
    payment_channels: u64,
    /// Placeholders besides the one every state has.
    #[arg(long, default_value_t = 0)]
    placeholders: u64,
    /// Most deals a sector with deals lists, with a market holding their
    /// proposals and states (0: an empty market and random deal IDs, the
    /// nv21 states). A third of sectors have deals, so the market holds
    /// about sectors × (1 + this) / 6 deals.
    #[arg(long, default_value_t = 0)]
    deals_per_sector: u64,
    /// Add the mining reserve f090 as a multisig (what nv23 migrates).
    #[arg(long)]
    mining_reserve: bool,
    /// Add the three FIP-0118 contracts at their published f410 addresses
    /// (what nv29's reward bootstrap resolves) and some self-destructed EVM
    /// contracts.
    #[arg(long)]
    solstice_contracts: bool,
    /// Give miners vesting tables of 0, 1 or many entries (what nv25 reads)
    /// instead of twelve each.
    #[arg(long)]
    mixed_vesting: bool,
    /// Everything a later upgrade reads: --mining-reserve,
    /// --solstice-contracts and --mixed-vesting (the mainnet preset has them).
    #[arg(long)]
    all_upgrades: bool,
    /// Run these upgrades on the generated (v11) state and write the result
    /// instead: `--then nv21` gives a v12 state for nv22. Repeatable.
    #[arg(long)]
    then: Vec<String>,
    /// Run every upgrade from v11 up to this network version (`nv28`: a v18
    /// state for nv29) or upgrade, fix upgrades included, and write the
    /// result instead.
    #[arg(long, conflicts_with = "then")]
    to: Option<String>,
    /// A whole population instead of the counts above: `mainnet` is mainnet's
    /// actor mix (3.81M actors at --scale 1: 0.7M miners, 4,000 of them with
    /// the --total-sectors, default 2M × scale, by a power law).
    #[arg(long, value_parser = ["mainnet"], conflicts_with_all = ["miners", "sectors", "accounts", "multisigs", "evm", "eth_accounts", "empty_miners", "payment_channels", "placeholders"])]
    preset: Option<String>,
    /// Scale of --preset (0.01 is a 38k-actor state of the same shape).
    #[arg(long, default_value_t = 1.0, requires = "preset")]
    scale: f64,
    /// Churn: write the successor of this snapshot instead of a new state.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Churn: epochs between the input and the successor.
    #[arg(long, default_value_t = 180)]
    epochs: i64,
    /// Churn: change this fraction of every miner's sectors (instead of mainnet-like rates).
    #[arg(long)]
    change_fraction: Option<f64>,
    /// Churn: miners created.
    #[arg(long, default_value_t = 1)]
    new_miners: u64,
    /// Churn: accounts created.
    #[arg(long, default_value_t = 10)]
    new_accounts: u64,
    /// Churn: no WindowPoSt (by default every miner with live sectors proves
    /// the deadlines whose window passes, so its head changes, as on mainnet).
    #[arg(long)]
    no_window_post: bool,
    /// Bytes of not-yet-written blocks kept in memory.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    memory_budget: u64,
}

pub fn run(mut a: GenArgs) -> anyhow::Result<()> {
    let inputs: Vec<&std::path::Path> = a.from.iter().map(|p| p.as_path()).collect();
    a.out = super::outputs::checked_output(&a.out, "--out", &inputs)?;
    if let Some(from) = &a.from {
        let cfg = ChurnConfig {
            epochs: a.epochs,
            seed: a.seed,
            change_fraction: a.change_fraction,
            new_miners: a.new_miners,
            new_accounts: a.new_accounts,
            window_post: !a.no_window_post,
            ..Default::default()
        };
        let s = churn_car(from, &a.out, &cfg, a.memory_budget)?;
        println!("state root:  {}", s.state_root);
        println!(
            "epochs:      {} -> {}; sectors removed {}, modified {}, added {}; {} new miners, {} new accounts",
            s.stats.from_epoch, s.stats.to_epoch, s.stats.removed, s.stats.modified, s.stats.added, s.stats.new_miners, s.stats.new_accounts
        );
        let m = &s.stats.market;
        if m.activated + m.slashed + m.updated + m.removed > 0 {
            println!(
                "market:      {} deals activated, {} slashed, {} updated, {} cleaned up",
                m.activated, m.slashed, m.updated, m.removed
            );
        }
        let f = &s.stats.faults;
        if f.missed_partitions + f.new_faults + f.recovered + f.recoveries_declared > 0 {
            println!(
                "faults:      {} partitions missed their window, {} sectors became faulty, {} recovered, {} declared recovering",
                f.missed_partitions, f.new_faults, f.recovered, f.recoveries_declared
            );
        }
        let c = &s.stats.actors;
        println!(
            "actors:      {} senders, {} recipients, {} payment channels collected, {} miners paid fees",
            c.senders, c.recipients, c.deleted, c.fee_miners
        );
        println!(
            "car:         {} ({} blocks, {} new, {} bytes)",
            a.out.display(),
            s.blocks,
            s.new_blocks,
            s.car_bytes
        );
        return Ok(());
    }
    if a.preset.is_some() {
        if !(a.scale > 0.0 && a.scale <= 100.0) {
            anyhow::bail!("--scale {} is outside (0, 100]", a.scale);
        }
        let total = a
            .total_sectors
            .unwrap_or((MAINNET_PRESET_SECTORS as f64 * a.scale).round() as u64);
        let mut cfg = mainnet_preset(a.scale, total, a.seed);
        cfg.network = a.network;
        cfg.epoch = a.epoch.unwrap_or_else(|| default_epoch(a.network));
        cfg.deals_per_sector = a.deals_per_sector;
        cfg.mining_reserve |= a.mining_reserve;
        cfg.solstice_contracts |= a.solstice_contracts;
        cfg.mixed_vesting |= a.mixed_vesting;
        return write_state(&a.out, &cfg, a.memory_budget, &upgrades(&a, &cfg)?);
    }
    let miners = match a.total_sectors {
        Some(total) => MinerSizes::PowerLaw {
            miners: a.miners,
            total,
            alpha: a.alpha,
        },
        None => MinerSizes::Fixed {
            miners: a.miners,
            sectors: a.sectors,
        },
    };
    let cfg = GenConfig {
        network: a.network,
        seed: a.seed,
        epoch: a.epoch.unwrap_or_else(|| default_epoch(a.network)),
        miners,
        accounts: a.accounts,
        multisigs: a.multisigs,
        evm_contracts: a.evm,
        eth_accounts: a.eth_accounts,
        empty_miners: a.empty_miners,
        payment_channels: a.payment_channels,
        placeholders: a.placeholders,
        deals_per_sector: a.deals_per_sector,
        mining_reserve: a.mining_reserve || a.all_upgrades,
        solstice_contracts: a.solstice_contracts || a.all_upgrades,
        mixed_vesting: a.mixed_vesting || a.all_upgrades,
    };
    write_state(&a.out, &cfg, a.memory_budget, &upgrades(&a, &cfg)?)
}

/// The upgrades `--then` or `--to` ask for, in order.
fn upgrades(a: &GenArgs, cfg: &GenConfig) -> anyhow::Result<Vec<String>> {
    Ok(match &a.to {
        None => a.then.clone(),
        Some(target) => {
            let v11 = Upgrade::load("nv21", cfg.network)?.old_manifest.data_cid;
            fil_migrate::migration::chain::upgrade_path(cfg.network, &v11, target)?
                .into_iter()
                .map(|s| s.name.clone())
                .collect()
        }
    })
}

fn write_state(
    out: &std::path::Path,
    cfg: &GenConfig,
    memory_budget: u64,
    then: &[String],
) -> anyhow::Result<()> {
    if !then.is_empty() {
        let specs = then
            .iter()
            .map(|u| Upgrade::load(u, cfg.network))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = tempfile::tempdir_in(
            out.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new(".")),
        )?;
        let v11 = dir.path().join("generated.car");
        let s = generate_car(&v11, cfg, memory_budget)?;
        println!(
            "generated:   {} ({} actors, actors v11)",
            s.state_root, s.stats.actors
        );
        let opts = MigrationOptions {
            memory_budget,
            ..Default::default()
        };
        let roots = migrate_car_chain(&v11, out, &specs, &opts)?;
        for (spec, root) in specs.iter().zip(&roots) {
            println!(
                "{:<12} {root} (actors v{})",
                format!("{}:", spec.name),
                spec.new_manifest.actors_version
            );
        }
        println!(
            "state root:  {}",
            roots.last().expect("one upgrade at least")
        );
        println!("car:         {}", out.display());
        return Ok(());
    }
    let s = generate_car(out, cfg, memory_budget)?;
    println!("state root:  {}", s.state_root);
    println!(
        "actors:      {} ({} miners, {} sectors)",
        s.stats.actors, s.stats.miners, s.stats.sectors
    );
    println!(
        "car:         {} ({} blocks, {} bytes)",
        out.display(),
        s.blocks,
        s.car_bytes
    );
    println!(
        "time:        build {:.2}s, export {:.2}s",
        s.build_secs, s.export_secs
    );
    Ok(())
}
