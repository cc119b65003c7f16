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
}

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
