//! CID construction and verification: the one place that knows which codecs
//! and hash functions the Filecoin state uses.

use cid::Cid;
use multihash_codetable::{Code, MultihashDigest};

use crate::error::{Error, Result};

/// DAG-CBOR codec: every state block.
pub const DAG_CBOR: u64 = 0x71;
/// Raw codec: actor code (Wasm) blocks.
pub const RAW: u64 = 0x55;
/// Identity multihash: data inlined in the CID (builtin actor code CIDs).
pub const IDENTITY: u64 = 0x00;
/// Blake2b-256 multihash: the hash of every state block.
pub const BLAKE2B_256: u64 = 0xb220;

/// The CID of a DAG-CBOR state block: CIDv1, DAG-CBOR, Blake2b-256.
pub fn cbor_cid(data: &[u8]) -> Cid {
    let digest = blake2b_simd::Params::new().hash_length(32).hash(data);
    let mh = cid::multihash::Multihash::<64>::wrap(BLAKE2B_256, digest.as_bytes())
        .expect("32-byte digest fits a 64-byte multihash");
    Cid::new_v1(DAG_CBOR, mh)
}

/// The binary prefix of every state block's CID: CIDv1, DAG-CBOR,
/// Blake2b-256 (varint 0xb220), 32-byte digest.
const STATE_CID_PREFIX: [u8; 6] = [0x01, 0x71, 0xa0, 0xe4, 0x02, 0x20];

/// Parses a binary CID (as found in a link). The links of the state are
/// nearly all of one form, read here without the generic varint reader (a
/// tenth of an incremental migration's time went to it); any other form
/// goes through `Cid::try_from`, which gives the same `Cid` for this one.
pub fn parse_link(bytes: &[u8]) -> std::result::Result<Cid, cid::Error> {
    if bytes.len() == STATE_CID_PREFIX.len() + 32 && bytes.starts_with(&STATE_CID_PREFIX) {
        let mh = cid::multihash::Multihash::<64>::wrap(BLAKE2B_256, &bytes[6..])
            .expect("32-byte digest fits a 64-byte multihash");
        return Ok(Cid::new_v1(DAG_CBOR, mh));
    }
    Cid::try_from(bytes)
}

/// Whether a link is to a block that lives in a blockstore and should be
/// walked: DAG-CBOR with a real hash. Raw (code), identity (inline builtin
/// code CIDs) and Filecoin piece/sector commitments (codecs 0xf101/0xf102)
/// are not blocks of the state, exactly as the reference snapshot walkers treat them.
pub fn is_walkable(cid: &Cid) -> bool {
    cid.codec() == DAG_CBOR && cid.hash().code() != IDENTITY
}

/// Checks that `data` hashes to the digest in `cid`.
pub fn verify(cid: &Cid, data: &[u8], offset: Option<u64>) -> Result<()> {
    let code = cid.hash().code();
    let ok = match code {
        BLAKE2B_256 => {
            blake2b_simd::Params::new()
                .hash_length(32)
                .hash(data)
                .as_bytes()
                == cid.hash().digest()
        }
        IDENTITY => cid.hash().digest() == data,
        _ => {
            let hasher =
                Code::try_from(code).map_err(|_| Error::UnsupportedHash { cid: *cid, code })?;
            hasher.digest(data).digest() == cid.hash().digest()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::HashMismatch { cid: *cid, offset })
    }
}

/// A 128-bit fingerprint of a CID, for compact seen-sets. Collisions need
/// 2^64 CIDs to become likely.
pub fn fingerprint(cid: &Cid) -> u128 {
    let bytes = cid.to_bytes();
    let h = blake2b_simd::Params::new().hash_length(16).hash(&bytes);
    u128::from_le_bytes(h.as_bytes().try_into().expect("16-byte hash"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_link_agrees_with_the_generic_parser() {
        let state = cbor_cid(b"block");
        let raw = Cid::new_v1(RAW, state.hash().to_owned());
        let v0 = Cid::try_from("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n").unwrap();
        for c in [state, raw, v0] {
            let b = c.to_bytes();
            assert_eq!(parse_link(&b).unwrap(), c);
            assert_eq!(parse_link(&b).unwrap().to_bytes(), b);
        }
        let b = state.to_bytes();
        assert!(parse_link(&b[..b.len() - 1]).is_err());
    }
}
