//! A framed CAR served in place: a lookup finds the block's frame through
//! the index (the file's own, or our sidecar), decompresses that frame only
//! (or takes it from the frame cache), and finds the section in it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use cid::Cid;

use super::format::{
    hash_of, is_skippable_magic, parse_footer, FOOTER_LEN, SKIP_HEADER_LEN, ZSTD_MAGIC,
};
use super::frames::{read_frame, Frame, FrameCache, FrameStats};
use super::index_reader::{IndexReader, Segment};
use crate::error::{Error, Result};
use crate::ipld::cids;
use crate::store::car_index::read_header;

/// Where a framed CAR's index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramedIndex {
    /// The index frames at the end of the file (a `.forest.car.zst`).
    Embedded,
    /// Our sidecar index, loaded.
    SidecarLoaded,
    /// Our sidecar index, built by scanning the file now.
    SidecarBuilt,
}

/// An opened framed CAR.
#[derive(Debug)]
pub struct FramedCar {
    path: PathBuf,
    file: File,
    roots: Vec<Cid>,
    index: IndexReader,
    frames_end: u64,
    origin: FramedIndex,
    cache: FrameCache,
}

impl FramedCar {
    /// Opens a `.forest.car.zst` by its footer; `Ok(None)` if the file has
    /// no footer (then it is some other zstd file).
    pub fn open_embedded(path: &Path, cache_bytes: usize) -> Result<Option<Self>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < FOOTER_LEN {
            return Ok(None);
        }
        let footer_at = len - FOOTER_LEN;
        let mut f = [0u8; 16];
        file.read_exact_at(&mut f, footer_at)
            .map_err(|e| Error::io(path, e))?;
        let Some(index_data) = parse_footer(&f) else {
            return Ok(None);
        };
        let bad = |offset: u64, reason: String| Error::Framed {
            path: path.to_path_buf(),
            what: "footer",
            offset,
            reason,
        };
        let index_at = index_data
            .checked_sub(SKIP_HEADER_LEN)
            .filter(|&a| a < footer_at)
            .ok_or_else(|| {
                bad(
                    footer_at,
                    format!(
                        "points the index at offset {index_data}, outside the file's {len} bytes"
                    ),
                )
            })?;
        let segments = skip_segments(&file, path, index_at, footer_at)?;
        let index = IndexReader::open(
            path,
            file.try_clone().map_err(|e| Error::io(path, e))?,
            segments,
        )?;
        Self::with_index(
            path,
            file,
            index,
            index_at,
            FramedIndex::Embedded,
            cache_bytes,
        )
        .map(Some)
    }

    /// A framed CAR whose index is `index` and whose data frames end at
    /// `frames_end`.
    pub fn with_index(
        path: &Path,
        file: File,
        index: IndexReader,
        frames_end: u64,
        origin: FramedIndex,
        cache_bytes: usize,
    ) -> Result<Self> {
        let first = read_frame(&file, path, 0, frames_end, false)?;
        let (roots, _) = read_header(&mut &first.data[..], path).map_err(|e| match e {
            Error::Car { offset, reason, .. } => Error::Framed {
                path: path.to_path_buf(),
                what: "zstd frame",
                offset: 0,
                reason: format!("the CAR header in the first frame, at byte {offset}: {reason}"),
            },
            other => other,
        })?;
        Ok(FramedCar {
            path: path.to_path_buf(),
            file,
            roots,
            index,
            frames_end,
            origin,
            cache: FrameCache::new(cache_bytes),
        })
    }

    /// The CAR header's roots.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// Where the index came from.
    pub fn origin(&self) -> FramedIndex {
        self.origin
    }

    /// Whether index lookups read a mapping of the index by now.
    pub fn index_mapped(&self) -> bool {
        self.index.is_mapped()
    }

    /// The frame cache's counters.
    pub fn frame_stats(&self) -> &FrameStats {
        &self.cache.stats
    }

    /// The block `cid`, hash-checked if `verify`.
    ///
    /// An index entry for the CID's hash whose frame lacks the block is
    /// damage, not absence: a 64-bit hash shared by a present and an absent
    /// block is too unlikely to explain it (this is how a flipped frame
    /// offset or a rewritten frame shows).
    pub fn get(&self, cid: &Cid, verify: bool) -> Result<Option<Vec<u8>>> {
        let want = cid.to_bytes();
        let mut listed_in = None;
        let found = self.index.find(hash_of(cid), |offset| {
            let frame = self.frame(offset)?;
            let Some(data) = frame.find(&want) else {
                listed_in = Some(offset);
                return Ok(None);
            };
            if verify {
                self.check(cid, data, offset)?;
            }
            Ok(Some(data.to_vec()))
        })?;
        match (found, listed_in) {
            (None, Some(offset)) => Err(Error::Framed {
                path: self.path.clone(),
                what: "zstd frame",
                offset,
                reason: format!(
                    "the index files block {cid} in this frame, which does not hold it: the file is damaged"
                ),
            }),
            (found, _) => Ok(found),
        }
    }

    /// Whether the file holds `cid` (its frame is decoded to be sure).
    pub fn contains(&self, cid: &Cid) -> Result<bool> {
        let want = cid.to_bytes();
        Ok(self
            .index
            .find(hash_of(cid), |offset| {
                Ok(self.frame(offset)?.find(&want).map(|_| ()))
            })?
            .is_some())
    }

    /// Blocks the index lists.
    pub fn block_count(&self) -> Result<u64> {
        let mut n = 0;
        self.index.for_each_entry(|_, _| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Decodes every frame in file order, checks every block's hash and
    /// that the index finds it; returns (blocks, payload bytes).
    pub fn verify_all(&self) -> Result<(u64, u64)> {
        let (mut blocks, mut bytes) = (0u64, 0u64);
        let mut offset = 0u64;
        while offset < self.frames_end {
            let mut magic = [0u8; 8];
            self.file
                .read_exact_at(&mut magic, offset)
                .map_err(|e| Error::io(&self.path, e))?;
            if is_skippable_magic(&magic) {
                let len = u32::from_le_bytes(magic[4..].try_into().expect("4 bytes"));
                offset += SKIP_HEADER_LEN + u64::from(len);
                continue;
            }
            let frame = read_frame(&self.file, &self.path, offset, self.frames_end, offset == 0)?;
            for &(s, e) in &frame.sections {
                let sec = &frame.data[s as usize..e as usize];
                let cid = Cid::read_bytes(sec).map_err(|err| Error::Framed {
                    path: self.path.clone(),
                    what: "zstd frame",
                    offset,
                    reason: format!("section at byte {s} of the frame: invalid CID: {err}"),
                })?;
                let data = &sec[cid.encoded_len()..];
                self.check(&cid, data, offset)?;
                let listed = self
                    .index
                    .find(hash_of(&cid), |o| Ok((o == offset).then_some(())))?;
                if listed.is_none() {
                    return Err(Error::Framed {
                        path: self.path.clone(),
                        what: "index",
                        offset: self.frames_end,
                        reason: format!(
                            "block {cid} in the frame at offset {offset} is not in the index"
                        ),
                    });
                }
                blocks += 1;
                bytes += sec.len() as u64;
            }
            offset += frame.compressed_len;
        }
        Ok((blocks, bytes))
    }

    fn check(&self, cid: &Cid, data: &[u8], frame: u64) -> Result<()> {
        cids::verify(cid, data, None).map_err(|e| match e {
            Error::HashMismatch { .. } => Error::Framed {
                path: self.path.clone(),
                what: "zstd frame",
                offset: frame,
                reason: format!("block {cid}: content does not match its CID hash"),
            },
            other => other,
        })
    }

    fn frame(&self, offset: u64) -> Result<std::sync::Arc<Frame>> {
        self.cache.get_or_load(offset, || {
            read_frame(&self.file, &self.path, offset, self.frames_end, offset == 0)
        })
    }
}

/// The data of consecutive skippable frames from `from` to `to`, as index
/// segments; anything else there is damage.
pub fn skip_segments(file: &File, path: &Path, from: u64, to: u64) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let (mut at, mut logical) = (from, 0u64);
    while at < to {
        let mut h = [0u8; 8];
        let bad = |reason: String| Error::Framed {
            path: path.to_path_buf(),
            what: "index",
            offset: at,
            reason,
        };
        if to - at < SKIP_HEADER_LEN {
            return Err(bad(format!("{} stray bytes before the footer", to - at)));
        }
        file.read_exact_at(&mut h, at)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if !is_skippable_magic(&h) {
            let what = if h[..4] == ZSTD_MAGIC {
                "a data frame"
            } else {
                "neither a skippable frame"
            };
            return Err(bad(format!(
                "{what} where the index's skippable frames should be (bytes {:02x?})",
                &h[..4]
            )));
        }
        let len = u64::from(u32::from_le_bytes(h[4..].try_into().expect("4 bytes")));
        if at + SKIP_HEADER_LEN + len > to {
            return Err(bad(format!(
                "an index frame of {len} bytes runs past the footer at {to}"
            )));
        }
        segments.push(Segment {
            logical,
            physical: at + SKIP_HEADER_LEN,
            len,
        });
        logical += len;
        at += SKIP_HEADER_LEN + len;
    }
    Ok(segments)
}
