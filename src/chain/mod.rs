//! Chain snapshots: block headers and the walk from a snapshot's head
//! tipset to the state of a chosen epoch.

pub mod header;
pub mod snapshot;

pub use header::HeaderFields;
pub use snapshot::{
    default_state_root, given_state, snapshot_state, tipset_at, StateSource, Tipset,
};
