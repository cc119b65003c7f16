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
pub fn scan_links(cid: &Cid, data: &[u8], visit: impl FnMut(Cid)) -> Result<()> {
    scan(cid, data, false, visit)
}

/// [`scan_links`] reporting only walkable links (DAG-CBOR, real hash; see
/// [`super::cids::is_walkable`]), which is all a DAG walker follows. Other
/// links are recognised from their first bytes and skipped without being
/// parsed: in sector AMT leaves they are the 2–3 commitment CIDs of every
/// sector, and parsing them was a sixth of a from-scratch migration's time.
pub fn scan_walkable_links(cid: &Cid, data: &[u8], visit: impl FnMut(Cid)) -> Result<()> {
    scan(cid, data, true, visit)
}

/// Collects the walkable links of a block.
pub fn walkable_links_of(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>> {
    let mut v = Vec::new();
    scan_walkable_links(cid, data, |c| v.push(c))?;
    Ok(v)
}

/// A CIDv1 whose codec is DAG-CBOR starts `0x01 0x71` (both one-byte varints).
fn may_be_walkable(cid_bytes: &[u8]) -> bool {
    cid_bytes.len() > 2 && cid_bytes[0] == 0x01 && u64::from(cid_bytes[1]) == DAG_CBOR
}

fn scan(cid: &Cid, data: &[u8], walkable_only: bool, mut visit: impl FnMut(Cid)) -> Result<()> {
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
                    Some((0, rest)) if walkable_only && !may_be_walkable(rest) => continue,
                    Some((0, rest)) => crate::ipld::cids::parse_link(rest)
                        .map_err(|e| bad(at, &format!("invalid CID in link: {e}")))?,
                    _ => return Err(bad(at, "CID link without the 0x00 multibase prefix")),
                };
                if !walkable_only || link.hash().code() != IDENTITY {
                    visit(link);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipld::cids::{cbor_cid, is_walkable};
    use multihash_codetable::{Code, MultihashDigest};

    #[test]
    fn walkable_scan_reports_exactly_the_walkable_links_of_a_full_scan() {
        let dag = cbor_cid(b"child");
        let raw = Cid::new_v1(RAW, Code::Blake2b256.digest(b"code"));
        let mh = |code: u64, d: &[u8]| cid::multihash::Multihash::<64>::wrap(code, d).unwrap();
        let inline = Cid::new_v1(DAG_CBOR, mh(IDENTITY, b"inline"));
        let sealed = Cid::new_v1(0xf102, mh(0xb401, &[7; 32])); // poseidon commR
        let unsealed = Cid::new_v1(0xf101, mh(0x1012, &[9; 32])); // sha2-trunc254 commD
        let v0 = Cid::new_v0(Code::Sha2_256.digest(b"pb")).unwrap();
        let links = vec![sealed, dag, raw, inline, unsealed, v0, dag];
        let block = fvm_ipld_encoding::to_vec(&(1u8, &links, "x")).unwrap();
        let me = cbor_cid(&block);
        let mut all = Vec::new();
        scan_links(&me, &block, |c| all.push(c)).unwrap();
        assert_eq!(all, links);
        let expected: Vec<Cid> = all.into_iter().filter(is_walkable).collect();
        assert_eq!(walkable_links_of(&me, &block).unwrap(), expected);
        assert_eq!(expected, vec![dag, dag]);
    }
}
