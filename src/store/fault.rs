//! A simulated disk for crash tests, in the manner of redb's and
//! FoundationDB's: stores held in memory with the durability semantics of the
//! real backend, and a fault that strikes at an exact operation.
//!
//! Every write (a committed batch, an ingestion, creating a store), every
//! sync and every directory rename or removal is a *fault point*, numbered
//! from 0 in the order they happen. [`Fault`] picks one and what happens
//! there:
//! - [`FaultKind::Io`]: that operation fails (EIO) and changes nothing; the
//!   rest work, as after a transient error.
//! - [`FaultKind::NoSpace`]: from that point on every write fails with
//!   ENOSPC until [`SimFs::free_space`].
//! - [`FaultKind::PowerLoss`]: that operation and every later one fail; the
//!   disk then holds what [`SimFs::after_power_loss`] says: per store, what
//!   was synced plus a random prefix of the batches journaled since (a torn
//!   batch is dropped whole, as fjall's journal recovery does).
//!
//! A run that errors out without a power loss leaves the disk as
//! [`SimFs::after_exit`] says: all it wrote, as the OS would write back.
//! Directory entries are durable as on a journaling filesystem: a store's
//! own entry once the store has synced (fjall syncs the directories it
//! creates files in), a rename or removal only once the parent directory
//! is synced; a power cut before that undoes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::backend::{Op, SortedPairs, Space, StoreBackend, StoreEngine, StoreFs};
use super::block_log::BlockLog;
use super::segment::{SegmentDir, SegmentId};
use super::DiskStoreOptions;
use crate::error::{Error, Result};

/// What happens at the fault point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The operation fails with EIO and changes nothing.
    Io,
    /// The disk is full from here on: every write fails with ENOSPC.
    NoSpace,
    /// The power is cut: this and every later operation fail.
    PowerLoss,
}

/// A fault at fault point `at` (0-based, in the order operations happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which operation.
    pub at: u64,
    /// What happens there.
    pub kind: FaultKind,
}

/// The ENOSPC error the simulated disk returns, as the OS does.
const ENOSPC: i32 = 28;
/// The EIO error of [`FaultKind::Io`].
const EIO: i32 = 5;

type Table = BTreeMap<Vec<u8>, Vec<u8>>;

/// An owned batch operation, kept in the journal until synced.
#[derive(Debug, Clone)]
enum Journaled {
    Put(Space, Vec<u8>, Vec<u8>),
    Remove(Space, Vec<u8>),
}

fn apply(tables: &mut [Table; 2], op: &Journaled) {
    match op {
        Journaled::Put(s, k, v) => {
            tables[s.index()].insert(k.clone(), v.clone());
        }
        Journaled::Remove(s, k) => {
            tables[s.index()].remove(k);
        }
    }
}

/// A block log's segment file.
#[derive(Debug, Clone, Default)]
struct SimSegment {
    data: Vec<u8>,
    /// Bytes a power cut keeps for sure.
    synced: usize,
    /// Whether its directory entry survives a power cut (it was synced).
    entry_durable: bool,
}

/// One store's contents: what is synced, and the batches since; and, for a
/// block log, its segment files.
#[derive(Debug, Clone, Default)]
struct StoreImage {
    /// The engine it was made with.
    engine: StoreEngine,
    segments: BTreeMap<SegmentId, SimSegment>,
    /// What a reader sees: synced content plus the journal.
    live: [Table; 2],
    /// What survives a power loss for sure.
    durable: [Table; 2],
    /// Batches committed since the last sync, oldest first.
    journal: Vec<Vec<Journaled>>,
}

impl StoreImage {
    fn persist(&mut self) {
        for batch in self.journal.drain(..) {
            for op in &batch {
                apply(&mut self.durable, op);
            }
        }
    }

    fn bytes(&self) -> u64 {
        self.live
            .iter()
            .flat_map(|t| t.iter())
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>()
            + self
                .segments
                .values()
                .map(|s| s.data.len() as u64)
                .sum::<u64>()
    }
}

#[derive(Debug, Default)]
struct FsState {
    dirs: BTreeMap<PathBuf, Arc<Mutex<StoreImage>>>,
    /// The directory entries a power cut keeps.
    durable_dirs: BTreeMap<PathBuf, Arc<Mutex<StoreImage>>>,
    points: u64,
    fault: Option<Fault>,
    trace: Vec<&'static str>,
    no_space: bool,
    powered_off: bool,
}

/// The simulated filesystem of stores. Cheap to clone (shared state).
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<FsState>>,
}

impl SimFs {
    /// An empty disk with no fault.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `fault` (replacing any armed one); fault points are counted
    /// from the disk's creation.
    pub fn arm(&self, fault: Option<Fault>) {
        self.state.lock().fault = fault;
    }

    /// What each fault point passed so far was: `commit blocks`, `commit
    /// meta`, `sync`, `ingest`, `create`, `rename`, `remove`, `sync dir`.
    pub fn trace(&self) -> Vec<&'static str> {
        self.state.lock().trace.clone()
    }

    /// Whether the armed fault has struck.
    pub fn struck(&self) -> bool {
        let st = self.state.lock();
        st.fault.is_some_and(|f| st.points > f.at)
    }

    /// Ends a disk-full condition (the operator freed space).
    pub fn free_space(&self) {
        self.state.lock().no_space = false;
    }

    /// The disk as a process that exited (or failed) left it: everything it
    /// wrote, no fault armed, counting from 0 again.
    pub fn after_exit(&self) -> SimFs {
        self.image(false, |img| {
            let mut img = img.clone();
            img.persist();
            img
        })
    }

    /// The disk after a power cut: per store, what was synced plus a prefix
    /// of the batches journaled since, its length drawn from `seed`.
    pub fn after_power_loss(&self, seed: u64) -> SimFs {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        self.image(true, |img| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let keep = (rng % (img.journal.len() as u64 + 1)) as usize;
            let mut durable = img.durable.clone();
            for batch in &img.journal[..keep] {
                for op in batch {
                    apply(&mut durable, op);
                }
            }
            // A segment keeps its synced bytes and a torn prefix of the rest.
            let segments = img
                .segments
                .iter()
                .filter(|(_, s)| s.entry_durable)
                .map(|(&id, s)| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let extra = (rng % (s.data.len() - s.synced + 1) as u64) as usize;
                    let data = s.data[..s.synced + extra].to_vec();
                    (
                        id,
                        SimSegment {
                            data,
                            synced: s.synced,
                            entry_durable: true,
                        },
                    )
                })
                .collect();
            StoreImage {
                engine: img.engine,
                segments,
                live: durable.clone(),
                durable,
                journal: Vec::new(),
            }
        })
    }

    /// A new disk holding `f` of each store: of the durable directory
    /// entries after a power cut, else of all of them.
    fn image(&self, power_cut: bool, mut f: impl FnMut(&StoreImage) -> StoreImage) -> SimFs {
        let st = self.state.lock();
        let names = if power_cut {
            &st.durable_dirs
        } else {
            &st.dirs
        };
        let dirs: BTreeMap<_, _> = names
            .iter()
            .map(|(p, img)| (p.clone(), Arc::new(Mutex::new(f(&img.lock())))))
            .collect();
        SimFs {
            state: Arc::new(Mutex::new(FsState {
                durable_dirs: dirs.clone(),
                dirs,
                ..Default::default()
            })),
        }
    }

    /// The store at `dir` has synced: its directory entry is durable.
    fn entry_synced(&self, dir: &Path, image: &Arc<Mutex<StoreImage>>) {
        let mut st = self.state.lock();
        if st.dirs.get(dir).is_some_and(|i| Arc::ptr_eq(i, image)) {
            st.durable_dirs.insert(dir.to_path_buf(), image.clone());
        }
    }

    /// Passes a fault point: `Err` if the fault strikes here (or struck
    /// before, for a power loss or a full disk).
    fn point(&self, dir: &Path, what: &'static str, write: bool) -> Result<()> {
        let mut st = self.state.lock();
        let fail = |code: Option<i32>| {
            let source = match code {
                Some(c) => std::io::Error::from_raw_os_error(c),
                None => std::io::Error::other("simulated power loss"),
            };
            Err(Error::io(dir, source))
        };
        if st.powered_off {
            return fail(None);
        }
        let n = st.points;
        st.points += 1;
        st.trace.push(what);
        match st.fault {
            Some(f) if f.at == n => match f.kind {
                FaultKind::Io => return fail(Some(EIO)),
                FaultKind::NoSpace => st.no_space = true,
                FaultKind::PowerLoss => {
                    st.powered_off = true;
                    return fail(None);
                }
            },
            _ => {}
        }
        if write && st.no_space {
            return fail(Some(ENOSPC));
        }
        Ok(())
    }

    /// Reads fail after a power loss, like every other operation.
    fn alive(&self, dir: &Path) -> Result<()> {
        if self.state.lock().powered_off {
            return Err(Error::io(
                dir,
                std::io::Error::other("simulated power loss"),
            ));
        }
        Ok(())
    }
}

/// A store on a [`SimFs`].
struct SimStore {
    fs: SimFs,
    dir: PathBuf,
    image: Arc<Mutex<StoreImage>>,
}

impl StoreBackend for SimStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.fs.alive(&self.dir)?;
        Ok(self.image.lock().live[space.index()].get(key).cloned())
    }

    fn contains(&self, space: Space, key: &[u8]) -> Result<bool> {
        self.fs.alive(&self.dir)?;
        Ok(self.image.lock().live[space.index()].contains_key(key))
    }

    fn commit(&self, ops: &mut dyn Iterator<Item = Op<'_>>) -> Result<()> {
        let batch: Vec<Journaled> = ops
            .map(|op| match op {
                Op::Put(s, k, v) => Journaled::Put(s, k.to_vec(), v.to_vec()),
                Op::Remove(s, k) => Journaled::Remove(s, k.to_vec()),
            })
            .collect();
        let what = match batch.first() {
            Some(Journaled::Put(Space::Meta, ..) | Journaled::Remove(Space::Meta, _)) => {
                "commit meta"
            }
            _ => "commit blocks",
        };
        self.fs.point(&self.dir, what, true)?;
        let mut img = self.image.lock();
        for op in &batch {
            apply(&mut img.live, op);
        }
        img.journal.push(batch);
        Ok(())
    }

    fn persist(&self) -> Result<()> {
        self.fs.point(&self.dir, "sync", false)?;
        self.image.lock().persist();
        self.fs.entry_synced(&self.dir, &self.image);
        Ok(())
    }

    fn settle(&self) -> Result<()> {
        self.persist()
    }

    fn compact(&self) -> Result<()> {
        self.persist()
    }

    fn ingest(&self, sorted: &mut SortedPairs<'_>) -> Result<()> {
        let mut pairs = Vec::new();
        for item in sorted {
            let (k, v) = item?;
            pairs.push((k.to_vec(), v));
        }
        self.fs.point(&self.dir, "ingest", true)?;
        {
            let mut img = self.image.lock();
            for (k, v) in pairs {
                img.live[0].insert(k.clone(), v.clone());
                img.durable[0].insert(k, v);
            }
        }
        self.fs.entry_synced(&self.dir, &self.image);
        Ok(())
    }

    fn for_each_key(&self, space: Space, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.fs.alive(&self.dir)?;
        let keys: Vec<Vec<u8>> = self.image.lock().live[space.index()]
            .keys()
            .cloned()
            .collect();
        keys.iter().try_for_each(|k| f(k))
    }

    fn with_prefix(&self, space: Space, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.fs.alive(&self.dir)?;
        Ok(self.image.lock().live[space.index()]
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn disk_space(&self) -> Result<u64> {
        Ok(self.image.lock().bytes())
    }

    fn engine(&self) -> StoreEngine {
        StoreEngine::Fjall
    }
}

impl SegmentDir for SimStore {
    fn list(&self) -> Result<Vec<(SegmentId, u64)>> {
        self.fs.alive(&self.dir)?;
        Ok(self
            .image
            .lock()
            .segments
            .iter()
            .map(|(&id, s)| (id, s.data.len() as u64))
            .collect())
    }

    fn create(&self, seg: SegmentId) -> Result<()> {
        self.fs.point(&self.dir, "segment create", true)?;
        self.image
            .lock()
            .segments
            .insert(seg, SimSegment::default());
        Ok(())
    }

    fn write_at(&self, seg: SegmentId, offset: u64, bytes: &[u8]) -> Result<()> {
        self.fs.point(&self.dir, "segment write", true)?;
        let mut img = self.image.lock();
        let s = img
            .segments
            .get_mut(&seg)
            .ok_or_else(|| self.missing(seg))?;
        let end = offset as usize + bytes.len();
        if s.data.len() < end {
            s.data.resize(end, 0);
        }
        s.data[offset as usize..end].copy_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, seg: SegmentId, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.fs.alive(&self.dir)?;
        let img = self.image.lock();
        let s = img.segments.get(&seg).ok_or_else(|| self.missing(seg))?;
        let range = offset as usize..offset as usize + buf.len();
        let Some(bytes) = s.data.get(range) else {
            return Err(Error::io(
                self.path(seg),
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            ));
        };
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, seg: SegmentId) -> Result<()> {
        self.fs.point(&self.dir, "segment sync", false)?;
        let mut img = self.image.lock();
        let s = img
            .segments
            .get_mut(&seg)
            .ok_or_else(|| self.missing(seg))?;
        s.synced = s.data.len();
        s.entry_durable = true;
        Ok(())
    }

    fn truncate(&self, seg: SegmentId, len: u64) -> Result<()> {
        self.fs.point(&self.dir, "segment cut", true)?;
        let mut img = self.image.lock();
        let s = img
            .segments
            .get_mut(&seg)
            .ok_or_else(|| self.missing(seg))?;
        s.data.truncate(len as usize);
        s.synced = s.synced.min(s.data.len());
        Ok(())
    }

    fn remove(&self, seg: SegmentId) -> Result<()> {
        self.fs.point(&self.dir, "segment remove", false)?;
        self.image.lock().segments.remove(&seg);
        Ok(())
    }

    fn path(&self, seg: SegmentId) -> PathBuf {
        self.dir
            .join("segments")
            .join(super::segment::file_name(seg))
    }

    fn disk_usage(&self) -> Result<u64> {
        Ok(self
            .image
            .lock()
            .segments
            .values()
            .map(|s| s.data.len() as u64)
            .sum())
    }
}

impl SimStore {
    fn missing(&self, seg: SegmentId) -> Error {
        Error::io(
            self.path(seg),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    }
}

impl StoreFs for SimFs {
    fn open(&self, dir: &Path, opts: &DiskStoreOptions) -> Result<Arc<dyn StoreBackend>> {
        let existing = self.state.lock().dirs.get(dir).cloned();
        let image = match existing {
            Some(img) => {
                self.alive(dir)?;
                img
            }
            None => {
                self.point(dir, "create", true)?;
                let img = Arc::new(Mutex::new(StoreImage {
                    engine: opts.engine,
                    ..Default::default()
                }));
                self.state
                    .lock()
                    .dirs
                    .insert(dir.to_path_buf(), img.clone());
                img
            }
        };
        let engine = image.lock().engine;
        let store = Arc::new(SimStore {
            fs: self.clone(),
            dir: dir.to_path_buf(),
            image,
        });
        match engine {
            StoreEngine::Fjall => Ok(store),
            StoreEngine::BlockLog => Ok(Arc::new(BlockLog::open(
                dir.to_path_buf(),
                store.clone(),
                store,
                opts.index_ingest_from,
            )?)),
        }
    }

    fn exists(&self, dir: &Path) -> bool {
        self.state.lock().dirs.contains_key(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.point(from, "rename", false)?;
        let mut st = self.state.lock();
        if st.dirs.contains_key(to) {
            return Err(Error::io(
                to,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let img = st
            .dirs
            .remove(from)
            .ok_or_else(|| Error::io(from, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
        st.dirs.insert(to.to_path_buf(), img);
        Ok(())
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        if !self.exists(dir) {
            return Ok(());
        }
        self.point(dir, "remove", false)?;
        self.state.lock().dirs.remove(dir);
        Ok(())
    }

    fn sync_parent(&self, dir: &Path) -> Result<()> {
        self.point(dir, "sync dir", false)?;
        let mut st = self.state.lock();
        st.durable_dirs = st.dirs.clone();
        Ok(())
    }

    fn disk_usage(&self, dir: &Path) -> Result<u64> {
        let img = self.state.lock().dirs.get(dir).cloned();
        Ok(img.map_or(0, |i| i.lock().bytes()))
    }
}
