//! Blockstore layers: the indexed CAR source (input at rest), the embedded
//! on-disk store, the memory-budgeted write buffer, an overlay of the two, and
//! the streaming CAR exporter. All implement `fvm_ipld_blockstore::Blockstore`
//! so a node can put its own store in place of any of them.

mod backend;
mod block_log;
mod buffered;
mod car_export;
pub mod car_format;
pub mod car_index;
mod car_index_file;
mod car_source;
pub mod claim;
pub(crate) mod copy;
mod disk;
mod dyn_store;
mod fault;
pub mod fingerprint;
mod fjall_backend;
mod fjall_creation;
pub mod forest;
mod memory;
mod overlay;
mod real_fs;
pub mod replace;
mod seen_set;
mod segment;
mod segment_files;
mod shared;
pub(crate) mod side_file;
mod sink;
pub mod verified_stamp;
pub mod zstd_car;

pub use backend::{StoreBackend, StoreEngine, StoreFs};
pub use buffered::{BufferOptions, BufferStats, BufferedBlockstore};
pub use car_export::{export_car, ExportFormat, ExportOptions, ExportSummary};
pub use car_source::{CarSource, CarSourceOptions, IndexOrigin};
pub use disk::{DiskStore, DiskStoreOptions};
pub use dyn_store::DynStore;
pub use fault::{Fault, FaultKind, SimFs};
pub use memory::MemStore;
pub use overlay::{LowerFirst, Overlay};
pub use real_fs::RealFs;
pub use shared::Shared;
pub use sink::Sink;
