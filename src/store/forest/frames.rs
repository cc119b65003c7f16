//! Reading one zstd frame of a framed CAR and finding its sections, and the
//! bounded cache of decoded frames: a lookup decompresses only the frame that
//! holds its block, and neighbours read soon after (a tree's nodes are
//! written together) come from the cache.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;
use zstd::zstd_safe::{self, DCtx, InBuffer, OutBuffer};

use super::format::ZSTD_MAGIC;
use crate::error::{Error, Result};
use crate::store::car_format::{read_varint, Varint};

/// Largest frame we decompress: Forest's are ~8 KiB compressed, a block is
/// at most a few MiB; anything bigger is damage, not data.
pub const MAX_FRAME_BYTES: usize = 256 << 20;
/// Bytes read for a frame beyond the last frame's size: frames of one file
/// are alike, so one read nearly always covers the next.
const READ_MARGIN: usize = 4 << 10;

/// A decoded frame: its bytes and where each CAR section lies in them.
#[derive(Debug)]
pub struct Frame {
    /// The decompressed bytes.
    pub data: Vec<u8>,
    /// `(start, end)` of each section's CID + data (after its length varint).
    pub sections: Vec<(u32, u32)>,
    /// The compressed length.
    pub compressed_len: u64,
}

impl Frame {
    /// The data of the block whose CID bytes are `cid`, if this frame holds it.
    pub fn find(&self, cid: &[u8]) -> Option<&[u8]> {
        self.sections.iter().find_map(|&(s, e)| {
            let sec = &self.data[s as usize..e as usize];
            sec.strip_prefix(cid)
        })
    }

    /// Bytes the frame takes in the cache.
    pub fn weight(&self) -> usize {
        self.data.capacity() + self.sections.capacity() * 8 + 64
    }
}

thread_local! {
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
    /// The compressed bytes of the frame being read (reused: a fresh
    /// buffer per frame costs page faults).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The last frame's compressed size on this thread: the next read's guess.
    static LAST_LEN: std::cell::Cell<usize> = const { std::cell::Cell::new(16 << 10) };
}

/// The compressed length of the zstd frame at the start of `buf`, if it is
/// whole there; `Err` names why it is not a frame.
pub fn frame_len(buf: &[u8], available: bool) -> std::result::Result<Option<usize>, String> {
    if buf.len() >= 4 && buf[..4] != ZSTD_MAGIC {
        return Err(format!(
            "no zstd frame here (bytes {:02x?}, not the magic 28 b5 2f fd)",
            &buf[..4]
        ));
    }
    match zstd_safe::find_frame_compressed_size(buf) {
        Ok(n) => Ok(Some(n)),
        Err(_) if available => Ok(None),
        Err(code) => Err(format!(
            "damaged or truncated zstd frame: {}",
            zstd_safe::get_error_name(code)
        )),
    }
}

/// Reads and decompresses the frame at `offset` (which must end by `end`),
/// and indexes its sections; `skip_header` for the frame that starts with
/// the CAR header.
pub fn read_frame(
    file: &File,
    path: &Path,
    offset: u64,
    end: u64,
    skip_header: bool,
) -> Result<Frame> {
    let bad = |reason: String| Error::Framed {
        path: path.to_path_buf(),
        what: "zstd frame",
        offset,
        reason,
    };
    let (data, compressed_len) = read_compressed(file, path, offset, end, MAX_FRAME_BYTES)?
        .ok_or_else(|| {
            bad(format!(
                "a frame of over {MAX_FRAME_BYTES} compressed bytes"
            ))
        })?;
    let sections = sections_of(&data, skip_header).map_err(bad)?;
    Ok(Frame {
        data,
        sections,
        compressed_len,
    })
}

/// Decompresses the zstd frame at `offset`, which must end by `end`;
/// `Ok(None)` if it is longer than `max_len` compressed bytes. Returns the
/// data and the compressed length.
pub fn read_compressed(
    file: &File,
    path: &Path,
    offset: u64,
    end: u64,
    max_len: usize,
) -> Result<Option<(Vec<u8>, u64)>> {
    let bad = |reason: String| Error::Framed {
        path: path.to_path_buf(),
        what: "zstd frame",
        offset,
        reason,
    };
    if offset >= end {
        return Err(bad(format!(
            "offset is outside the frames (they end at {end})"
        )));
    }
    READ_BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let room = (end - offset) as usize;
        let mut want = (LAST_LEN.get() + READ_MARGIN).min(room).min(max_len);
        let len = loop {
            if buf.len() < want {
                buf.resize(want, 0);
            }
            file.read_exact_at(&mut buf[..want], offset)
                .map_err(|e| bad(format!("cannot read {want} bytes: {e}")))?;
            let more = want < room && want < max_len;
            // Incomplete is "grow", or "too long" at the cap; only at the
            // file's end is it damage.
            let too_long = want >= max_len && want < room;
            match frame_len(&buf[..want], more || too_long).map_err(bad)? {
                Some(n) => break n,
                None if !more => return Ok(None),
                None => want = (want * 4).min(room).min(max_len),
            }
        };
        LAST_LEN.set(len);
        let data = decompress(&buf[..len]).map_err(bad);
        if buf.len() > 4 << 20 {
            // One huge frame does not pin its buffer on this thread.
            *buf = Vec::new();
        }
        Ok(Some((data?, len as u64)))
    })
}

/// Decompresses one whole zstd frame.
pub fn decompress(src: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let hint = match zstd_safe::get_frame_content_size(src) {
        Ok(Some(n)) if n as usize <= MAX_FRAME_BYTES => n as usize,
        Ok(Some(n)) => {
            return Err(format!(
                "frame declares {n} bytes, over the {MAX_FRAME_BYTES}-byte limit"
            ))
        }
        _ => src.len() * 4,
    };
    DCTX.with(|c| {
        let mut dctx = c.borrow_mut();
        dctx.reset(zstd_safe::ResetDirective::SessionOnly)
            .map_err(|e| zstd_safe::get_error_name(e).to_string())?;
        let mut out: Vec<u8> = Vec::with_capacity(hint.max(64));
        let mut input = InBuffer::around(src);
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_FRAME_BYTES {
                    return Err(format!(
                        "frame decompresses to over {MAX_FRAME_BYTES} bytes"
                    ));
                }
                out.reserve(out.len().max(4096));
            }
            let pos = out.len();
            // The output buffer sets `out`'s length as the call returns.
            let left = dctx
                .decompress_stream(&mut OutBuffer::around_pos(&mut out, pos), &mut input)
                .map_err(|e| format!("zstd: {}", zstd_safe::get_error_name(e)))?;
            if left == 0 {
                return Ok(out);
            }
            if input.pos() == src.len() && out.len() < out.capacity() {
                return Err("the frame ends before its last block".into());
            }
        }
    })
}

/// The sections of a frame's bytes: `varint(len) cid data`, none crossing
/// the frame's end.
pub fn sections_of(data: &[u8], skip_header: bool) -> std::result::Result<Vec<(u32, u32)>, String> {
    let mut r = data;
    let at = |r: &mut &[u8]| data.len() - r.len();
    if skip_header {
        match read_varint(&mut r) {
            Ok(Varint::Value(n, _)) if (n as usize) <= r.len() => r = &r[n as usize..],
            _ => return Err("the first frame does not start with a whole CAR header".into()),
        }
    }
    let mut out = Vec::new();
    loop {
        let start = at(&mut r);
        let len = match read_varint(&mut r) {
            Ok(Varint::Eof) => return Ok(out),
            Ok(Varint::Value(n, _)) => n as usize,
            Err(e) => return Err(format!("section at byte {start} of the frame: {e}")),
        };
        if len == 0 || len > r.len() {
            return Err(format!(
                "section at byte {start} of the frame announces {len} bytes, {} remain in the frame",
                r.len()
            ));
        }
        let s = at(&mut r);
        out.push((s as u32, (s + len) as u32));
        r = &r[len..];
    }
}

/// Counters of a [`FrameCache`].
#[derive(Debug, Default)]
pub struct FrameStats {
    /// Frames decompressed (cache misses).
    pub decompressed: AtomicU64,
    /// Lookups served from the cache.
    pub hits: AtomicU64,
}

/// A byte-bounded LRU of decoded frames, keyed by file offset.
#[derive(Debug)]
pub struct FrameCache {
    inner: Mutex<(LruCache<u64, Arc<Frame>>, usize)>,
    capacity: usize,
    /// Counters.
    pub stats: FrameStats,
}

impl FrameCache {
    /// A cache holding at most `capacity` bytes of decoded frames.
    pub fn new(capacity: usize) -> Self {
        FrameCache {
            inner: Mutex::new((LruCache::unbounded(), 0)),
            capacity,
            stats: FrameStats::default(),
        }
    }

    /// The frame at `offset`, decoding it with `load` on a miss.
    pub fn get_or_load(
        &self,
        offset: u64,
        load: impl FnOnce() -> Result<Frame>,
    ) -> Result<Arc<Frame>> {
        if let Some(f) = self.inner.lock().0.get(&offset) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(f.clone());
        }
        // Decoded outside the lock: the other threads keep reading.
        let frame = Arc::new(load()?);
        self.stats.decompressed.fetch_add(1, Ordering::Relaxed);
        let w = frame.weight();
        if w <= self.capacity {
            let mut g = self.inner.lock();
            let (lru, bytes) = &mut *g;
            if let Some(old) = lru.put(offset, frame.clone()) {
                *bytes -= old.weight();
            }
            *bytes += w;
            while *bytes > self.capacity {
                match lru.pop_lru() {
                    Some((_, f)) => *bytes -= f.weight(),
                    None => break,
                }
            }
        }
        Ok(frame)
    }
}
