//! The synthetic state generator: realistic v11 states of any size, built
//! with the real actor types and the published manifests, and churned
//! successors of them. See `fil-migrate gen`.

pub mod actor_churn;
pub mod build;
pub mod chain_car;
pub mod churn;
pub mod config;
pub mod faults;
pub mod headers;
pub mod market;
pub mod market_churn;
pub mod miner_state;
pub mod output;
pub mod population;
pub mod sector_gen;
pub mod sectors;
pub mod singletons;
pub mod window_post;

pub use config::{default_epoch, mainnet_preset, GenConfig, MinerSizes, MAINNET_PRESET_SECTORS};
pub use output::{churn_car, generate_car, ChurnSummary, GenSummary};
