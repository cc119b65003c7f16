//! Byte-level surgery on DAG-CBOR tuples (struct encodings): replace some
//! elements, copy the others' bytes untouched. This is how migrations change
//! one field without re-serializing — and so without re-encoding — the rest.

use cid::Cid;

use crate::error::{Error, Result};
use crate::ipld::cbor::{self, major, Cursor};

/// Byte ranges of the elements of a top-level array of exactly `expected` elements.
pub fn elements(
    data: &[u8],
    expected: u64,
    what: &'static str,
    cid: &Cid,
) -> Result<Vec<std::ops::Range<usize>>> {
    let mut cur = Cursor::new(data);
    let c = |e: cbor::CborError| Error::Cbor {
        cid: *cid,
        offset: e.offset,
        reason: format!("{what}: {}", e.reason),
    };
    let n = cur.array().map_err(c)?;
    if n != expected {
        return Err(Error::Malformed {
            what,
            cid: *cid,
            reason: format!("a tuple of {n} fields, expected {expected}"),
        });
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(cur.skip().map_err(c)?);
    }
    if !cur.at_end() {
        return Err(Error::Malformed {
            what,
            cid: *cid,
            reason: "trailing bytes after the tuple".into(),
        });
    }
    Ok(out)
}

/// Re-encodes a tuple with some elements replaced by new encoded bytes.
pub fn replace(
    data: &[u8],
    ranges: &[std::ops::Range<usize>],
    replacements: &[(usize, &[u8])],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    cbor::write_header(&mut out, major::ARRAY, ranges.len() as u64);
    for (i, r) in ranges.iter().enumerate() {
        match replacements.iter().find(|(k, _)| *k == i) {
            Some((_, bytes)) => out.extend_from_slice(bytes),
            None => out.extend_from_slice(&data[r.clone()]),
        }
    }
    out
}

/// Reads a CID element.
pub fn cid_at(
    data: &[u8],
    range: &std::ops::Range<usize>,
    what: &'static str,
    cid: &Cid,
) -> Result<Cid> {
    let mut cur = Cursor::new(&data[range.clone()]);
    let b = cur.cid_bytes().map_err(|e| Error::Cbor {
        cid: *cid,
        offset: range.start + e.offset,
        reason: format!("{what}: {}", e.reason),
    })?;
    crate::ipld::cids::parse_link(b).map_err(|e| Error::Malformed {
        what,
        cid: *cid,
        reason: format!("bad CID: {e}"),
    })
}

/// Encodes a CID as a standalone DAG-CBOR item.
pub fn encode_cid(c: &Cid) -> Vec<u8> {
    // Tag (2) + bytes header (2) + prefix (1) + a 38-byte CID, with room.
    let mut v = Vec::with_capacity(48);
    cbor::write_cid(&mut v, c);
    v
}

/// Encodes a tuple from its elements' encoded bytes, in order: how a
/// migration inserts, drops or reorders fields while every element it
/// keeps stays byte for byte what the input had.
pub fn assemble(elements: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(elements.iter().map(|e| e.len()).sum::<usize>() + 9);
    cbor::write_header(&mut out, major::ARRAY, elements.len() as u64);
    for e in elements {
        out.extend_from_slice(e);
    }
    out
}

/// Encodes an integer as a standalone DAG-CBOR item.
pub fn encode_int(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    cbor::write_int(&mut out, v);
    out
}
