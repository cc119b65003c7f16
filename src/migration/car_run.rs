//! Upgrades run one after another on a snapshot CAR, the result written as a
//! new CAR (in the format its name asks for): how `gen --then` makes a state of a later actors version from a
//! generated one (each upgrade's output is the next one's input; no messages
//! run in between, so this is a test input, not a chain's history).

use std::path::Path;

use cid::Cid;

use super::chain::migrate_through;
use super::runner::MigrationOptions;
use super::upgrade::Upgrade;
use crate::chain::default_state_root;
use crate::error::{Error, Result};
use crate::store::{
    export_car, CarSource, CarSourceOptions, DiskStore, DiskStoreOptions, ExportOptions,
    LowerFirst, Overlay,
};

/// Runs `specs` in turn on the state of the CAR `input` and writes the last
/// state to `output` (`.zst`: compressed). Returns each upgrade's root.
pub fn migrate_car_chain(
    input: &Path,
    output: &Path,
    specs: &[Upgrade],
    opts: &MigrationOptions,
) -> Result<Vec<Cid>> {
    let car = CarSource::open(input, CarSourceOptions::default())?;
    let root = default_state_root(&car, car.roots())?;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = tempfile::tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    let disk = DiskStore::open(dir.path().join("store"), DiskStoreOptions::default())?;
    disk.abandon();
    let backing = LowerFirst(Overlay {
        upper: disk.clone(),
        lower: &car,
    });
    let roots = migrate_through(&backing, &root, specs, opts)?;
    let root = *roots.last().unwrap_or(&root);
    export_car(&backing, &[root], output, &ExportOptions::for_path(output))?;
    Ok(roots)
}
