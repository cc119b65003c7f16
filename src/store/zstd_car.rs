//! `.car.zst` support. A zstd stream cannot be read at random offsets, and
//! migration reads blocks in tree order, not file order; so the CAR is
//! decompressed once into a sibling file and served from there. The sibling is
//! written to a temporary name and renamed when complete, so a crash never
//! leaves a truncated CAR that looks finished; it is reused while it is newer
//! than the compressed file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether a file starts with the zstd frame magic.
pub fn is_zstd(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut magic[n..]).map_err(|e| Error::io(path, e))? {
            0 => return Ok(false),
            k => n += k,
        }
    }
    Ok(magic == ZSTD_MAGIC)
}

/// Returns the path of a plain CAR for `path`: `path` itself, or for a zstd
/// file its decompressed sibling (created if missing or older than `path`).
pub fn plain_car_path(path: &Path) -> Result<PathBuf> {
    if !is_zstd(path)? {
        return Ok(path.to_path_buf());
    }
    let target = match path.to_str().and_then(|s| s.strip_suffix(".zst")) {
        Some(stem) => PathBuf::from(stem),
        None => {
            let mut s = path.as_os_str().to_owned();
            s.push(".car");
            PathBuf::from(s)
        }
    };
    if is_fresh(&target, path) {
        return Ok(target);
    }
    tracing::info!("decompressing {} to {}", path.display(), target.display());
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    let input = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut dec =
        zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 20, input))
            .map_err(|e| Error::io(path, e))?;
    std::io::copy(&mut dec, tmp.as_file_mut()).map_err(|e| Error::Car {
        path: path.to_path_buf(),
        offset: 0,
        reason: format!("zstd decompression failed: {e}"),
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(&target)
        .map_err(|e| Error::io(&target, e.error))?;
    Ok(target)
}

fn is_fresh(target: &Path, source: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(target), m(source)), (Some(t), Some(s)) if t >= s)
}
