//! Migrations: the upgrade specs, the runner, the cache, and the migrators.

pub mod actor_pass;
pub mod actors_tree;
pub mod amt_value_map;
pub mod cache;
pub mod car_run;
pub mod chain;
pub mod checkpointer;
pub mod context;
pub mod deferred;
pub mod detect;
pub mod gc;
pub mod head_tuple;
pub mod migrators;
pub mod progress;
pub mod reference;
pub mod report;
pub mod retain;
pub mod router;
pub mod runner;
pub mod spec;
pub mod store_cache;
pub mod store_run;
pub mod upgrade;
pub mod upgrades;
pub mod verify;

pub use cache::{MemoryCache, MigrationCache, NoCache, ScratchCache};
pub use context::CancelToken;
pub use gc::{collect_garbage, collect_garbage_on, GcReport};
pub use report::MigrationReport;
pub use runner::{default_memory_budget, migrate_state, MigrationOptions, MigrationOutcome};
pub use spec::UpgradeSpec;
pub use store_cache::StoreCache;
pub use store_run::{migrate_on_store, StoreRole};
pub use upgrade::{Upgrade, UpgradeDef};
