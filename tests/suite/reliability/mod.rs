//! Issue 23's reliability tests, in one binary (each test binary links the
//! whole library once): forks and any pair of states through a cache,
//! network names, derived files, stores and their locks, signals, and real
//! chain data.

mod arguments;
mod derived_files;
mod fork_pairs;
mod messages;
mod network_names;
mod real_chain_data;
mod signals;
mod store_claims;
