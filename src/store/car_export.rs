//! Streaming CARv1 export of the DAG under some roots: each block once,
//! depth-first pre-order from the roots (the order of the reference snapshot
//! exporters), following DAG-CBOR links only. The walk keeps a stack and a
//! bounded [`SeenSet`], never the DAG. Output goes to a temporary file in the
//! destination directory that is renamed over the destination only when
//! complete, so an interrupted export never leaves a CAR that looks whole.
//!
//! Three formats: CARv1, one zstd stream (`.car.zst`), and the Rust node's
//! framed and indexed `.forest.car.zst` ([`super::forest`]), chosen from the
//! destination's name by [`ExportFormat::for_path`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::car_format::{write_header, write_section};
use super::forest::{is_forest_path, ForestCarWriter, DEFAULT_FRAME_BYTES};
use super::seen_set::{SeenSet, DEFAULT_MEMORY_ENTRIES};
use crate::error::{Error, Result};
use crate::ipld::cids::is_walkable;
use crate::ipld::links::walkable_links_of;

/// The zstd level both compressed formats default to (zstd's own default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// What the exported file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CARv1.
    Car,
    /// CARv1 in one zstd stream.
    CarZst {
        /// zstd level.
        level: i32,
    },
    /// The node's `.forest.car.zst`: independent frames, an index, a footer.
    ForestCarZst {
        /// zstd level.
        level: i32,
        /// Uncompressed bytes per frame.
        frame_bytes: usize,
    },
}

impl ExportFormat {
    /// The format a destination's name asks for: `*.forest.car.zst`, other
    /// `*.zst`, else CARv1.
    pub fn for_path(path: &Path) -> Self {
        if is_forest_path(path) {
            ExportFormat::ForestCarZst {
                level: DEFAULT_ZSTD_LEVEL,
                frame_bytes: DEFAULT_FRAME_BYTES,
            }
        } else if path.extension().is_some_and(|e| e == "zst") {
            ExportFormat::CarZst {
                level: DEFAULT_ZSTD_LEVEL,
            }
        } else {
            ExportFormat::Car
        }
    }

    /// The same format at another zstd level (CARv1 becomes `.car.zst`).
    pub fn with_level(self, level: i32) -> Self {
        match self {
            ExportFormat::Car | ExportFormat::CarZst { .. } => ExportFormat::CarZst { level },
            ExportFormat::ForestCarZst { frame_bytes, .. } => {
                ExportFormat::ForestCarZst { level, frame_bytes }
            }
        }
    }
}

/// Options for [`export_car`].
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The output format.
    pub format: ExportFormat,
    /// Fingerprints the seen-set keeps in memory before spilling to disk
    /// (and, up to 4M, the entries of a `.forest.car.zst` index kept in
    /// memory before a sorted run spills).
    pub seen_memory_entries: usize,
    /// Set from elsewhere (a signal handler): the export stops with
    /// [`Error::Cancelled`] and its temporary file is removed.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: ExportFormat::Car,
            seen_memory_entries: DEFAULT_MEMORY_ENTRIES,
            cancel: None,
        }
    }
}

impl ExportOptions {
    /// Defaults, in the format `dest`'s name asks for.
    pub fn for_path(dest: &Path) -> Self {
        ExportOptions {
            format: ExportFormat::for_path(dest),
            ..Default::default()
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    /// Blocks written.
    pub blocks: u64,
    /// Uncompressed CAR bytes written (header and sections).
    pub car_bytes: u64,
    /// Whether the seen-set spilled to disk.
    pub seen_set_spilled: bool,
    /// zstd frames written (`.forest.car.zst` only).
    pub frames: u64,
}

/// Writes the DAG under `roots` from `store` into the CAR file `dest`.
pub fn export_car(
    store: &impl Blockstore,
    roots: &[Cid],
    dest: &Path,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    let dir = super::side_file::dir_of(dest);
    let tmp = super::side_file::temp_in(dir, ".fil-migrate-export-")?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let buffered = BufWriter::with_capacity(1 << 20, file);
    let summary = match opts.format {
        ExportFormat::Car => {
            let mut sink = StreamSink::new(buffered, roots, tmp.path())?;
            let s = write_dag(store, roots, &mut sink, opts)?;
            let mut w = sink.out;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
            s
        }
        ExportFormat::CarZst { level } => {
            let enc = zstd::stream::write::Encoder::new(buffered, level)
                .map_err(|e| Error::io(tmp.path(), e))?;
            let mut sink = StreamSink::new(enc, roots, tmp.path())?;
            let s = write_dag(store, roots, &mut sink, opts)?;
            let mut w = sink.out.finish().map_err(|e| Error::io(tmp.path(), e))?;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
            s
        }
        ExportFormat::ForestCarZst { level, frame_bytes } => {
            let mut sink = ForestCarWriter::new(
                buffered,
                tmp.path(),
                roots,
                level,
                frame_bytes,
                dir,
                opts.seen_memory_entries
                    .min(super::forest::index_build::DEFAULT_MEMORY_ENTRIES),
            )?;
            let mut s = write_dag(store, roots, &mut sink, opts)?;
            let (mut w, fin) = sink.finish()?;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
            s.frames = fin.frames;
            s.car_bytes = fin.car_bytes;
            s
        }
    };
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(summary)
}

/// Where exported sections go.
trait SectionSink {
    /// Appends one block; returns the CAR bytes it took.
    fn section(&mut self, cid: &Cid, data: &[u8]) -> Result<u64>;
    /// CAR bytes so far (header and sections).
    fn car_bytes(&self) -> u64;
}

/// A CARv1 written to a byte stream (plain or one zstd stream).
struct StreamSink<'p, W> {
    out: W,
    path: &'p Path,
    bytes: u64,
}

impl<'p, W: Write> StreamSink<'p, W> {
    fn new(mut out: W, roots: &[Cid], path: &'p Path) -> Result<Self> {
        let mut header = Vec::new();
        write_header(&mut header, roots).map_err(|e| Error::io(path, e))?;
        out.write_all(&header).map_err(|e| Error::io(path, e))?;
        Ok(StreamSink {
            out,
            path,
            bytes: header.len() as u64,
        })
    }
}

impl<W: Write> SectionSink for StreamSink<'_, W> {
    fn section(&mut self, cid: &Cid, data: &[u8]) -> Result<u64> {
        let n = write_section(&mut self.out, cid, data).map_err(|e| Error::io(self.path, e))?;
        self.bytes += n;
        Ok(n)
    }
    fn car_bytes(&self) -> u64 {
        self.bytes
    }
}

impl<W: Write> SectionSink for ForestCarWriter<W> {
    fn section(&mut self, cid: &Cid, data: &[u8]) -> Result<u64> {
        self.put(cid, data)
    }
    fn car_bytes(&self) -> u64 {
        ForestCarWriter::car_bytes(self)
    }
}

fn write_dag(
    store: &impl Blockstore,
    roots: &[Cid],
    sink: &mut impl SectionSink,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    let mut seen = SeenSet::new(opts.seen_memory_entries);
    let mut blocks = 0u64;
    // Stack of (cid, parent); children are pushed in reverse so the first link is visited first.
    let mut stack: Vec<(Cid, Option<Cid>)> = roots.iter().rev().map(|r| (*r, None)).collect();
    while let Some((cid, parent)) = stack.pop() {
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(Error::Cancelled);
        }
        if !is_walkable(&cid) || !seen.insert(&cid)? {
            continue;
        }
        let data = store
            .get(&cid)
            .map_err(Error::from_blockstore)?
            .ok_or(Error::MissingBlock { cid, parent })?;
        sink.section(&cid, &data)?;
        blocks += 1;
        let links = walkable_links_of(&cid, &data)?;
        stack.extend(links.into_iter().rev().map(|l| (l, Some(cid))));
    }
    Ok(ExportSummary {
        blocks,
        car_bytes: sink.car_bytes(),
        seen_set_spilled: seen.spilled(),
        frames: 0,
    })
}
