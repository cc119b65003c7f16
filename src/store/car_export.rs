//! Streaming CARv1 export of the DAG under some roots: each block once,
//! depth-first pre-order from the roots (the order of the reference snapshot
//! exporters), following DAG-CBOR links only. The walk keeps a stack and a
//! bounded [`SeenSet`], never the DAG. Output goes to a temporary file in the
//! destination directory that is renamed over the destination only when
//! complete, so an interrupted export never leaves a CAR that looks whole.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::car_format::{write_header, write_section};
use super::seen_set::{SeenSet, DEFAULT_MEMORY_ENTRIES};
use crate::error::{Error, Result};
use crate::ipld::cids::is_walkable;
use crate::ipld::links::walkable_links_of;

/// Options for [`export_car`].
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Compress the output with zstd at this level.
    pub zstd_level: Option<i32>,
    /// Fingerprints the seen-set keeps in memory before spilling to disk.
    pub seen_memory_entries: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            zstd_level: None,
            seen_memory_entries: DEFAULT_MEMORY_ENTRIES,
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
}

/// Writes the DAG under `roots` from `store` into the CAR file `dest`.
pub fn export_car(
    store: &impl Blockstore,
    roots: &[Cid],
    dest: &Path,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".fil-migrate-export-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(tmp.path(), e))?;
    let summary = match opts.zstd_level {
        None => {
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let s = write_dag(store, roots, &mut w, opts, tmp.path())?;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
            s
        }
        Some(level) => {
            let mut enc =
                zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 20, file), level)
                    .map_err(|e| Error::io(tmp.path(), e))?;
            let s = write_dag(store, roots, &mut enc, opts, tmp.path())?;
            let mut w = enc.finish().map_err(|e| Error::io(tmp.path(), e))?;
            w.flush().map_err(|e| Error::io(tmp.path(), e))?;
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

fn write_dag(
    store: &impl Blockstore,
    roots: &[Cid],
    w: &mut impl Write,
    opts: &ExportOptions,
    path: &Path,
) -> Result<ExportSummary> {
    let io = |e| Error::io(path, e);
    let mut car_bytes = {
        let mut counting = CountingWriter {
            inner: &mut *w,
            n: 0,
        };
        write_header(&mut counting, roots).map_err(io)?;
        counting.n
    };
    let mut seen = SeenSet::new(opts.seen_memory_entries);
    let mut blocks = 0u64;
    // Stack of (cid, parent); children are pushed in reverse so the first link is visited first.
    let mut stack: Vec<(Cid, Option<Cid>)> = roots.iter().rev().map(|r| (*r, None)).collect();
    while let Some((cid, parent)) = stack.pop() {
        if !is_walkable(&cid) || !seen.insert(&cid)? {
            continue;
        }
        let data = store
            .get(&cid)
            .map_err(Error::from_blockstore)?
            .ok_or(Error::MissingBlock { cid, parent })?;
        car_bytes += write_section(w, &cid, &data).map_err(io)?;
        blocks += 1;
        let links = walkable_links_of(&cid, &data)?;
        stack.extend(links.into_iter().rev().map(|l| (l, Some(cid))));
    }
    Ok(ExportSummary {
        blocks,
        car_bytes,
        seen_set_spilled: seen.spilled(),
    })
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
