//! Generator configuration.

use crate::actors::manifest::Network;

/// How sectors are spread over miners.
#[derive(Debug, Clone, PartialEq)]
pub enum MinerSizes {
    /// Every miner has the same number of sectors.
    Fixed {
        /// Miners.
        miners: u64,
        /// Sectors per miner.
        sectors: u64,
    },
    /// Sector counts follow a power law (Zipf, exponent `alpha`) summing to `total`.
    PowerLaw {
        /// Miners.
        miners: u64,
        /// Total sectors.
        total: u64,
        /// Exponent (mainnet-like: about 1.1).
        alpha: f64,
    },
}

impl MinerSizes {
    /// Sector count of every miner, largest first for the power law.
    pub fn counts(&self) -> Vec<u64> {
        match *self {
            MinerSizes::Fixed { miners, sectors } => vec![sectors; miners as usize],
            MinerSizes::PowerLaw {
                miners,
                total,
                alpha,
            } => {
                let w: Vec<f64> = (0..miners)
                    .map(|i| 1.0 / ((i + 1) as f64).powf(alpha))
                    .collect();
                let sum: f64 = w.iter().sum();
                let mut counts: Vec<u64> = w
                    .iter()
                    .map(|x| (x / sum * total as f64).floor() as u64)
                    .collect();
                let mut left = total - counts.iter().sum::<u64>();
                for c in counts.iter_mut() {
                    if left == 0 {
                        break;
                    }
                    *c += 1;
                    left -= 1;
                }
                counts
            }
        }
    }
}

/// Everything `gen` takes. Same config ⇒ same state root.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Network whose published v11 manifest the state uses.
    pub network: Network,
    /// Seed of every random choice.
    pub seed: u64,
    /// The state's epoch.
    pub epoch: i64,
    /// Miner sizes.
    pub miners: MinerSizes,
    /// Plain accounts (besides miner owners/workers).
    pub accounts: u64,
    /// Multisig actors.
    pub multisigs: u64,
    /// EVM contracts.
    pub evm_contracts: u64,
    /// Ethereum-style accounts (f410 addresses).
    pub eth_accounts: u64,
    /// Miners with no sectors (the canonical empty structures), each with
    /// one owner account: most of mainnet's ~0.7M miners.
    pub empty_miners: u64,
    /// Payment channels between accounts.
    pub payment_channels: u64,
    /// Placeholders (f410 addresses that received funds before any code),
    /// besides the one every state has.
    pub placeholders: u64,
    /// Most deals a sector with deals lists (a third of sectors have
    /// deals). 0: the market is empty and sectors list random deal IDs (the
    /// nv21 states, whose roots stay as they were); above 0 the market holds
    /// a proposal and state for the listed deals (see [`super::market`]).
    pub deals_per_sector: u64,
    /// The mining reserve f090, a multisig as genesis makes it (nv23 turns
    /// it into an account). Off: the nv21 states, whose roots stay.
    pub mining_reserve: bool,
    /// The three FIP-0118 contracts (SWA, SRA, orchestrator) as EVM actors
    /// at their published f410 addresses, registered in init, so nv29's
    /// reward bootstrap resolves; and some self-destructed EVM contracts.
    /// Off: the earlier states, whose roots stay.
    pub solstice_contracts: bool,
    /// Miner vesting tables of 0, 1 or many entries (nv25 reads them).
    /// Off: twelve for every miner, the earlier states' roots.
    pub mixed_vesting: bool,
}

/// The actor population of mainnet at `scale` 1 (3.81M actors; docs/design.md §2):
/// 0.7M miners of which 4,000 hold sectors (power law), 2.5M accounts,
/// multisigs, payment channels, EVM contracts, eth accounts, placeholders.
pub fn mainnet_preset(scale: f64, total_sectors: u64, seed: u64) -> GenConfig {
    let n = |x: f64| (x * scale).round().max(1.0) as u64;
    GenConfig {
        network: Network::Mainnet,
        seed,
        epoch: default_epoch(Network::Mainnet),
        miners: MinerSizes::PowerLaw {
            miners: n(4_000.0),
            total: total_sectors,
            alpha: 1.1,
        },
        accounts: n(1_850_000.0),
        multisigs: n(20_000.0),
        evm_contracts: n(60_000.0),
        eth_accounts: n(400_000.0),
        empty_miners: n(696_000.0),
        payment_channels: n(30_000.0),
        placeholders: n(50_000.0),
        deals_per_sector: 0,
        mining_reserve: true,
        solstice_contracts: true,
        mixed_vesting: true,
    }
}

/// Sectors of the mainnet preset at `scale` 1 unless `--total-sectors` says
/// otherwise: mainnet's hundreds of millions do not fit this machine's disk,
/// and at 2M the actors, not the sectors, are most of the work, which is
/// what the preset is for (the sector-heavy scenarios have their own states).
pub const MAINNET_PRESET_SECTORS: u64 = 2_000_000;

impl GenConfig {
    /// A small mainnet state: one miner with `sectors` sectors and a few of every other actor.
    pub fn single_miner(sectors: u64) -> Self {
        GenConfig {
            network: Network::Mainnet,
            seed: 1,
            epoch: default_epoch(Network::Mainnet),
            miners: MinerSizes::Fixed { miners: 1, sectors },
            accounts: 20,
            multisigs: 3,
            evm_contracts: 3,
            eth_accounts: 3,
            empty_miners: 0,
            payment_channels: 0,
            placeholders: 0,
            deals_per_sector: 0,
            mining_reserve: false,
            solstice_contracts: false,
            mixed_vesting: false,
        }
    }
}

/// Default epoch of a generated state: 900 epochs before the nv21 upgrade,
/// where a node would run its premigration.
pub fn default_epoch(network: Network) -> i64 {
    match network {
        Network::Mainnet => 3_469_380 - 900,
        Network::Calibnet => 1_013_134 - 900,
    }
}
