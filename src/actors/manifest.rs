//! Published builtin-actors manifests (mainnet and calibnet, v8..v19, the
//! release candidates calibnet ran included), kept as data in
//! `builtin-actors-manifests.json` beside this file.
//!
//! A manifest is the DAG-CBOR tuple `[1, data_cid]`; its data is the list of
//! `[name, code_cid]` pairs in the published entry order. Building both blocks
//! from the entries must reproduce the published manifest CID; [`Manifest::load`]
//! checks that, so a typo in the data can never produce a wrong state.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ipld::cids::cbor_cid;

const MANIFESTS_JSON: &str = include_str!("builtin-actors-manifests.json");

/// A Filecoin network with published bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Mainnet.
    Mainnet,
    /// The calibration network.
    Calibnet,
}

impl Network {
    /// The network a state's init actor `NetworkName` means: `mainnet`
    /// (since Liftoff; `testnetnet`, the genesis name, before it and in
    /// pubsub topics still) and `calibrationnet`. Other names (devnets,
    /// butterflynet) have no published bundles here.
    pub fn from_chain_name(name: &str) -> Option<Network> {
        match name {
            "mainnet" | "testnetnet" => Some(Network::Mainnet),
            "calibrationnet" => Some(Network::Calibnet),
            _ => None,
        }
    }

    /// What `--network` accepts, for messages.
    pub const ACCEPTED: &'static str =
        "mainnet (or its genesis name testnetnet) or calibnet (or calibrationnet)";

    /// The name used in the manifest data file.
    pub fn data_name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Calibnet => "calibrationnet",
        }
    }
}

impl std::str::FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mainnet" | "testnetnet" => Ok(Network::Mainnet),
            "calibnet" | "calibrationnet" => Ok(Network::Calibnet),
            other => Err(Error::Config(format!(
                "unknown network {other:?}: the networks are {}",
                Network::ACCEPTED
            ))),
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Calibnet => "calibnet",
        })
    }
}

#[derive(Deserialize)]
struct File {
    bundles: Vec<Bundle>,
}

#[derive(Deserialize)]
struct Bundle {
    network: String,
    actors_version: u32,
    release: String,
    manifest: String,
    entries: Vec<(String, String)>,
}

/// One published actors bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Network.
    pub network: Network,
    /// Actors version (11 for nv20/nv21's input, 12 for its output).
    pub actors_version: u32,
    /// The bundle's release label (`v13.0.0`, `v13.0.0-rc.3`).
    pub release: String,
    /// `[name, code]` in published order.
    pub entries: Vec<(String, Cid)>,
    /// The published manifest CID.
    pub manifest_cid: Cid,
    /// CID of the data block (what the system actor's state links to).
    pub data_cid: Cid,
    data_bytes: Vec<u8>,
    manifest_bytes: Vec<u8>,
}

impl Manifest {
    /// Loads the final published release of `network` at `actors_version`
    /// (the highest non-candidate release, or the only candidate where no
    /// final one was published), checking that the blocks rebuilt from its
    /// entries hash to the published CID.
    pub fn load(network: Network, actors_version: u32) -> Result<Self> {
        let b = bundles()?
            .iter()
            .filter(|b| b.network == network.data_name() && b.actors_version == actors_version)
            .max_by_key(|b| (!is_candidate(&b.release), b.release.clone()))
            .ok_or_else(|| {
                Error::Manifest(format!(
                    "no published actors v{actors_version} bundle for {network}"
                ))
            })?;
        Self::from_bundle(network, b)
    }

    /// Loads the published bundle of `network` with release label `release`
    /// (`v13.0.0-rc.3`).
    pub fn load_release(network: Network, release: &str) -> Result<Self> {
        let b = bundles()?
            .iter()
            .find(|b| b.network == network.data_name() && b.release == release)
            .ok_or_else(|| {
                Error::Manifest(format!(
                    "no published actors bundle {release} for {network}"
                ))
            })?;
        Self::from_bundle(network, b)
    }

    fn from_bundle(network: Network, b: &Bundle) -> Result<Self> {
        let actors_version = b.actors_version;
        let parse = |s: &str| {
            Cid::try_from(s)
                .map_err(|e| Error::Manifest(format!("bad CID {s:?} in embedded manifests: {e}")))
        };
        let entries = b
            .entries
            .iter()
            .map(|(n, c)| Ok((n.clone(), parse(c)?)))
            .collect::<Result<Vec<_>>>()?;
        let manifest_cid = parse(&b.manifest)?;
        let data_bytes = fvm_ipld_encoding::to_vec(&entries)
            .map_err(|e| Error::Manifest(format!("encoding manifest data: {e}")))?;
        let data_cid = cbor_cid(&data_bytes);
        let manifest_bytes = fvm_ipld_encoding::to_vec(&(1u64, data_cid))
            .map_err(|e| Error::Manifest(format!("encoding manifest: {e}")))?;
        let rebuilt = cbor_cid(&manifest_bytes);
        if rebuilt != manifest_cid {
            return Err(Error::Manifest(format!(
                "{network} actors {}: rebuilt manifest {rebuilt} != published {manifest_cid}",
                b.release
            )));
        }
        Ok(Manifest {
            network,
            actors_version,
            release: b.release.clone(),
            entries,
            manifest_cid,
            data_cid,
            data_bytes,
            manifest_bytes,
        })
    }

    /// The code CID of an actor by manifest name (`"storageminer"`, …).
    pub fn code_of(&self, name: &str) -> Option<Cid> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
    }

    /// The manifest name of a code CID.
    pub fn name_of(&self, code: &Cid) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, c)| c == code)
            .map(|(n, _)| n.as_str())
    }

    /// Writes the data and manifest blocks into `store`.
    pub fn store<S: Blockstore>(&self, store: &S) -> Result<()> {
        store
            .put_keyed(&self.data_cid, &self.data_bytes)
            .map_err(Error::from_blockstore)?;
        store
            .put_keyed(&self.manifest_cid, &self.manifest_bytes)
            .map_err(Error::from_blockstore)
    }
}

/// The embedded bundles, parsed once: every manifest loaded used to parse
/// the whole file again (27M instructions of a small final migration's
/// 454M, counted by callgrind).
fn bundles() -> Result<&'static [Bundle]> {
    static PARSED: std::sync::OnceLock<std::result::Result<Vec<Bundle>, String>> =
        std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| {
            serde_json::from_str::<File>(MANIFESTS_JSON)
                .map(|f| f.bundles)
                .map_err(|e| format!("embedded manifests are corrupt: {e}"))
        })
        .as_deref()
        .map_err(|e| Error::Manifest(e.clone()))
}

/// A release candidate (`-rc.3`, `-rc2`, `-rc3`).
fn is_candidate(release: &str) -> bool {
    release.contains("-rc")
}

/// Every published (network, release) bundle.
pub fn published() -> Vec<(Network, String)> {
    bundles()
        .unwrap_or_default()
        .iter()
        .filter_map(|b| {
            let n = match b.network.as_str() {
                "mainnet" => Network::Mainnet,
                "calibrationnet" => Network::Calibnet,
                _ => return None,
            };
            Some((n, b.release.clone()))
        })
        .collect()
}

/// Every published manifest, loaded once.
pub fn all() -> &'static [Manifest] {
    static ALL: std::sync::OnceLock<Vec<Manifest>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        published()
            .into_iter()
            .filter_map(|(n, r)| Manifest::load_release(n, &r).ok())
            .collect()
    })
}

/// The published manifest whose data block is `data_cid` (what a system
/// actor's state links to): the bundle a state runs.
pub fn by_data_cid(data_cid: &Cid) -> Option<&'static Manifest> {
    all().iter().find(|m| m.data_cid == *data_cid)
}

/// What a code CID is: (actor name, actors version, network), from any published bundle.
pub fn identify(code: &Cid) -> Option<(String, u32, Network)> {
    all().iter().find_map(|m| {
        m.name_of(code)
            .map(|name| (name.to_string(), m.actors_version, m.network))
    })
}
