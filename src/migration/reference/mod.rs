//! What the typed reference paths share (each upgrade's own is the
//! `reference.rs` of its folder in [`super::upgrades`]), written the way the
//! reference implementations do it: decode with that version's `fil_actor_*_state`
//! types, build the new types field by field, and rebuild every tree with
//! `fvm_ipld_amt` / `fvm_ipld_hamt` from scratch. They share no code with the
//! engine except the published-manifest data and the spec's heights, so the
//! tests use them as the independent oracle and the benchmarks as the
//! baseline the engine is measured against. They hold whole trees in memory,
//! as those libraries do.

pub mod code_only;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::CborStore;
use fvm_ipld_hamt::{BytesKey, Hamt};
use multihash_codetable::Code;

pub use code_only::reference_code_only;

use super::spec::UpgradeSpec;
use super::upgrade::Upgrade;
use crate::error::Result;

pub(crate) type R<T> = anyhow::Result<T>;

/// An actor of the state tree (v5).
#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug, PartialEq)]
pub(crate) struct Actor {
    pub(crate) code: Cid,
    pub(crate) head: Cid,
    pub(crate) sequence: u64,
    pub(crate) balance: fvm_shared3::econ::TokenAmount,
    pub(crate) delegated_address: Option<fvm_shared3::address::Address>,
}

/// The state root (v5).
#[derive(Serialize_tuple, Deserialize_tuple, Clone, Debug)]
pub(crate) struct Root {
    pub(crate) version: u64,
    pub(crate) actors: Cid,
    pub(crate) info: Cid,
}

/// The input actors tree of a state.
pub(crate) type Actors<'s, S> = Hamt<&'s S, Actor, BytesKey>;

/// Decodes the block `c`, which must exist.
pub(crate) fn get<S: Blockstore, T: serde::de::DeserializeOwned>(store: &S, c: &Cid) -> R<T> {
    store
        .get_cbor(c)?
        .ok_or_else(|| anyhow::anyhow!("missing block {c}"))
}

/// Stores `v` as DAG-CBOR (blake2b-256).
pub(crate) fn put<S: Blockstore, T: serde::Serialize>(store: &S, v: &T) -> R<Cid> {
    store.put_cbor(v, Code::Blake2b256)
}

/// Loads a v5 state root and its actors tree.
pub(crate) fn load_state<'s, S: Blockstore>(
    store: &'s S,
    state_root: &Cid,
) -> R<(Root, Actors<'s, S>)> {
    let root: Root = store
        .get_cbor(state_root)?
        .ok_or_else(|| anyhow::anyhow!("missing state root {state_root}"))?;
    anyhow::ensure!(root.version == 5, "state tree version {}", root.version);
    let actors = Hamt::load_with_bit_width(&root.actors, store, 5)?;
    Ok((root, actors))
}

/// The new state: every actor of `input` with its code mapped by name from
/// `spec`'s old manifest to its new one, the system actor pointing at the
/// new manifest's data, and the head
/// `head(name, key, actor)` gives (`None`: unchanged), set one by one into a
/// new tree as the reference implementations do.
pub(crate) fn rebuild_state<S: Blockstore>(
    store: &S,
    root: &Root,
    input: &Actors<'_, S>,
    spec: &UpgradeSpec,
    mut head: impl FnMut(&str, &BytesKey, &Actor) -> R<Option<Cid>>,
) -> R<Cid> {
    let (old, new) = (&spec.old_manifest, &spec.new_manifest);
    let mut out: Actors<'_, S> = Hamt::new_with_bit_width(store, 5);
    input.for_each(|k, a| {
        let name = old
            .name_of(&a.code)
            .ok_or_else(|| anyhow::anyhow!("unknown code {}", a.code))?;
        let new_head = match name {
            // `[builtin_actors]` in every actors version.
            "system" => store.put_cbor(
                &fil_actor_system_state::v12::State {
                    builtin_actors: new.data_cid,
                },
                Code::Blake2b256,
            )?,
            _ => head(name, k, a)?.unwrap_or(a.head),
        };
        let mut b = a.clone();
        b.code = new
            .code_of(name)
            .ok_or_else(|| anyhow::anyhow!("no actors v{} code for {name}", new.actors_version))?;
        b.head = new_head;
        out.set(k.clone(), b)?;
        Ok(())
    })?;
    let actors = out.flush()?;
    store.put_cbor(
        &Root {
            version: 5,
            actors,
            info: root.info,
        },
        Code::Blake2b256,
    )
}

/// [`rebuild_state`] of the state at `state_root` with `spec`'s manifests.
pub(crate) fn rebuild_by_spec<S: Blockstore>(
    store: &S,
    state_root: &Cid,
    spec: &UpgradeSpec,
    head: impl FnMut(&str, &BytesKey, &Actor) -> R<Option<Cid>>,
) -> R<Cid> {
    let (root, input) = load_state(store, state_root)?;
    rebuild_state(store, &root, &input, spec, head)
}

/// The reference migration of `state_root` by `upgrade`: its typed path.
pub fn reference_root<S: Blockstore + Sync>(
    store: &S,
    state_root: &Cid,
    upgrade: &Upgrade,
) -> Result<Cid> {
    upgrade.reference_root(store, state_root)
}
