//! One module per upgrade, holding only what that upgrade changes; the
//! runner, cache, store and report know none of them. An upgrade whose every
//! actor is `code` or `system` (a fix upgrade, a code swap) needs no module,
//! only its spec in `migrations/`.

pub mod nv21;
pub mod nv22;
pub mod nv23;
pub mod nv24;
pub mod nv25;
pub mod nv29;

use fvm_ipld_blockstore::Blockstore;

use super::migrators::code::CodeMigrator;
use super::migrators::system::SystemMigrator;
use super::migrators::{Named, PostMigrator};
use super::spec::{UpgradeSpec, CODE_MIGRATOR, SYSTEM_MIGRATOR};
use crate::error::{Error, Result};

/// Every migrator `spec` names, built once per run (the upgrade's own ones
/// may share what they collect, as nv22's miner and market do).
pub fn migrators_for<'a, B, S>(spec: &UpgradeSpec, store: &S) -> Result<Vec<Named<'a, B>>>
where
    B: Blockstore + Sync + 'a,
    S: Blockstore,
{
    let mut all: Vec<Named<'a, B>> = vec![
        (CODE_MIGRATOR.to_string(), Box::new(CodeMigrator)),
        (SYSTEM_MIGRATOR.to_string(), Box::new(SystemMigrator)),
    ];
    match spec.name.as_str() {
        "nv21" => all.extend(nv21::migrators(store)?),
        "nv22" => all.extend(nv22::migrators(spec, store)?),
        "nv24" => all.extend(nv24::migrators()),
        "nv25" => all.extend(nv25::migrators(store)?),
        "nv29" => all.extend(nv29::migrators()),
        _ => {}
    }
    for name in spec.migrators.values() {
        if !all.iter().any(|(n, _)| n == name) {
            return Err(Error::Invalid(format!(
                "upgrade {}: no migrator named {name:?} is built for it",
                spec.name
            )));
        }
    }
    Ok(all)
}

/// The post-migrators of `spec`, in the order they run.
pub fn post_migrators_for<'a, B>(spec: &UpgradeSpec) -> Vec<Box<dyn PostMigrator<B> + 'a>>
where
    B: Blockstore + Sync + 'a,
{
    match spec.name.as_str() {
        "nv23" => vec![Box::new(nv23::MiningReserve)],
        "nv29" => vec![Box::new(nv29::reward::RewardStreams)],
        _ => Vec::new(),
    }
}
