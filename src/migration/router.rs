//! Which migrator and which new code each actor gets, looked up by its old
//! code CID once per actor (a linear manifest search and a name-keyed map
//! per actor cost more than the code-only migration itself).

use cid::Cid;
use rustc_hash::FxHashMap;

use super::spec::{UpgradeSpec, CODE_MIGRATOR};
use crate::error::{Error, Result};

/// What an actor of one old code becomes.
#[derive(Debug, Clone)]
pub struct Route {
    /// Manifest name in the old manifest.
    pub name: String,
    /// Its migrator: an index into the run's migrators.
    pub migrator: usize,
    /// The migrator is `code`: same head (the runner's fast path).
    pub code_only: bool,
    /// Code CID in the new manifest.
    pub new_code: Cid,
}

/// Old code CID → route, for every actor of the old manifest.
#[derive(Debug, Clone)]
pub struct Router {
    routes: FxHashMap<Cid, Route>,
}

impl Router {
    /// Routes every actor of `spec`'s old manifest: a name without a
    /// migrator, or without code in the new manifest, is an incomplete
    /// specification and an error (never a warning).
    /// `names` are the run's migrators, in index order.
    pub fn new(spec: &UpgradeSpec, names: &[&str]) -> Result<Self> {
        let mut routes = FxHashMap::default();
        for (name, code) in &spec.old_manifest.entries {
            let kind = spec
                .migrators
                .get(name)
                .ok_or_else(|| spec_error(spec, format!("no migrator for {name}")))?;
            let migrator = names
                .iter()
                .position(|n| n == kind)
                .ok_or_else(|| spec_error(spec, format!("migrator {kind:?} is not built")))?;
            let new_code = spec.new_manifest.code_of(name).ok_or_else(|| {
                spec_error(
                    spec,
                    format!(
                        "no actors v{} code for {name}",
                        spec.new_manifest.actors_version
                    ),
                )
            })?;
            routes.insert(
                *code,
                Route {
                    name: name.clone(),
                    migrator,
                    code_only: kind == CODE_MIGRATOR,
                    new_code,
                },
            );
        }
        Ok(Router { routes })
    }

    /// The route of an old code CID.
    pub fn route(&self, code: &Cid) -> Option<&Route> {
        self.routes.get(code)
    }
}

fn spec_error(spec: &UpgradeSpec, reason: String) -> Error {
    Error::Spec {
        upgrade: spec.name.clone(),
        reason,
    }
}
