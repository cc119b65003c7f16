//! Synthetic chains of block headers over given states, for chain-snapshot
//! inputs: tipsets of one to three blocks, null rounds at chosen epochs,
//! each header a real 16-field `BlockHeader` encoding (fields the walk does
//! not read are plausible constants), whose messages and receipts are empty
//! AMTs so an export from the head is a complete DAG.

use cid::Cid;
use fvm_ipld_amt::Amt;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::strict_bytes;
use fvm_ipld_encoding::tuple::*;
use fvm_shared4::address::Address;
use fvm_shared4::bigint::{bigint_ser, BigInt};
use fvm_shared4::crypto::signature::Signature;
use fvm_shared4::econ::TokenAmount;

use crate::actors::state_tree::put_cbor;
use crate::error::{Error, Result};

#[derive(Serialize_tuple)]
struct Ticket {
    #[serde(with = "strict_bytes")]
    vrfproof: Vec<u8>,
}

#[derive(Serialize_tuple)]
struct ElectionProof {
    win_count: i64,
    #[serde(with = "strict_bytes")]
    vrfproof: Vec<u8>,
}

#[derive(Serialize_tuple)]
struct BeaconEntry {
    round: u64,
    #[serde(with = "strict_bytes")]
    data: Vec<u8>,
}

#[derive(Serialize_tuple)]
struct PoStProof {
    post_proof: i64,
    #[serde(with = "strict_bytes")]
    proof_bytes: Vec<u8>,
}

#[derive(Serialize_tuple)]
struct TxMeta {
    bls_message_root: Cid,
    secp_message_root: Cid,
}

#[derive(Serialize_tuple)]
struct BlockHeader {
    miner: Address,
    ticket: Option<Ticket>,
    election_proof: Option<ElectionProof>,
    beacon_entries: Vec<BeaconEntry>,
    win_post_proof: Vec<PoStProof>,
    parents: Vec<Cid>,
    #[serde(with = "bigint_ser")]
    parent_weight: BigInt,
    height: i64,
    parent_state_root: Cid,
    parent_message_receipts: Cid,
    messages: Cid,
    bls_aggregate: Option<Signature>,
    timestamp: u64,
    block_sig: Option<Signature>,
    fork_signaling: u64,
    parent_base_fee: TokenAmount,
}

/// The shape of a synthetic chain.
#[derive(Debug, Clone)]
pub struct ChainShape {
    /// The first tipset's epoch (a genesis-like tipset without parents).
    pub first_epoch: i64,
    /// The head's epoch.
    pub head_epoch: i64,
    /// Epochs `e` with `e % null_every == null_every - 1` are null rounds
    /// (0: none). The first and head epochs always have a tipset.
    pub null_every: i64,
    /// Blocks per tipset cycle through 1..=this.
    pub max_blocks: usize,
}

/// A built chain.
#[derive(Debug, Clone)]
pub struct BuiltChain {
    /// The head tipset's key.
    pub head: Vec<Cid>,
    /// Every tipset, oldest first: (epoch, key).
    pub tipsets: Vec<(i64, Vec<Cid>)>,
}

/// Whether `shape` has a tipset at `epoch`.
pub fn has_tipset(shape: &ChainShape, epoch: i64) -> bool {
    epoch == shape.first_epoch
        || epoch == shape.head_epoch
        || shape.null_every <= 0
        || epoch.rem_euclid(shape.null_every) != shape.null_every - 1
}

/// Writes the headers of `shape` into `store`; each tipset's
/// ParentStateRoot is `state_for(its epoch)` (which the store need not hold).
pub fn build_chain<S: Blockstore>(
    store: &S,
    shape: &ChainShape,
    state_for: impl Fn(i64) -> Cid,
) -> Result<BuiltChain> {
    if shape.head_epoch < shape.first_epoch {
        return Err(Error::Synth(format!(
            "a chain from epoch {} to {} is empty",
            shape.first_epoch, shape.head_epoch
        )));
    }
    let empty = Amt::<(), _>::new_with_bit_width(store, 3)
        .flush()
        .map_err(|e| Error::Synth(format!("empty AMT: {e}")))?;
    let messages = put_cbor(
        store,
        &TxMeta {
            bls_message_root: empty,
            secp_message_root: empty,
        },
    )?;
    let mut parents: Vec<Cid> = Vec::new();
    let mut tipsets = Vec::new();
    for epoch in shape.first_epoch..=shape.head_epoch {
        if !has_tipset(shape, epoch) {
            continue;
        }
        let blocks = 1 + (epoch.unsigned_abs() as usize % shape.max_blocks.max(1));
        let mut key = Vec::with_capacity(blocks);
        for b in 0..blocks {
            let h = BlockHeader {
                miner: Address::new_id(1000 + b as u64),
                ticket: Some(Ticket {
                    vrfproof: vrf(epoch, b),
                }),
                election_proof: Some(ElectionProof {
                    win_count: 1,
                    vrfproof: vrf(epoch, b + 7),
                }),
                beacon_entries: vec![BeaconEntry {
                    round: epoch as u64 + 1000,
                    data: vrf(epoch, 99),
                }],
                win_post_proof: vec![PoStProof {
                    post_proof: 3,
                    proof_bytes: vec![0xab; 192],
                }],
                parents: parents.clone(),
                parent_weight: BigInt::from(epoch) * 1000,
                height: epoch,
                parent_state_root: state_for(epoch),
                parent_message_receipts: empty,
                messages,
                bls_aggregate: Some(Signature::new_bls(vec![0x11; 96])),
                timestamp: 1_598_306_400 + 30 * epoch as u64,
                block_sig: Some(Signature::new_bls(vec![0x22 ^ b as u8; 96])),
                fork_signaling: 0,
                parent_base_fee: TokenAmount::from_atto(100),
            };
            key.push(put_cbor(store, &h)?);
        }
        tipsets.push((epoch, key.clone()));
        parents = key;
    }
    Ok(BuiltChain {
        head: parents,
        tipsets,
    })
}

fn vrf(epoch: i64, salt: usize) -> Vec<u8> {
    let mut v = vec![0u8; 96];
    v[..8].copy_from_slice(&epoch.to_le_bytes());
    v[8] = salt as u8;
    v
}
