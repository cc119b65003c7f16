//! CARv1 framing shared by the reader, the indexer and the exporter:
//! `varint(header_len) header` then sections `varint(len) cid data`.

use std::io::{Read, Write};

use cid::Cid;
use serde::{Deserialize, Serialize};

/// The DAG-CBOR CARv1 header. `roots` is optional here only so that a CARv2
/// pragma (`{version: 2}`) parses and can be reported as such.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarHeader {
    /// Root CIDs.
    #[serde(default)]
    pub roots: Option<Vec<Cid>>,
    /// Format version (1).
    pub version: u64,
}

/// Largest header we accept; real headers are a few hundred bytes.
pub const MAX_HEADER_LEN: u64 = 1 << 20;

/// Outcome of reading an unsigned LEB128 varint from a stream.
pub enum Varint {
    /// A value and the number of bytes it took.
    Value(u64, usize),
    /// Clean end of stream before the first byte.
    Eof,
}

/// Reads an unsigned LEB128 varint (at most 9 bytes, minimal encoding not enforced).
pub fn read_varint(r: &mut impl Read) -> Result<Varint, &'static str> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        match r.read(&mut b) {
            Ok(0) if i == 0 => return Ok(Varint::Eof),
            Ok(0) => return Err("truncated varint"),
            Ok(_) => {}
            Err(_) => return Err("I/O error reading varint"),
        }
        if i == 9 {
            return Err("varint longer than 9 bytes");
        }
        value |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(Varint::Value(value, i + 1));
        }
    }
    Err("varint longer than 9 bytes")
}

/// Appends an unsigned LEB128 varint.
pub fn write_varint(w: &mut impl Write, v: u64) -> std::io::Result<()> {
    let mut buf = unsigned_varint::encode::u64_buffer();
    w.write_all(unsigned_varint::encode::u64(v, &mut buf))
}

/// Serializes a CARv1 header (with its length prefix).
pub fn write_header(w: &mut impl Write, roots: &[Cid]) -> std::io::Result<()> {
    let header = CarHeader {
        roots: Some(roots.to_vec()),
        version: 1,
    };
    let bytes = fvm_ipld_encoding::to_vec(&header).map_err(std::io::Error::other)?;
    write_varint(w, bytes.len() as u64)?;
    w.write_all(&bytes)
}

/// Writes one section.
pub fn write_section(w: &mut impl Write, cid: &Cid, data: &[u8]) -> std::io::Result<u64> {
    let cid_bytes = cid.to_bytes();
    let len = (cid_bytes.len() + data.len()) as u64;
    write_varint(w, len)?;
    w.write_all(&cid_bytes)?;
    w.write_all(data)?;
    Ok(len
        + unsigned_varint::encode::u64(len, &mut unsigned_varint::encode::u64_buffer()).len()
            as u64)
}
