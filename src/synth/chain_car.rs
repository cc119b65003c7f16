//! `car chain`: a chain snapshot made from state snapshots: a synthetic
//! header chain whose tipsets' ParentStateRoots are the given states (the
//! oldest state for the oldest epochs), written with the head tipset as the
//! CAR's roots, as a node's chain export has.

use std::path::Path;

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::headers::{build_chain, BuiltChain, ChainShape};
use crate::chain::default_state_root;
use crate::error::{Error, Result};
use crate::store::{
    export_car, CarSource, CarSourceOptions, DiskStore, DiskStoreOptions, ExportOptions,
    ExportSummary,
};

/// Several read-only stores searched in turn.
struct Union<'a>(Vec<&'a dyn Blockstore>);

impl Blockstore for Union<'_> {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        for s in &self.0 {
            if let Some(b) = s.get(k)? {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
    fn put_keyed(&self, k: &Cid, _: &[u8]) -> anyhow::Result<()> {
        anyhow::bail!("cannot write {k}: a read-only union of snapshots")
    }
}

/// Which state (by index into `n` states, oldest first) the tipset at
/// `epoch` of `shape` gets: equal consecutive ranges of epochs.
pub fn state_index(shape: &ChainShape, n: usize, epoch: i64) -> usize {
    let span = (shape.head_epoch - shape.first_epoch + 1).max(1);
    (((epoch - shape.first_epoch) * n as i64) / span).clamp(0, n as i64 - 1) as usize
}

/// Writes a chain snapshot of `shape` over the states of `states` to `out`.
pub fn write_chain_car(
    states: &[&Path],
    shape: &ChainShape,
    out: &Path,
) -> Result<(BuiltChain, ExportSummary)> {
    if states.is_empty() {
        return Err(Error::Synth("a chain needs at least one state".into()));
    }
    let cars = states
        .iter()
        .map(|p| CarSource::open(p, CarSourceOptions::default()))
        .collect::<Result<Vec<_>>>()?;
    let roots = cars
        .iter()
        .map(|car| default_state_root(car, car.roots()))
        .collect::<Result<Vec<_>>>()?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = tempfile::tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    let headers = DiskStore::open(dir.path().join("headers"), DiskStoreOptions::default())?;
    let chain = build_chain(&headers, shape, |e| {
        roots[state_index(shape, roots.len(), e)]
    })?;
    let mut layers: Vec<&dyn Blockstore> = vec![&headers];
    layers.extend(cars.iter().map(|c| c as &dyn Blockstore));
    let union = Union(layers);
    let summary = export_car(&union, &chain.head, out, &ExportOptions::for_path(out))?;
    Ok((chain, summary))
}
