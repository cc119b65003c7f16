//! What a state is, read from the state itself: the actors bundle from the
//! system actor's manifest link, the network from the init actor's
//! `NetworkName` (see `docs/design.md` §2).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use crate::actors::manifest::{by_data_cid, Manifest, Network};
use crate::actors::state_tree::{get_cbor, RawActor, StateRoot};
use crate::actors::tuple;
use crate::error::{Error, Result};
use crate::ipld::cbor::Cursor;
use crate::ipld::hamt::{get_value, DEFAULT_BIT_WIDTH};
use crate::ipld::load_block;

/// What a state runs.
#[derive(Debug, Clone)]
pub struct StateFacts {
    /// The system actor's `builtin_actors` (the manifest data CID).
    pub manifest_data: Cid,
    /// The published bundle with that data, if any.
    pub bundle: Option<&'static Manifest>,
    /// The init actor's network name (`mainnet`, `calibrationnet`, …).
    pub network_name: String,
}

impl StateFacts {
    /// The network, if the name is one this build knows.
    pub fn network(&self) -> Option<Network> {
        Network::from_chain_name(&self.network_name)
    }

    /// The network to migrate the state as: the state's own, which `asked`
    /// (`--network`) must agree with; `asked` alone for a state whose name
    /// has no bundles here (a devnet running a published bundle: the
    /// bundle is still checked against the spec); an error naming the
    /// state's name and what `--network` accepts when neither is known.
    pub fn resolve_network(&self, asked: Option<Network>) -> Result<Network> {
        match (asked, self.network()) {
            (Some(a), Some(s)) if a != s => Err(Error::WrongState(format!(
                "--network {a} but the state is a {s} state (its init actor's network name is {:?})",
                self.network_name
            ))),
            (_, Some(s)) => Ok(s),
            (Some(a), None) => {
                tracing::warn!(
                    "the state's init actor names network {:?}, which has no published bundles here: migrating it as {a} (--network), with {a}'s bundles",
                    self.network_name
                );
                Ok(a)
            }
            (None, None) => Err(Error::WrongState(format!(
                "the state's init actor names network {:?}, which has no published bundles here; pass --network to migrate it with the bundles of {}",
                self.network_name,
                Network::ACCEPTED
            ))),
        }
    }

    /// "actors v12 (mainnet v12.0.0)" or the unknown data CID.
    pub fn describe(&self) -> String {
        match self.bundle {
            Some(m) => format!("actors v{} ({} {})", m.actors_version, m.network, m.release),
            None => format!(
                "an unpublished actors bundle (manifest data {})",
                self.manifest_data
            ),
        }
    }
}

fn actor_head<S: Blockstore>(store: &S, actors: &Cid, id: u64, what: &str) -> Result<Cid> {
    let key = fvm_shared3::address::Address::new_id(id).to_bytes();
    let v = get_value(store, actors, DEFAULT_BIT_WIDTH, &key)?
        .ok_or_else(|| Error::WrongState(format!("the state has no {what} actor (f0{id})")))?;
    Ok(RawActor::parse(&v, actors)?.head)
}

/// Reads the facts of the state at `state_root`.
pub fn state_facts<S: Blockstore>(store: &S, state_root: &Cid) -> Result<StateFacts> {
    let root: StateRoot = get_cbor(store, state_root, "state root")?;
    let system = actor_head(store, &root.actors, 0, "system")?;
    let bytes = load_block(store, &system, Some(root.actors))?;
    let fields = tuple::elements(&bytes, 1, "system actor state", &system)?;
    let manifest_data = tuple::cid_at(&bytes, &fields[0], "system builtin_actors", &system)?;
    let init = actor_head(store, &root.actors, 1, "init")?;
    let bytes = load_block(store, &init, Some(root.actors))?;
    let fields = tuple::elements(&bytes, 3, "init actor state", &init)?;
    let mut cur = Cursor::new(&bytes[fields[2].clone()]);
    let name = cur
        .expect(
            crate::ipld::cbor::major::TEXT,
            "network name is not a text string",
        )
        .and_then(|n| cur.take(n))
        .map_err(|e| Error::Cbor {
            cid: init,
            offset: fields[2].start + e.offset,
            reason: format!("init actor network_name: {}", e.reason),
        })?;
    Ok(StateFacts {
        manifest_data,
        bundle: by_data_cid(&manifest_data),
        network_name: String::from_utf8_lossy(name).into_owned(),
    })
}
