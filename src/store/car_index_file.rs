//! The persisted CARv1 index (`<car>.fmidx`), laid out to be mapped: its
//! entries and radix table are used where they lie in the file, so opening
//! a snapshot neither reads the index into fresh memory nor rebuilds the
//! radix table (on a 5.5M-block index that was 190 MB of zeroed pages).
//!
//! Layout, little-endian:
//! - `FMCARIX4`, the CAR's content [`Fingerprint`] (32 bytes), payload
//!   bytes, the number of roots and each root (length, bytes), the number
//!   of entries `n`;
//! - zeros to an 8-byte boundary, then `n` entries of 16 bytes (key,
//!   `offset << 24 | len`), sorted;
//! - the radix table, `2^radix_bits(n) + 1` u32s;
//! - zeros to an 8-byte boundary and an XXH3-128 checksum of all before it.
//!
//! A file that fails any check (magic, checksum, fingerprint, sizes, order)
//! is not used: the caller rebuilds it from the CAR.

use std::path::Path;

use cid::Cid;

use super::car_index::{radix_bits, CarIndex, Entry, Table};
use super::fingerprint::Fingerprint;
use super::side_file::write_atomically;
use crate::error::{Error, Result};

/// Version 4: mapped in place. Version 3 was read whole and decoded,
/// version 2 checked its body with Blake2b (0.12 s of a 5.5M-block
/// index's open), version 1 named the CAR by length, mtime and its ends.
const MAGIC: &[u8; 8] = b"FMCARIX4";

fn checksum(body: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(body).to_le_bytes()
}

fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

impl CarIndex {
    /// Persists the index atomically (temporary file, fsync, rename).
    pub fn save(&self, index_path: &Path, identity: &Fingerprint) -> Result<()> {
        let (entries, radix) = (self.table.entries(), self.table.radix());
        let mut out = Vec::with_capacity(128 + entries.len() * 16 + radix.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&identity.to_bytes());
        out.extend_from_slice(&self.payload_bytes.to_le_bytes());
        out.extend_from_slice(&(self.roots.len() as u64).to_le_bytes());
        for root in &self.roots {
            let b = root.to_bytes();
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        pad8(&mut out);
        for [k, v] in entries {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        for r in radix {
            out.extend_from_slice(&r.to_le_bytes());
        }
        pad8(&mut out);
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        write_atomically(index_path, &out)
    }

    /// The persisted index, mapped, if it exists and was built from the
    /// file whose fingerprint is `identity`; `Ok(None)` means missing,
    /// stale, foreign or damaged (the caller rebuilds).
    pub fn load(index_path: &Path, identity: &Fingerprint) -> Result<Option<Self>> {
        Ok(Self::load_unconfirmed(index_path)?
            .and_then(|(index, named)| (named == *identity).then_some(index)))
    }

    /// The persisted index, mapped and checked in itself, with the
    /// fingerprint of the CAR it names, which the caller must still compare
    /// with the CAR's before it trusts a miss (see `CarSource`'s deferred
    /// content check). `Ok(None)`: missing or damaged.
    pub fn load_unconfirmed(index_path: &Path) -> Result<Option<(Self, Fingerprint)>> {
        let file = match std::fs::File::open(index_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(index_path, e)),
        };
        // SAFETY: the index is our own derived file, replaced only by an
        // atomic rename (never written in place), so the mapped pages do
        // not change under us; a file truncated by someone else would fault
        // the process rather than give wrong bytes, and is caught by the
        // checksum at open when it is truncated before.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(index_path, e))?;
        Ok(decode(map))
    }
}

/// Reads `n` bytes at `*at`, advancing it.
fn take<'b>(bytes: &'b [u8], at: &mut usize, n: usize) -> Option<&'b [u8]> {
    let end = at.checked_add(n)?;
    let out = bytes.get(*at..end)?;
    *at = end;
    Some(out)
}

fn u64_at(bytes: &[u8], at: &mut usize) -> Option<u64> {
    Some(u64::from_le_bytes(take(bytes, at, 8)?.try_into().ok()?))
}

/// The index in `map` and the fingerprint of the CAR it names.
fn decode(map: memmap2::Mmap) -> Option<(CarIndex, Fingerprint)> {
    // The entries are used as the host's integers where they lie.
    if cfg!(target_endian = "big") {
        return None;
    }
    let bytes: &[u8] = &map;
    if bytes.len() < 8 + 32 + 16 || &bytes[..8] != MAGIC {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 16);
    if checksum(body) != sum {
        return None;
    }
    let mut at = 8;
    let named = Fingerprint::from_bytes(take(body, &mut at, 32)?)?;
    let payload_bytes = u64_at(body, &mut at)?;
    let nroots = u64_at(body, &mut at)?;
    let mut roots = Vec::new();
    for _ in 0..nroots {
        let l = u64_at(body, &mut at)? as usize;
        roots.push(Cid::try_from(take(body, &mut at, l)?).ok()?);
    }
    let n = usize::try_from(u64_at(body, &mut at)?).ok()?;
    at = at.next_multiple_of(8);
    let entries = at..at.checked_add(n.checked_mul(16)?)?;
    let buckets = 1usize << radix_bits(n);
    let radix = entries.end..entries.end.checked_add((buckets + 1) * 4)?;
    if radix.end.next_multiple_of(8) != body.len() {
        return None;
    }
    // The checksum says we wrote it; these say lookups cannot go out of
    // range or miss for a key out of order even if a writer had a bug, and
    // that `Table::entries` and `Table::radix` can cast these ranges.
    let e: &[Entry] = bytemuck::try_cast_slice(&bytes[entries.clone()]).ok()?;
    let r: &[u32] = bytemuck::try_cast_slice(&bytes[radix.clone()]).ok()?;
    let sorted = e.windows(2).all(|w| w[0][0] <= w[1][0]);
    let radix_ok = r.first() == Some(&0)
        && r.last() == Some(&(n as u32))
        && r.windows(2).all(|w| w[0] <= w[1]);
    if !(sorted && radix_ok) {
        return None;
    }
    let table = Table::Mapped {
        entries,
        radix,
        map,
    };
    Some((
        CarIndex {
            roots,
            payload_bytes,
            table,
        },
        named,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::car_format::{write_header, write_section};

    /// A CAR of `n` one-byte blocks, its index built and saved.
    fn indexed_car(dir: &Path, n: u8) -> (std::path::PathBuf, CarIndex, Fingerprint) {
        let blocks: Vec<(Cid, Vec<u8>)> = (0..n)
            .map(|i| {
                let data = vec![0x80 | (i & 0x0f), i];
                (crate::ipld::cids::cbor_cid(&data), data)
            })
            .collect();
        let mut out = Vec::new();
        write_header(&mut out, &[blocks[0].0]).unwrap();
        for (c, d) in &blocks {
            write_section(&mut out, c, d).unwrap();
        }
        let car = dir.join("x.car");
        std::fs::write(&car, out).unwrap();
        let (index, fp) = CarIndex::build_fingerprinted(&car).unwrap();
        index.save(&CarIndex::path_for(&car), &fp).unwrap();
        (car, index, fp)
    }

    #[test]
    fn a_saved_index_is_mapped_back_with_the_same_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let (car, built, fp) = indexed_car(dir.path(), 200);
        let mapped = CarIndex::load(&CarIndex::path_for(&car), &fp)
            .unwrap()
            .expect("a fresh index loads");
        assert!(mapped.is_mapped() && !built.is_mapped());
        assert_eq!(mapped.roots, built.roots);
        assert_eq!(mapped.payload_bytes, built.payload_bytes);
        assert_eq!(
            mapped.sections().collect::<Vec<_>>(),
            built.sections().collect::<Vec<_>>()
        );
        assert_eq!(mapped.table.radix(), built.table.radix());
    }

    #[test]
    fn a_damaged_truncated_or_foreign_index_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (car, _, fp) = indexed_car(dir.path(), 50);
        let path = CarIndex::path_for(&car);
        let good = std::fs::read(&path).unwrap();
        for at in [0, 9, 60, good.len() / 2, good.len() - 20, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            assert!(
                CarIndex::load(&path, &fp).unwrap().is_none(),
                "flip at {at}"
            );
        }
        for len in [0, 7, 40, good.len() - 16, good.len() - 1] {
            std::fs::write(&path, &good[..len]).unwrap();
            assert!(
                CarIndex::load(&path, &fp).unwrap().is_none(),
                "cut at {len}"
            );
        }
        std::fs::write(&path, &good).unwrap();
        let other = Fingerprint::of(&path).unwrap();
        assert!(CarIndex::load(&path, &other).unwrap().is_none());
        assert!(CarIndex::load(&path, &fp).unwrap().is_some());
    }
}
