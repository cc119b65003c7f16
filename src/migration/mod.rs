//! Migrations: the upgrade specs, the runner, the cache, and the migrators.

mod actor_pass;
pub mod actors_tree;
mod amt_value_map;
pub mod cache;
pub mod car_run;
pub mod chain;
mod checkpointer;
mod context;
mod deferred;
pub mod detect;
pub mod gc;
mod head_tuple;
mod migrators;
mod progress;
pub mod reference;
pub mod report;
mod retain;
mod router;
mod runner;
pub mod spec;
pub mod store_cache;
pub mod store_run;
mod upgrade;
pub mod upgrades;
pub mod verify;

pub use cache::{MemoryCache, MigrationCache, NoCache, ScratchCache};
pub use context::CancelToken;
pub use gc::{collect_garbage, collect_garbage_on, GcOptions, GcReport};
pub use report::MigrationReport;
pub use retain::{InputTree, RetainFn, RetainInputs};
pub use runner::{default_memory_budget, migrate_state, MigrationOptions, MigrationOutcome};
pub use spec::UpgradeSpec;
pub use store_cache::StoreCache;
pub use store_run::{migrate_on_store, StoreRole};
pub use upgrade::{Upgrade, UpgradeDef};
