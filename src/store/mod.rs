//! Blockstore layers: the indexed CAR source (input at rest), the embedded
//! on-disk store, the memory-budgeted write buffer, an overlay of the two, and
//! the streaming CAR exporter. All implement `fvm_ipld_blockstore::Blockstore`
//! so a node can put its own store in place of any of them.

pub mod backend;
pub mod buffered;
pub mod car_export;
pub mod car_format;
pub mod car_index;
pub mod car_source;
pub mod claim;
pub mod copy;
pub mod disk;
pub mod dyn_store;
pub mod fault;
pub mod fingerprint;
pub mod fjall_backend;
pub mod forest;
pub mod memory;
pub mod overlay;
pub mod replace;
pub mod seen_set;
pub mod shared;
pub mod side_file;
pub mod sink;
pub mod zstd_car;

pub use backend::{StoreBackend, StoreFs};
pub use buffered::{BufferOptions, BufferStats, BufferedBlockstore};
pub use car_export::{export_car, ExportFormat, ExportOptions, ExportSummary};
pub use car_source::{CarSource, CarSourceOptions, IndexOrigin};
pub use disk::{DiskStore, DiskStoreOptions};
pub use dyn_store::DynStore;
pub use fault::{Fault, FaultKind, SimFs};
pub use fjall_backend::RealFs;
pub use memory::MemStore;
pub use overlay::{LowerFirst, Overlay};
pub use shared::Shared;
pub use sink::Sink;
