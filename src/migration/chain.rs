//! Several upgrades in a row: the shipped upgrades that take a state from
//! the bundle it runs to a target network version, each one's output the
//! next one's input. A test and rehearsal convenience (`migrate --to`,
//! `gen --to`): no messages run in between, so the result is not a chain's
//! history, but every step is the upgrade the chain ran at that version.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::cache::MemoryCache;
use super::detect::state_facts;
use super::runner::{migrate_state, MigrationOptions};
use super::upgrade::Upgrade;
use super::upgrades::{names, shipped};
use crate::actors::manifest::Network;
use crate::error::{Error, Result};

/// Whether `target` is a bare network version (`nv29`), not an upgrade's
/// own name (`nv22fix`).
fn is_version(target: &str) -> bool {
    target
        .strip_prefix("nv")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The network version `target` names: `nv29` → 29; a shipped upgrade's
/// name (`nv22fix`) → that upgrade's version.
fn target_version(target: &str, network: Network) -> Result<u32> {
    if let Some(spec) = shipped(network).into_iter().find(|s| s.name == target) {
        return Ok(spec.network_version);
    }
    target
        .strip_prefix("nv")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            let known = names();
            Error::Config(format!(
                "--to {target:?}: not a network version (nv29) or an upgrade ({})",
                known.join(", ")
            ))
        })
}

/// The shipped upgrades on `network` that take a state running the bundle
/// whose data is `from` up to `target`: with a network version (`nv21`),
/// every upgrade of a version ≤ it, in order, fix upgrades included (on
/// calibnet `nv21` is Watermelon and its two fixes, `nv25` stops before
/// TockFix); with a fix upgrade's name (`nv22fix`), up to and including it.
pub fn upgrade_path(network: Network, from: &Cid, target: &str) -> Result<Vec<Upgrade>> {
    let version = target_version(target, network)?;
    let all = shipped(network);
    let mut path = Vec::new();
    let mut data = *from;
    while let Some(next) = all.iter().find(|s| s.old_manifest.data_cid == data) {
        if next.network_version > version {
            break;
        }
        data = next.new_manifest.data_cid;
        path.push(next.clone());
        if next.name == target && !is_version(target) {
            break;
        }
    }
    if path.is_empty() {
        let at = crate::actors::manifest::by_data_cid(from)
            .map(|m| format!("actors {} ({})", m.release, m.network))
            .unwrap_or_else(|| format!("an unknown bundle ({from})"));
        return Err(Error::WrongState(format!(
            "no upgrade to run from {at} to {target} on {network}: the state is already there, past it, or at a bundle no shipped upgrade starts from"
        )));
    }
    Ok(path)
}

/// The path from the state at `root` (its bundle and network read from it).
pub fn upgrade_path_of<S: Blockstore>(
    store: &S,
    root: &Cid,
    network: Option<Network>,
    target: &str,
) -> Result<Vec<Upgrade>> {
    let facts = state_facts(store, root)?;
    let network = facts.resolve_network(network)?;
    upgrade_path(network, &facts.manifest_data, target)
}

/// Runs `specs` in turn on the state at `root` in `store`, each with a
/// fresh in-memory cache; returns each upgrade's state root.
pub fn migrate_through<S: Blockstore + Sync>(
    store: &S,
    root: &Cid,
    specs: &[Upgrade],
    opts: &MigrationOptions,
) -> Result<Vec<Cid>> {
    let mut roots = Vec::with_capacity(specs.len());
    let mut root = *root;
    for spec in specs {
        root = migrate_state(store, &root, spec, &MemoryCache::default(), opts)?.state_root;
        roots.push(root);
    }
    Ok(roots)
}
