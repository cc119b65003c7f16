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
