//! A read-only `Blockstore` served straight from a snapshot at rest, as the
//! dagstore serves CAR shards: the file is never loaded into memory. A CARv1
//! `get` is one positioned read located through a [`CarIndex`]; a framed
//! zstd CAR (the Rust node's `.forest.car.zst`) decompresses only the frame
//! holding the block ([`FramedCar`]); a single-stream `.car.zst` is
//! decompressed once into a sibling CARv1 and served as one.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::car_index::CarIndex;
use super::fingerprint::Fingerprint;
use super::forest::sidecar::{self, NotFramed};
use super::forest::{FrameStats, FramedCar, FramedIndex};
use super::verified_stamp::{self, CheckStart};
use crate::error::{Error, Result};
use crate::ipld::cids;

/// How the index was obtained when the CAR was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Loaded from the persisted `.fmidx` file (with a deferred content
    /// check, not yet confirmed: see [`CarSource::settle_index`]).
    Loaded,
    /// Built by scanning the CAR (missing, stale or foreign index file).
    Built,
    /// The index inside the file (a `.forest.car.zst`).
    Embedded,
}

/// Default frame cache: some 500 of our frames. On the mainnet preset
/// 16 MiB decompresses 2.5 % more frames than 64 MiB (each frame about
/// once either way) for 60 MB less memory.
pub const DEFAULT_FRAME_CACHE_BYTES: usize = 16 << 20;

/// Options for [`CarSource::open`].
#[derive(Debug, Clone)]
pub struct CarSourceOptions {
    /// Check every block's hash against its CID on read.
    pub verify_hashes: bool,
    /// Write the index beside the CAR for the next open.
    pub persist_index: bool,
    /// Bytes of decompressed frames kept for a framed zstd CAR.
    pub frame_cache_bytes: usize,
    /// Open a CARv1 on its persisted index before its content is checked
    /// against the index (the check runs in the background; see
    /// [`CarSource::settle_index`]). Only with `verify_hashes`: every block
    /// found is then proven by its CID at its offset and its hash, and a
    /// block not found can only send a migration down a slower path or to
    /// an error, never to another root, so the caller settles the index
    /// when a run fails and runs again if the index was stale.
    pub defer_content_check: bool,
}

impl Default for CarSourceOptions {
    fn default() -> Self {
        CarSourceOptions {
            verify_hashes: true,
            persist_index: true,
            frame_cache_bytes: DEFAULT_FRAME_CACHE_BYTES,
            defer_content_check: false,
        }
    }
}

/// Read counters.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Blocks returned.
    pub blocks: AtomicU64,
    /// Bytes returned.
    pub bytes: AtomicU64,
}

/// How the snapshot's blocks are reached.
#[derive(Debug)]
enum Layout {
    /// A CARv1 file and its section index.
    Plain { file: File, index: CarIndex },
    /// Independent zstd frames and a frame index.
    Framed(Box<FramedCar>),
}

/// A snapshot file opened as a read-only blockstore.
#[derive(Debug)]
pub struct CarSource {
    path: PathBuf,
    layout: Layout,
    origin: IndexOrigin,
    verify: AtomicBool,
    stats: ReadStats,
    /// The deferred content check: the fingerprint the index names and the
    /// thread hashing the CAR, until [`CarSource::settle_index`] joins it.
    pending_check: Mutex<Option<PendingCheck>>,
    /// What the settled check found: whether the index was the CAR's.
    index_checked: OnceLock<bool>,
    persist_index: bool,
}

/// A content check running beside the reads.
#[derive(Debug)]
struct PendingCheck {
    named: Fingerprint,
    hashing: std::thread::JoinHandle<Result<Fingerprint>>,
}

impl CarSource {
    /// Opens a CAR: a CARv1 (its index loaded or built), a framed zstd CAR
    /// served in place (its own index, or our sidecar), or a single-stream
    /// `.car.zst` (decompressed once into a sibling file).
    pub fn open(path: impl AsRef<Path>, opts: CarSourceOptions) -> Result<Self> {
        let path = path.as_ref();
        if super::zstd_car::is_zstd(path)? {
            if let Some(framed) = open_framed(path, &opts)? {
                let origin = match framed.origin() {
                    FramedIndex::Embedded => IndexOrigin::Embedded,
                    FramedIndex::SidecarLoaded => IndexOrigin::Loaded,
                    FramedIndex::SidecarBuilt => IndexOrigin::Built,
                };
                return Ok(CarSource {
                    path: path.to_path_buf(),
                    layout: Layout::Framed(Box::new(framed)),
                    origin,
                    verify: AtomicBool::new(opts.verify_hashes),
                    stats: ReadStats::default(),
                    pending_check: Mutex::new(None),
                    index_checked: OnceLock::new(),
                    persist_index: opts.persist_index,
                });
            }
        }
        let (path, known) = super::zstd_car::plain_car(path)?;
        let index_path = CarIndex::path_for(&path);
        // Loaded once, and mapped: whichever way it is then checked.
        let mut persisted = CarIndex::load_unconfirmed(&index_path)?;
        if known.is_none() {
            if let Some(car) = Self::open_unconfirmed(&path, &mut persisted, &opts)? {
                return Ok(car);
            }
        }
        // The file's fingerprint, when it is known already (our copy of a
        // `.car.zst`) or an index exists to check against it; with no index
        // yet, the scan that builds one fingerprints the file on that read.
        let known = match known {
            Some(f) => Some(f),
            None if persisted.is_some() => Some(fingerprint_of(&path, opts.persist_index)?),
            None => None,
        };
        let loaded = match (&known, persisted) {
            (Some(f), Some((index, named))) if named == *f => Some(index),
            _ => None,
        };
        let (index, origin) = match loaded {
            Some(index) => (index, IndexOrigin::Loaded),
            None => {
                let (index, identity) = match known {
                    Some(f) => (CarIndex::build(&path)?, f),
                    None => build_stamped(&path, opts.persist_index)?,
                };
                if opts.persist_index {
                    if let Err(e) = index.save(&index_path, &identity) {
                        tracing::warn!(
                            "could not persist CAR index ({e}); it will be rebuilt next time"
                        );
                    }
                }
                (index, IndexOrigin::Built)
            }
        };
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(CarSource {
            path,
            layout: Layout::Plain { file, index },
            origin,
            verify: AtomicBool::new(opts.verify_hashes),
            stats: ReadStats::default(),
            pending_check: Mutex::new(None),
            index_checked: OnceLock::new(),
            persist_index: opts.persist_index,
        })
    }

    /// A CARv1 opened on its `persisted` index (taken from it) without
    /// hashing the file first: when a stamp vouches for the file as the
    /// index names it (checked), or else with the content check started in
    /// the background if `opts` defers it. `None`, the index left in
    /// place, if neither applies, or the index's roots or length are not
    /// the CAR's (the file changed: the caller checks at once).
    fn open_unconfirmed(
        path: &Path,
        persisted: &mut Option<(CarIndex, Fingerprint)>,
        opts: &CarSourceOptions,
    ) -> Result<Option<Self>> {
        let Some((index, named)) = persisted.as_ref() else {
            return Ok(None);
        };
        let vouched = verified_stamp::vouches(path, named);
        let deferred = opts.defer_content_check && opts.verify_hashes;
        if !(vouched || deferred) {
            return Ok(None);
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let (roots, _) = super::car_index::read_header(
            &mut std::io::BufReader::with_capacity(64 << 10, &file),
            path,
        )?;
        if roots != index.roots || len != named.file_len() {
            return Ok(None);
        }
        let (index, named) = persisted.take().expect("checked above");
        let index_checked = OnceLock::new();
        let pending = if vouched {
            index_checked.get_or_init(|| true);
            None
        } else {
            let hashed = path.to_path_buf();
            let stamp = opts.persist_index;
            let hashing = std::thread::Builder::new()
                .name("car-content-check".into())
                .spawn(move || fingerprint_of(&hashed, stamp))
                .map_err(|e| Error::io(path, e))?;
            Some(PendingCheck { named, hashing })
        };
        Ok(Some(CarSource {
            path: path.to_path_buf(),
            layout: Layout::Plain { file, index },
            origin: IndexOrigin::Loaded,
            verify: AtomicBool::new(opts.verify_hashes),
            stats: ReadStats::default(),
            pending_check: Mutex::new(pending),
            index_checked,
            persist_index: opts.persist_index,
        }))
    }

    /// Whether a content check was started at open and not yet settled (an
    /// open that a stamp vouched for starts none).
    pub fn has_pending_content_check(&self) -> bool {
        self.pending_check.lock().is_some()
    }

    /// [`Self::settle_index`] if the deferred check has finished (or there
    /// was none), else `None` without waiting: a run that succeeded needs
    /// no answer, and waiting would add the rest of the hash to its wall.
    pub fn settle_index_if_done(&self) -> Result<Option<bool>> {
        let running = self
            .pending_check
            .lock()
            .as_ref()
            .is_some_and(|p| !p.hashing.is_finished());
        if running {
            return Ok(None);
        }
        self.settle_index().map(Some)
    }

    /// Waits for a deferred content check, if one runs, and says whether
    /// the index this source reads by is the CAR's (always, when the check
    /// ran at open). A stale index is rebuilt and persisted for the next
    /// open; this source keeps the stale one, so a caller whose run failed
    /// opens the CAR again.
    pub fn settle_index(&self) -> Result<bool> {
        if let Some(done) = self.index_checked.get() {
            return Ok(*done);
        }
        let pending = self.pending_check.lock().take();
        let fresh = match pending {
            None => true,
            Some(p) => {
                let found = p.hashing.join().map_err(|_| {
                    Error::Usage(format!(
                        "the content check of {} panicked",
                        self.path.display()
                    ))
                })??;
                if found != p.named && self.persist_index {
                    tracing::warn!(
                        "{}: its index was not built from its current content: rebuilding it",
                        self.path.display()
                    );
                    let (index, identity) = build_stamped(&self.path, true)?;
                    index.save(&CarIndex::path_for(&self.path), &identity)?;
                }
                found == p.named
            }
        };
        Ok(*self.index_checked.get_or_init(|| fresh))
    }

    /// The CAR's header roots.
    pub fn roots(&self) -> &[Cid] {
        match &self.layout {
            Layout::Plain { index, .. } => &index.roots,
            Layout::Framed(f) => f.roots(),
        }
    }

    /// The file being served (for a single-stream `.car.zst`, its
    /// decompressed sibling).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the index was loaded, built or found inside the file.
    pub fn index_origin(&self) -> IndexOrigin {
        self.origin
    }

    /// What kind of file this is, for logs and reports.
    pub fn layout_name(&self) -> &'static str {
        match (&self.layout, self.origin) {
            (Layout::Plain { .. }, _) => "CARv1",
            (Layout::Framed(_), IndexOrigin::Embedded) => "forest.car.zst (frames + index)",
            (Layout::Framed(_), _) => "multi-frame zstd CAR (sidecar index)",
        }
    }

    /// Whether a framed file's index lookups now read a mapping (see
    /// `forest::index_reader`); `false` for a CARv1.
    pub fn framed_index_mapped(&self) -> bool {
        match &self.layout {
            Layout::Framed(f) => f.index_mapped(),
            Layout::Plain { .. } => false,
        }
    }

    /// The CARv1 index, when the file is a CARv1.
    pub fn car_index(&self) -> Option<&CarIndex> {
        match &self.layout {
            Layout::Plain { index, .. } => Some(index),
            Layout::Framed(_) => None,
        }
    }

    /// The frame cache's counters, when the file is framed.
    pub fn frame_stats(&self) -> Option<&FrameStats> {
        match &self.layout {
            Layout::Plain { .. } => None,
            Layout::Framed(f) => Some(f.frame_stats()),
        }
    }

    /// Blocks in the file (a framed file's index is read through to count).
    pub fn block_count(&self) -> Result<u64> {
        match &self.layout {
            Layout::Plain { index, .. } => Ok(index.len() as u64),
            Layout::Framed(f) => f.block_count(),
        }
    }

    /// Turns hash verification on or off.
    pub fn set_verify_hashes(&self, on: bool) {
        self.verify.store(on, Ordering::Relaxed);
    }

    /// Read counters.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Reads a block, verifying its hash if enabled.
    pub fn read(&self, cid: &Cid) -> Result<Option<Vec<u8>>> {
        let verify = self.verify.load(Ordering::Relaxed);
        let got = match &self.layout {
            Layout::Plain { file, index } => self.read_plain(file, index, cid, verify)?,
            Layout::Framed(f) => f.get(cid, verify)?,
        };
        if let Some(b) = &got {
            self.stats.blocks.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        Ok(got)
    }

    fn read_plain(
        &self,
        file: &File,
        index: &CarIndex,
        cid: &Cid,
        verify: bool,
    ) -> Result<Option<Vec<u8>>> {
        let want = cid.to_bytes();
        for loc in index.candidates(&want) {
            let mut buf = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::Car {
                    path: self.path.clone(),
                    offset: loc.offset,
                    reason: format!("cannot read indexed section ({e}); was the CAR truncated since it was indexed?"),
                })?;
            if !buf.starts_with(&want) {
                continue;
            }
            buf.drain(..want.len());
            if verify {
                cids::verify(cid, &buf, Some(loc.offset))?;
            }
            return Ok(Some(buf));
        }
        Ok(None)
    }

    /// Whether the CAR holds a block (a CARv1's data is not read).
    pub fn contains(&self, cid: &Cid) -> Result<bool> {
        let (file, index) = match &self.layout {
            Layout::Plain { file, index } => (file, index),
            Layout::Framed(f) => return f.contains(cid),
        };
        let want = cid.to_bytes();
        for loc in index.candidates(&want) {
            let mut buf = vec![0u8; want.len().min(loc.len as usize)];
            file.read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::io(&self.path, e))?;
            if buf == want {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads every block in file order and checks its hash (and, for a
    /// framed file, that its index lists it); returns the count.
    pub fn verify_all(&self) -> Result<u64> {
        let (file, index) = match &self.layout {
            Layout::Plain { file, index } => (file, index),
            Layout::Framed(f) => return Ok(f.verify_all()?.0),
        };
        let mut locs: Vec<_> = index.sections().collect();
        locs.sort_unstable_by_key(|l| l.offset);
        let mut buf = Vec::new();
        for loc in &locs {
            buf.resize(loc.len as usize, 0);
            file.read_exact_at(&mut buf, loc.offset)
                .map_err(|e| Error::io(&self.path, e))?;
            let cid = Cid::read_bytes(&buf[..]).map_err(|e| Error::Car {
                path: self.path.clone(),
                offset: loc.offset,
                reason: format!("invalid CID: {e}"),
            })?;
            cids::verify(&cid, &buf[cid.encoded_len()..], Some(loc.offset))?;
        }
        Ok(locs.len() as u64)
    }
}

/// Opens a zstd file by its frames: the file's own index, else a sidecar
/// (loaded, or built once); `None` when it must be decompressed instead.
fn open_framed(path: &Path, opts: &CarSourceOptions) -> Result<Option<FramedCar>> {
    if let Some(f) = FramedCar::open_embedded(path, opts.frame_cache_bytes)? {
        tracing::info!(
            "{}: forest.car.zst, served in place through its index",
            path.display()
        );
        return Ok(Some(f));
    }
    let identity = Fingerprint::of(path)?;
    let (index, frames_end, origin) = match sidecar::load(path, &identity)? {
        Some((index, end)) => (index, end, FramedIndex::SidecarLoaded),
        None => match sidecar::build(path, &identity)? {
            Ok((index, end)) => (index, end, FramedIndex::SidecarBuilt),
            Err(NotFramed::SingleStream) => {
                tracing::info!(
                    "{}: a single zstd stream (no frames to seek to): decompressing it once; \
                     a .forest.car.zst would be served in place",
                    path.display()
                );
                return Ok(None);
            }
            Err(NotFramed::SectionsCrossFrames(at)) => {
                tracing::info!(
                    "{}: its zstd frame at offset {at} ends inside a CAR section, so blocks \
                     cannot be read frame by frame: decompressing it once",
                    path.display()
                );
                return Ok(None);
            }
        },
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    FramedCar::with_index(
        path,
        file,
        index,
        frames_end,
        origin,
        opts.frame_cache_bytes,
    )
    .map(Some)
}

impl Blockstore for CarSource {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.read(k)?)
    }

    fn put_keyed(&self, k: &Cid, _block: &[u8]) -> anyhow::Result<()> {
        Err(Error::Usage(format!(
            "cannot write block {k}: the CAR source {} is read-only",
            self.path.display()
        ))
        .into())
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        Ok(self.contains(k)?)
    }
}

/// Hashes `path` whole; with `stamp`, records a stamp of the check (see
/// [`verified_stamp`]) so the next open of the unchanged file skips it.
fn fingerprint_of(path: &Path, with_stamp: bool) -> Result<Fingerprint> {
    let start = CheckStart::now(path);
    let found = Fingerprint::of(path)?;
    if with_stamp {
        stamp(path, start, &found);
    }
    Ok(found)
}

/// Builds the index of `path` in one scan that also fingerprints it; with
/// `with_stamp`, records that check's stamp.
fn build_stamped(path: &Path, with_stamp: bool) -> Result<(CarIndex, Fingerprint)> {
    let start = CheckStart::now(path);
    let (index, found) = CarIndex::build_fingerprinted(path)?;
    if with_stamp {
        stamp(path, start, &found);
    }
    Ok((index, found))
}

/// Records a content check's stamp; failing to is only a missed shortcut.
fn stamp(path: &Path, start: CheckStart, found: &Fingerprint) {
    if let Err(e) = verified_stamp::record(path, start, found) {
        tracing::warn!(
            "could not record the content check of {}: {e}",
            path.display()
        );
    }
}
