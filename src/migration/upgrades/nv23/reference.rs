//! The typed reference path for nv23 (docs/upgrades/nv23.md, as go-state-types and
//! Forest run it): every code swapped by name, then the output tree's f090
//! replaced by an account if it is the new multisig.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::CborStore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use multihash_codetable::Code;

use crate::migration::reference::{load_state, rebuild_state, Actor, Root, R};
use crate::migration::spec::UpgradeSpec;

/// The nv23 migration of `state_root`, computed the reference way.
pub fn reference<S: Blockstore>(store: &S, state_root: &Cid, spec: &UpgradeSpec) -> R<Cid> {
    let (root, input) = load_state(store, state_root)?;
    let out = rebuild_state(store, &root, &input, spec, |_, _, _| Ok(None))?;
    let mut new_root: Root = store
        .get_cbor(&out)?
        .ok_or_else(|| anyhow::anyhow!("missing new root"))?;
    let mut actors: Hamt<_, Actor, BytesKey> =
        Hamt::load_with_bit_width(&new_root.actors, store, 5)?;
    let f090 = fvm_shared3::address::Address::new_id(90);
    let key = BytesKey(f090.to_bytes());
    let mut a = actors
        .get(&key)?
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("failed to get mining reserve actor f090"))?;
    let multisig = spec.new_manifest.code_of("multisig");
    if Some(a.code) == multisig {
        a.code = spec
            .new_manifest
            .code_of("account")
            .ok_or_else(|| anyhow::anyhow!("no account code"))?;
        a.head = store.put_cbor(
            &fil_actor_account_state::v14::State {
                address: fvm_shared4::address::Address::new_id(90),
            },
            Code::Blake2b256,
        )?;
        a.delegated_address = None;
        actors.set(key, a)?;
    }
    new_root.actors = actors.flush()?;
    store.put_cbor(&new_root, Code::Blake2b256)
}
