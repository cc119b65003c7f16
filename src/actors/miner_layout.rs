//! Where a miner actor's state keeps what the migrations read and rewrite.
//! The positions are the same in every actors version the upgrades read
//! (v11 to v15: nv21 reads v11, nv22 v12, nv25 v15), so each migrator
//! names a field from here rather than keeping its own copy of the layout.

/// Fields of the miner state.
pub const STATE_FIELDS: u64 = 15;
/// `vesting_funds`: the vesting table's link.
pub const STATE_VESTING: usize = 3;
/// `sectors`: the sectors AMT.
pub const STATE_SECTORS: usize = 9;
/// `deadlines`: the block of the 48 deadlines' links.
pub const STATE_DEADLINES: usize = 12;
/// Bit width of every sectors AMT (a deadline's snapshot included).
pub const SECTORS_AMT_BITWIDTH: u32 = 5;
/// Fields of a deadline (v11 to v15).
pub const DEADLINE_FIELDS: u64 = 11;
/// A deadline's `partitions` AMT.
pub const DEADLINE_PARTITIONS: usize = 0;
/// A deadline's `sectors_snapshot` AMT.
pub const DEADLINE_SNAPSHOT: usize = 8;
/// Deadlines per proving period.
pub const DEADLINES: usize = 48;
