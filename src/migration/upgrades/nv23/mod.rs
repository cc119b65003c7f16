//! nv23 Waffle (actors v13 → v14, FIP-0085; docs/upgrades/nv23.md): a code swap for
//! every actor, then, on the output tree, the mining reserve f090 becomes
//! an account if it is a multisig (head `[f090]`, nonce and balance kept, no
//! delegated address). Forest does this as a post-migrator; so do we.

pub(crate) mod reference;

use cid::Cid;

use crate::actors::state_tree::{put_cbor, ActorState};
use crate::error::{Error, Result};
use crate::ipld::hamt::{get_value, replace_value, DEFAULT_BIT_WIDTH};
use crate::migration::context::MigrationCtx;
use crate::migration::migrators::PostMigrator;
use crate::migration::upgrade::UpgradeDef;

/// nv23 Waffle: every actor's code swapped, then f090 by a post-migrator.
pub static UPGRADE: UpgradeDef = UpgradeDef {
    name: "nv23",
    spec_text: include_str!("spec.toml"),
    migrators: |_, _| Ok(Vec::new()),
    post_migrators: || vec![Box::new(MiningReserve)],
    reference: |store, root, spec| reference::reference(store, root, spec),
    output_check: None,
};

/// The mining reserve's actor ID.
pub const MINING_RESERVE: u64 = 90;

/// f090: multisig → account.
pub struct MiningReserve;

impl PostMigrator for MiningReserve {
    fn apply(&self, ctx: &MigrationCtx<'_>, _input: &Cid, output: Cid) -> Result<Cid> {
        let address = fvm_shared3::address::Address::new_id(MINING_RESERVE);
        let key = address.to_bytes();
        let value = get_value(ctx.store, &output, DEFAULT_BIT_WIDTH, &key)?.ok_or_else(|| {
            Error::WrongState(format!(
                "{}: the state has no mining reserve actor (f0{MINING_RESERVE})",
                ctx.spec.name
            ))
        })?;
        let mut actor: ActorState =
            fvm_ipld_encoding::from_slice(&value).map_err(|e| Error::Malformed {
                what: "actor f090",
                cid: output,
                reason: e.to_string(),
            })?;
        let code = |name: &str| {
            ctx.spec
                .new_manifest
                .code_of(name)
                .ok_or_else(|| Error::Spec {
                    upgrade: ctx.spec.name.clone(),
                    reason: format!("no {name} in the new manifest"),
                })
        };
        if actor.code != code("multisig")? {
            return Ok(output);
        }
        actor.code = code("account")?;
        actor.head = put_cbor(ctx.store, &fil_actor_account_state::v11::State { address })?;
        actor.delegated_address = None;
        let bytes = fvm_ipld_encoding::to_vec(&actor).map_err(|e| Error::Encode {
            what: "actor f090",
            reason: e.to_string(),
        })?;
        Ok(
            replace_value(ctx.store, &output, DEFAULT_BIT_WIDTH, &key, &bytes)?
                .expect("the key was just read"),
        )
    }
}
