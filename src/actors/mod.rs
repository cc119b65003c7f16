//! Actor-level knowledge: published manifests, the state tree's top-level
//! types, and per-version transforms (fast byte-level transcoders, each with
//! a typed reference path through the `fil_actor_*_state` crates that tests
//! and `--verify` compare it against).

pub mod facts;
pub mod manifest;
pub mod miner_layout;
pub mod sector_v11_v12;
pub mod state_tree;
pub mod summary;
pub mod tuple;
