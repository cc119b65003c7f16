//! Every integration test, in one binary: each test binary links the
//! whole library and its dependencies, so one binary instead of two dozen
//! saves CI most of its link time. Each file is one area, as before.

// Library errors carry CIDs by value (see lib.rs).
#![allow(clippy::result_large_err)]

mod common;

mod amt;
mod bench_suite;
mod buffered_store;
mod car;
mod chain_snapshot;
mod cli_forest;
mod cli_upgrade;
mod diff_base_pairs;
mod disk_full;
mod fault_injection;
mod forest_car;
mod gc;
mod golden;
mod golden_chain;
mod hamt;
mod hamt_algorithms;
mod module_graph;
mod nv21;
mod nv22;
mod nv23;
mod premigration;
mod reliability;
mod sector_transcode;
mod state_tree_final;
mod synth;
mod upgrades;
