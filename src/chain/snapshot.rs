//! Which state a snapshot's roots designate. A state snapshot's root is a
//! `StateRoot`; a chain snapshot's roots are the head tipset's block headers
//! (or, in the v2 format of FRC-0108, one metadata block naming them), and
//! the state to migrate is a tipset's `ParentStateRoot`: the head's by
//! default, or, given an epoch, that of the tipset at the epoch (the last one
//! before it when the epoch was a null round) found by walking parents back.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use serde::{Deserialize, Serialize};

use super::header::HeaderFields;
use crate::actors::state_tree::resolve_state_root;
use crate::error::{Error, Result};
use crate::ipld::cbor::{major, Cursor};

/// Where a migrated state came from in its snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSource {
    /// The state root migrated.
    pub state_root: String,
    /// The epoch of the tipset whose ParentStateRoot it is (none when the
    /// snapshot's root is the state itself).
    pub tipset_epoch: Option<i64>,
    /// That tipset's block headers.
    pub tipset: Vec<String>,
    /// The epoch asked for (`--epoch`), if any.
    pub requested_epoch: Option<i64>,
    /// The snapshot's head epoch, when it is a chain snapshot.
    pub head_epoch: Option<i64>,
}

impl StateSource {
    /// One line for logs: which state, from which tipset.
    pub fn describe(&self) -> String {
        match (self.tipset_epoch, self.requested_epoch) {
            (None, _) => format!("state root {} (the snapshot's root)", self.state_root),
            (Some(e), Some(r)) if e != r => format!(
                "state {} of the tipset at epoch {e} (epoch {r} is a null round; {e} is the last tipset before it), header {}",
                self.state_root, self.tipset[0]
            ),
            (Some(e), _) => format!(
                "state {} of the tipset at epoch {e}, header {}",
                self.state_root, self.tipset[0]
            ),
        }
    }
}

/// A tipset: its headers (all at one height, with one parent key).
#[derive(Debug, Clone)]
pub struct Tipset {
    /// The headers, in key order.
    pub headers: Vec<HeaderFields>,
}

impl Tipset {
    /// Loads the tipset `key`; `Ok(None)` if the store lacks any header.
    pub fn load<S: Blockstore>(store: &S, key: &[Cid]) -> Result<Option<Self>> {
        let mut headers = Vec::with_capacity(key.len());
        for c in key {
            match HeaderFields::load(store, c)? {
                Some(h) => headers.push(h),
                None => return Ok(None),
            }
        }
        let Some(first) = headers.first() else {
            return Err(Error::Snapshot("an empty tipset key".into()));
        };
        if let Some(odd) = headers.iter().find(|h| h.height != first.height) {
            return Err(Error::Malformed {
                what: "tipset",
                cid: odd.cid,
                reason: format!(
                    "header at epoch {} in a tipset whose first header {} is at epoch {}",
                    odd.height, first.cid, first.height
                ),
            });
        }
        Ok(Some(Tipset { headers }))
    }

    /// The tipset's epoch.
    pub fn height(&self) -> i64 {
        self.headers[0].height
    }

    /// The parent tipset's key (empty at genesis).
    pub fn parents(&self) -> &[Cid] {
        &self.headers[0].parents
    }

    /// The state its parent's execution produced.
    pub fn parent_state_root(&self) -> Cid {
        self.headers[0].parent_state_root
    }

    /// The header CIDs.
    pub fn key(&self) -> Vec<Cid> {
        self.headers.iter().map(|h| h.cid).collect()
    }
}

/// The FRC-0108 v2 snapshot metadata block (the single root of a v2 snapshot).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnapshotMetadata {
    version: u64,
    head_tipset_key: Vec<Cid>,
}

/// The head tipset key a snapshot's roots name: the roots themselves, or a
/// v2 snapshot's metadata's `HeadTipsetKey`.
fn head_key<S: Blockstore>(store: &S, roots: &[Cid]) -> Result<Vec<Cid>> {
    if let [only] = roots {
        let data = crate::ipld::load_block(store, only, None)?;
        if matches!(Cursor::new(&data).header(), Ok((major::MAP, _))) {
            let m: SnapshotMetadata =
                fvm_ipld_encoding::from_slice(&data).map_err(|e| Error::Malformed {
                    what: "snapshot metadata",
                    cid: *only,
                    reason: e.to_string(),
                })?;
            if m.version != 2 || m.head_tipset_key.is_empty() {
                return Err(Error::Malformed {
                    what: "snapshot metadata",
                    cid: *only,
                    reason: format!(
                        "version {} with {} head blocks (expected version 2 and a head)",
                        m.version,
                        m.head_tipset_key.len()
                    ),
                });
            }
            return Ok(m.head_tipset_key);
        }
    }
    Ok(roots.to_vec())
}

/// The state to migrate from a snapshot with header roots `roots`, at
/// `epoch` (default: the head's ParentStateRoot).
pub fn snapshot_state<S: Blockstore>(
    store: &S,
    roots: &[Cid],
    epoch: Option<i64>,
) -> Result<StateSource> {
    let first = *roots
        .first()
        .ok_or_else(|| Error::Snapshot("the snapshot CAR has no root".into()))?;
    let key = head_key(store, roots)?;
    let first_block = crate::ipld::load_block(store, &key[0], None)?;
    if is_state_root_shaped(&first_block) {
        if let Some(e) = epoch {
            return Err(Error::Snapshot(format!(
                "--epoch {e} needs a chain snapshot (block headers as roots), but this snapshot's root {first} is a state root"
            )));
        }
        let state = resolve_state_root(store, &key[0])?;
        return Ok(StateSource {
            state_root: state.to_string(),
            tipset_epoch: None,
            tipset: vec![],
            requested_epoch: None,
            head_epoch: None,
        });
    }
    if !matches!(Cursor::new(&first_block).header(), Ok((major::ARRAY, 16))) {
        return Err(Error::Malformed {
            what: "snapshot root",
            cid: key[0],
            reason: format!(
                "neither a state root ([version, actors, info]) nor a block header (a 16-field tuple): the block is {}",
                crate::ipld::cbor::shape_of(&first_block)
            ),
        });
    }
    let head = Tipset::load(store, &key)?.ok_or(Error::MissingBlock {
        cid: key[0],
        parent: None,
    })?;
    let chosen = match epoch {
        None => head.clone(),
        Some(e) => tipset_at(store, &head, e)?,
    };
    let psr = chosen.parent_state_root();
    if !store.has(&psr).map_err(Error::from_blockstore)? {
        let held = states_held(store, &head)?;
        return Err(Error::Snapshot(format!(
            "the snapshot lacks the state for epoch {} (tipset {} at epoch {}: its ParentStateRoot {psr} is not in the file); {}",
            epoch.unwrap_or(chosen.height()),
            chosen.key()[0],
            chosen.height(),
            match held {
                Some((lo, hi)) => format!("it holds the states of tipsets at epochs {lo}..={hi}"),
                None => "it holds no tipset's state".into(),
            }
        )));
    }
    let state = resolve_state_root(store, &psr)?;
    Ok(StateSource {
        state_root: state.to_string(),
        tipset_epoch: Some(chosen.height()),
        tipset: chosen.key().iter().map(Cid::to_string).collect(),
        requested_epoch: epoch,
        head_epoch: Some(head.height()),
    })
}

/// Whether a block has a state root's shape, `[version, actors, info]`.
fn is_state_root_shaped(data: &[u8]) -> bool {
    matches!(Cursor::new(data).header(), Ok((major::ARRAY, 3)))
}

/// The state `root`, named by the caller (`--state-root`): it must be in
/// the store and have a state root's shape, else the error says what the
/// block is.
pub fn given_state<S: Blockstore>(store: &S, root: &Cid) -> Result<StateSource> {
    let data = crate::ipld::load_block(store, root, None)?;
    if !is_state_root_shaped(&data) {
        return Err(Error::Malformed {
            what: "block",
            cid: *root,
            reason: format!(
                "it is not a state root ([version, actors, info]): it is {}",
                crate::ipld::cbor::shape_of(&data)
            ),
        });
    }
    Ok(StateSource {
        state_root: root.to_string(),
        tipset_epoch: None,
        tipset: vec![],
        requested_epoch: None,
        head_epoch: None,
    })
}

/// The state a snapshot's roots designate by default: its root itself, or
/// its head tipset's ParentStateRoot.
pub fn default_state_root<S: Blockstore>(store: &S, roots: &[Cid]) -> Result<Cid> {
    let source = snapshot_state(store, roots, None)?;
    Cid::try_from(source.state_root.as_str())
        .map_err(|e| Error::Snapshot(format!("state root {}: {e}", source.state_root)))
}

/// Walks parents back from `head` to the tipset at `epoch`, or the last
/// one before it if `epoch` was a null round.
pub fn tipset_at<S: Blockstore>(store: &S, head: &Tipset, epoch: i64) -> Result<Tipset> {
    if epoch > head.height() {
        return Err(Error::Snapshot(format!(
            "epoch {epoch} is after the snapshot's head at epoch {} (tipset {})",
            head.height(),
            head.key()[0]
        )));
    }
    let mut cur = head.clone();
    while cur.height() > epoch {
        if cur.parents().is_empty() {
            return Err(Error::Snapshot(format!(
                "epoch {epoch} is before the chain's first tipset at epoch {} (genesis)",
                cur.height()
            )));
        }
        let parent = Tipset::load(store, cur.parents())?.ok_or_else(|| {
            Error::Snapshot(format!(
                "the snapshot holds block headers for epochs {}..={} only (the parent {} of the tipset at epoch {} is not in the file); epoch {epoch} is before that",
                cur.height(),
                head.height(),
                cur.parents()[0],
                cur.height()
            ))
        })?;
        if parent.height() >= cur.height() {
            return Err(Error::Malformed {
                what: "block header",
                cid: cur.key()[0],
                reason: format!(
                    "at epoch {} its parent tipset is at epoch {}, not before it",
                    cur.height(),
                    parent.height()
                ),
            });
        }
        cur = parent;
    }
    Ok(cur)
}

/// The epochs of the tipsets from the head back whose ParentStateRoot the
/// store holds (contiguously, as snapshots keep the latest states).
fn states_held<S: Blockstore>(store: &S, head: &Tipset) -> Result<Option<(i64, i64)>> {
    let mut cur = head.clone();
    let mut range = None;
    loop {
        if !store
            .has(&cur.parent_state_root())
            .map_err(Error::from_blockstore)?
        {
            return Ok(range);
        }
        range = Some((cur.height(), head.height()));
        if cur.parents().is_empty() {
            return Ok(range);
        }
        match Tipset::load(store, cur.parents())? {
            Some(p) => cur = p,
            None => return Ok(range),
        }
    }
}
