//! DAG-CBOR link scanning: the one implementation shared by the buffered
//! store's `flush`, the CAR exporter and garbage collection.

use cid::Cid;

use super::cbor::{major, Cursor, CID_TAG};
use super::cids::{DAG_CBOR, IDENTITY, RAW};
use crate::error::{Error, Result};

/// Calls `visit` with every CID linked from the block `cid` whose bytes are
/// `data`, in document order. Raw blocks and identity-hashed blocks have no
/// links; any codec other than DAG-CBOR or raw is an error rather than a
/// silent "no links", because silently skipping would lose blocks.
pub fn scan_links(cid: &Cid, data: &[u8], mut visit: impl FnMut(Cid)) -> Result<()> {
    match cid.codec() {
        RAW => return Ok(()),
        DAG_CBOR => {}
        _ if cid.hash().code() == IDENTITY => return Ok(()),
        codec => return Err(Error::UnsupportedCodec { cid: *cid, codec }),
    }
    let bad = |offset: usize, reason: &str| Error::Cbor {
        cid: *cid,
        offset,
        reason: reason.to_string(),
    };
    let mut cur = Cursor::new(data);
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let at = cur.pos();
        let (m, arg) = cur.header().map_err(|e| bad(e.offset, e.reason))?;
        match m {
            major::BYTES | major::TEXT => {
                cur.take(arg).map_err(|e| bad(e.offset, e.reason))?;
            }
            major::ARRAY | major::MAP => {
                let n = if m == major::MAP {
                    arg.saturating_mul(2)
                } else {
                    arg
                };
                if n > (data.len() - cur.pos()) as u64 {
                    return Err(bad(at, "container length exceeds the block"));
                }
                pending += n;
            }
            major::TAG if arg == CID_TAG => {
                let b = cur.bytes().map_err(|e| bad(e.offset, e.reason))?;
                let link = match b.split_first() {
                    Some((0, rest)) => Cid::try_from(rest)
                        .map_err(|e| bad(at, &format!("invalid CID in link: {e}")))?,
                    _ => return Err(bad(at, "CID link without the 0x00 multibase prefix")),
                };
                visit(link);
            }
            major::TAG => return Err(bad(at, "only tag 42 (CID) is allowed in DAG-CBOR")),
            _ => {}
        }
    }
    if !cur.at_end() {
        return Err(bad(cur.pos(), "trailing bytes after the top-level item"));
    }
    Ok(())
}

/// Collects the links of a block into a vector.
pub fn links_of(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>> {
    let mut v = Vec::new();
    scan_links(cid, data, |c| v.push(c))?;
    Ok(v)
}
