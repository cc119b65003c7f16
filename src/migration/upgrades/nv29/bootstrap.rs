//! The FIP-0118 reward bootstrap parameters per network (Forest 0.39
//! `SolsticeRewardBootstrapParams::for_chain`, docs/upgrades/nv29.md), and the
//! resolution of their Ethereum addresses to actor IDs through an init
//! actor's address map.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_shared4::address::Address;

use crate::actors::manifest::Network;
use crate::error::{Error, Result};
use crate::ipld::cbor::Cursor;
use crate::ipld::hamt::{get_value, DEFAULT_BIT_WIDTH};

/// Weights are fractions of this.
pub const DENOM: u64 = 1_000_000_000_000_000_000;
/// One percent of [`DENOM`].
pub const PERCENT: u64 = DENOM / 100;
/// The burnt-funds actor, which may be none of the bootstrap's addresses.
pub const BURNT_FUNDS: u64 = 99;
/// The EAM's namespace for f410 addresses.
const EAM_NAMESPACE: u64 = 10;

/// The published SWA (stream-writer authority) contract.
pub const SWA: &str = "0x66C11A9F6dfEC3c1557958cF9f575a023EB01421";
/// The published SRA (service-reward authority) contract.
pub const SRA: &str = "0x0339f205314C8210AF7Cb075d1A96D012e7896a9";
/// The published initial orchestrator contract.
pub const ORCHESTRATOR: &str = "0x97A90f5696be5E3C8d3752C92Adac287c2b4484e";

/// One network's bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapParams {
    /// Epochs an SWA write waits before it applies.
    pub swa_timelock_epochs: i64,
    /// Epochs over which the consensus weight ramps from 95% to 50%.
    pub ramp_duration_epochs: i64,
    /// The SWA contract's Ethereum address.
    pub swa: [u8; 20],
    /// The SRA contract's Ethereum address (writer of the service stream).
    pub sra: [u8; 20],
    /// The initial orchestrator (the service stream's one recipient).
    pub orchestrator: [u8; 20],
}

impl BootstrapParams {
    /// The published parameters for `network`.
    pub fn for_network(network: Network) -> Self {
        let (swa_timelock_epochs, ramp_duration_epochs) = match network {
            // 7 days; 9 × 262,974 epochs.
            Network::Mainnet => (7 * 2880, 9 * 262_974),
            // 6 hours; 9 days.
            Network::Calibnet => (6 * 120, 9 * 2880),
        };
        BootstrapParams {
            swa_timelock_epochs,
            ramp_duration_epochs,
            swa: eth_address(SWA),
            sra: eth_address(SRA),
            orchestrator: eth_address(ORCHESTRATOR),
        }
    }

    /// The per-epoch weight change: ⌈(95% − 50%) · DENOM / ramp⌉.
    pub fn slope(&self) -> i64 {
        let num = 45 * PERCENT as u128;
        let d = self.ramp_duration_epochs as u128;
        num.div_ceil(d) as i64
    }
}

/// Parses a published `0x…` address (they are constants of this build).
fn eth_address(hex: &str) -> [u8; 20] {
    let digits = hex.trim_start_matches("0x");
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("a published address");
    }
    out
}

/// `0x…` for an Ethereum address.
pub fn eth_hex(a: &[u8; 20]) -> String {
    let mut s = String::from("0x");
    for b in a {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The Filecoin address of an Ethereum one: an ID address if it is a
/// masked ID (`0xff`, eleven zero bytes, the ID), else its f410 address.
pub fn filecoin_address(eth: &[u8; 20]) -> Address {
    if eth[0] == 0xff && eth[1..12].iter().all(|b| *b == 0) {
        let mut id = [0u8; 8];
        id.copy_from_slice(&eth[12..]);
        return Address::new_id(u64::from_be_bytes(id));
    }
    Address::new_delegated(EAM_NAMESPACE, eth).expect("a 20-byte subaddress")
}

/// The address map of the init actor state `init`
/// (`[address_map, next_id, network_name]`).
pub fn address_map<S: Blockstore>(store: &S, init: &Cid) -> Result<Cid> {
    let head = crate::ipld::load_block(store, init, None)?;
    let fields = crate::actors::tuple::elements(&head, 3, "init state", init)?;
    crate::actors::tuple::cid_at(&head, &fields[0], "init address_map", init)
}

/// The actor ID `eth` resolves to through the init actor's address `map`;
/// `what` names the role in the error.
pub fn resolve<S: Blockstore>(store: &S, map: &Cid, eth: &[u8; 20], what: &str) -> Result<u64> {
    let address = filecoin_address(eth);
    if let Ok(id) = address.id() {
        return Ok(id);
    }
    let map = *map;
    let value =
        get_value(store, &map, DEFAULT_BIT_WIDTH, &address.to_bytes())?.ok_or_else(|| {
            Error::WrongState(format!(
                "nv29: the {what} {} ({address}) is not in the init actor's address map {map}: \
             the reward bootstrap needs it deployed before Solstice",
                eth_hex(eth)
            ))
        })?;
    Cursor::new(&value).uint().map_err(|e| Error::Cbor {
        cid: map,
        offset: e.offset,
        reason: format!("init address map entry of {address}: {}", e.reason),
    })
}
