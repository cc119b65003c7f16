//! The library's typed error. Every variant names *what* went wrong and *where*
//! (file and byte offset, CID, parent CID), because an operator reading a failed
//! upgrade log has nothing else to go on.

use std::path::PathBuf;

use cid::Cid;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors produced by fil-migrate's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a named file.
    #[error("I/O error on {path}: {source}{}", io_hint(source, path))]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not a well-formed CARv1 stream.
    #[error("{path}: malformed CAR at byte offset {offset}: {reason}")]
    Car {
        /// The CAR file.
        path: PathBuf,
        /// Byte offset in the (decompressed) CAR where parsing failed.
        offset: u64,
        /// What was expected.
        reason: String,
    },

    /// A `.forest.car.zst` (or other multi-frame zstd CAR) whose frames,
    /// index or footer are damaged.
    #[error("{path}: {what} at file offset {offset}: {reason}")]
    Framed {
        /// The compressed CAR (or its sidecar index).
        path: PathBuf,
        /// Which part: "zstd frame", "index", "footer".
        what: &'static str,
        /// Where in the file that part starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// A block's bytes do not hash to the digest in its CID.
    #[error("block {cid}{}: content does not match its CID hash", at_offset(*.offset))]
    HashMismatch {
        /// The CID the block was stored under.
        cid: Cid,
        /// Byte offset of the block's section in its CAR, if it came from one.
        offset: Option<u64>,
    },

    /// A block that must exist could not be found.
    #[error("block {cid} not found{}", linked_from(.parent))]
    MissingBlock {
        /// The missing block.
        cid: Cid,
        /// The block that links to it, when known.
        parent: Option<Cid>,
    },

    /// Bytes that should be DAG-CBOR are not.
    #[error("block {cid}: malformed DAG-CBOR at byte {offset}: {reason}")]
    Cbor {
        /// The block being decoded.
        cid: Cid,
        /// Byte offset inside the block.
        offset: usize,
        /// What was expected.
        reason: String,
    },

    /// A block whose codec fil-migrate cannot scan for links.
    #[error("block {cid}: unsupported codec 0x{codec:x} (only DAG-CBOR 0x71 and raw 0x55 blocks can be walked)")]
    UnsupportedCodec {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },

    /// A multihash function fil-migrate does not know.
    #[error("block {cid}: unsupported multihash code 0x{code:x}")]
    UnsupportedHash {
        /// The block.
        cid: Cid,
        /// The multihash code.
        code: u64,
    },

    /// The embedded on-disk store failed. Backend-neutral: the backend
    /// classifies its own error (`failure`) and keeps its text (`detail`).
    #[error("block store at {path}: {detail}{}", store_hint(*failure, path))]
    Store {
        /// The store directory.
        path: PathBuf,
        /// What kind of failure, for the advice and for callers.
        failure: StoreFailure,
        /// The storage engine's own message.
        detail: String,
    },

    /// A directory given as a store that is not one (and not empty).
    #[error("{path} is not a fil-migrate store: {reason}")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why it is not taken for one.
        reason: String,
    },

    /// Another process has the store open.
    #[error("store {path} is in use by another process (one run per store at a time: wait for it to end, or pass another --store)")]
    StoreLocked {
        /// The store directory.
        path: PathBuf,
    },

    /// A data structure (AMT, HAMT, state object) does not have the expected shape.
    #[error("{what} {cid}: {reason}")]
    Malformed {
        /// What kind of object (e.g. "AMT node", "miner state").
        what: &'static str,
        /// The block holding it.
        cid: Cid,
        /// What was expected.
        reason: String,
    },

    /// A migrator failed on one actor: which, and the error itself (typed,
    /// for callers that act on it: a missing block, a malformed state).
    #[error("actor {address} ({name} at head {head}): {source}")]
    InActor {
        /// The actor's address (`f01234`).
        address: String,
        /// Its manifest name in the old manifest.
        name: String,
        /// Its input head.
        head: Cid,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// The caller's arguments or options are wrong (an unknown network or
    /// upgrade, a target no upgrade reaches, a thread pool that cannot
    /// start): nothing was migrated.
    #[error("{0}")]
    Config(String),

    /// An upgrade's spec does not fit the bundles it names, or its code
    /// lacks a migrator the spec asks for: a defect of this build or of a
    /// spec given to it, not of the state.
    #[error("upgrade {upgrade}: {reason}")]
    Spec {
        /// The upgrade.
        upgrade: String,
        /// What is inconsistent.
        reason: String,
    },

    /// The embedded bundle manifests lack a bundle asked for, or do not
    /// reproduce a published CID.
    #[error("actors bundles: {0}")]
    Manifest(String),

    /// The state is not one this upgrade migrates on this network: another
    /// bundle, network or actors version, or an actor the upgrade needs is
    /// absent. Well formed, but the wrong input.
    #[error("{0}")]
    WrongState(String),

    /// A chain snapshot does not hold what was asked of it (a root, the
    /// state of an epoch, the headers back to it).
    #[error("{0}")]
    Snapshot(String),

    /// A value could not be encoded as DAG-CBOR (a value no chain state
    /// holds).
    #[error("encoding {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },

    /// A library function was called against its contract (a builder fed
    /// out of order, a write to a read-only source).
    #[error("{0}")]
    Usage(String),

    /// `--verify`: an independent path gave another root.
    #[error("verification failed: the migration gave {migrated} but {by} gives {expected}")]
    VerifyMismatch {
        /// The independent path ("an uncached from-scratch run").
        by: &'static str,
        /// The migration's root.
        migrated: Cid,
        /// The independent path's root.
        expected: Cid,
    },

    /// The typed reference path of an upgrade failed on a state.
    #[error("reference {upgrade}: {reason}")]
    Reference {
        /// The upgrade.
        upgrade: String,
        /// What failed, with its causes.
        reason: String,
    },

    /// The synthetic generator cannot build or churn what was asked.
    #[error("generator: {0}")]
    Synth(String),

    /// The operation was cancelled by its caller.
    #[error("cancelled")]
    Cancelled,

    /// An error returned by a caller-supplied `Blockstore`.
    #[error("blockstore: {0:#}")]
    Blockstore(anyhow::Error),
}

/// What kind of failure a storage backend reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// An operating-system I/O error of this kind (a full disk among them).
    Io(std::io::ErrorKind),
    /// Another process has the store open.
    Locked,
    /// The store's files are damaged (checksums, missing or truncated tables).
    Damaged,
    /// Anything else the backend reports.
    Other,
}

/// What an operator can do about a storage-engine error: a damaged store
/// cannot be repaired in place, but it holds only a cache and outputs that
/// the snapshot can reproduce.
fn store_hint(failure: StoreFailure, path: &std::path::Path) -> String {
    match failure {
        StoreFailure::Io(kind) => io_hint(&std::io::Error::from(kind), path),
        StoreFailure::Locked => {
            " (another process has this store open: one run per store at a time)".into()
        }
        StoreFailure::Damaged => " (its files are damaged: it holds only a cache and migrated \
             outputs, so remove the directory, or pass another --store, and run again from \
             the snapshot)"
            .into(),
        StoreFailure::Other => String::new(),
    }
}

/// What an operator can do about an I/O error: a full disk is the one they
/// can fix, and the store keeps every entry it made durable before it.
fn io_hint(e: &std::io::Error, path: &std::path::Path) -> String {
    if e.kind() == std::io::ErrorKind::StorageFull {
        format!(
            " (the disk is full: free space on the filesystem holding {} and run again)",
            path.display()
        )
    } else {
        String::new()
    }
}

fn at_offset(offset: Option<u64>) -> String {
    offset
        .map(|o| format!(" at byte offset {o}"))
        .unwrap_or_default()
}

fn linked_from(parent: &Option<Cid>) -> String {
    parent
        .map(|p| format!(" (linked from {p})"))
        .unwrap_or_default()
}

impl Error {
    /// Whether the error is a full disk (the caller says what was kept:
    /// a persisted store's durable work, or nothing for a temporary one).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            Error::Store {
                failure: StoreFailure::Io(kind),
                ..
            } => *kind == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Recovers a typed error that crossed the `anyhow`-based `Blockstore`
    /// trait boundary, or wraps a foreign one.
    pub fn from_blockstore(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(typed) => typed,
            Err(other) => Error::Blockstore(other),
        }
    }
}
