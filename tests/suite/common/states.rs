//! Generated states for tests, in memory.

use cid::Cid;
use fil_migrate::actors::manifest::Network;
use fil_migrate::store::MemStore;
use fil_migrate::store::{BufferOptions, BufferedBlockstore};
use fil_migrate::synth::build::build_state;
use fil_migrate::synth::{default_epoch, GenConfig, MinerSizes};

/// A small but complete state: `miners` miners (every fifth with 64 GiB sectors).
pub fn small_config(network: Network, miners: u64, sectors: u64, seed: u64) -> GenConfig {
    GenConfig {
        network,
        seed,
        epoch: default_epoch(network),
        miners: MinerSizes::Fixed { miners, sectors },
        accounts: 12,
        multisigs: 2,
        evm_contracts: 2,
        eth_accounts: 2,
        empty_miners: 0,
        payment_channels: 0,
        placeholders: 0,
        deals_per_sector: 0,
        mining_reserve: false,
        solstice_contracts: false,
        mixed_vesting: false,
    }
}

/// Generates `cfg` into a fresh memory store; returns it and the state root.
pub fn generate(cfg: &GenConfig) -> (MemStore, Cid) {
    let mem = MemStore::new();
    let root = {
        let buf = BufferedBlockstore::new(
            &mem,
            BufferOptions {
                budget_bytes: 1 << 20,
                ..Default::default()
            },
        );
        let (root, _) = build_state(&buf, cfg).expect("generate");
        buf.flush(&root).expect("flush");
        root
    };
    (mem, root)
}

/// A successor of `state` with 1 % of its sectors changed, and every miner
/// with sectors proving its deadlines (WindowPoSt), in `store`.
pub fn successor(store: &MemStore, state: &Cid, seed: u64) -> Cid {
    use fil_migrate::synth::churn::{churn_state, ChurnConfig};
    let buf = BufferedBlockstore::new(store, BufferOptions::default());
    let (next, _) = churn_state(
        &buf,
        state,
        &ChurnConfig {
            change_fraction: Some(0.01),
            seed,
            window_post: true,
            ..Default::default()
        },
    )
    .expect("churn");
    buf.flush(&next).expect("flush");
    next
}

/// Writes `cfg` as `DIR/s0.car` and, through `fil-migrate gen --from`, its
/// successor with `change_fraction` of the sectors changed as `DIR/s1.car`.
pub fn snapshot_cars(
    dir: &std::path::Path,
    cfg: &GenConfig,
    change_fraction: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (s0, s1) = (dir.join("s0.car"), dir.join("s1.car"));
    fil_migrate::synth::generate_car(&s0, cfg, 64 << 20).expect("generate");
    super::succeed(
        std::process::Command::new(crate::common::bin())
            .args(["gen", "--change-fraction", change_fraction, "--from"])
            .arg(&s0)
            .arg("--out")
            .arg(&s1),
    );
    (s0, s1)
}

/// The `sectors` AMT root of every miner of `state`.
pub fn miner_sectors(input: &MemStore, state: &Cid) -> Vec<Cid> {
    use fil_migrate::actors::state_tree::{get_cbor, ActorState, StateRoot};
    let sr: StateRoot = get_cbor(input, state, "root").expect("state root");
    let mut out = Vec::new();
    fil_migrate::ipld::hamt::for_each_entry(input, &sr.actors, 5, |_, v| {
        let a: ActorState = fvm_ipld_encoding::from_slice(v).expect("actor");
        if let Ok(st) = get_cbor::<_, fil_actor_miner_state::v11::State>(input, &a.head, "m") {
            out.push(st.sectors);
        }
        Ok(())
    })
    .expect("actors");
    out
}
