//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::result_large_err)]

use cid::Cid;
use fil_migrate::ipld::cids::cbor_cid;
use fvm_ipld_blockstore::Blockstore;

/// A DAG-CBOR block `[n, [links…], payload]`; returns (cid, bytes).
pub fn node(n: u64, links: &[Cid], payload_len: usize) -> (Cid, Vec<u8>) {
    let payload = vec![(n % 251) as u8; payload_len];
    let bytes =
        fvm_ipld_encoding::to_vec(&(n, links.to_vec(), fvm_ipld_encoding::BytesSer(&payload)))
            .expect("encode");
    (cbor_cid(&bytes), bytes)
}

/// Every block reachable from `root` in `store` (DAG-CBOR links only); panics on a missing block.
pub fn reachable(store: &impl Blockstore, root: &Cid) -> Vec<Cid> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![*root];
    let mut out = Vec::new();
    while let Some(c) = stack.pop() {
        if !fil_migrate::ipld::cids::is_walkable(&c) || !seen.insert(c) {
            continue;
        }
        let data = store
            .get(&c)
            .expect("get")
            .unwrap_or_else(|| panic!("block {c} missing"));
        out.push(c);
        stack.extend(fil_migrate::ipld::links::links_of(&c, &data).expect("links"));
    }
    out
}

pub mod states;
pub mod store_runs;

/// Runs a command that must succeed; on failure the panic shows its stderr.
pub fn succeed(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `fil-migrate` binary of this build (package `fil-migrate-cli`,
/// which `cargo test --workspace` builds beside this test's executable).
pub fn bin() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let mut dir = std::env::current_exe().expect("the test's own path");
        dir.pop();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let path = dir.join("fil-migrate");
        assert!(
            path.exists(),
            "{} is not built: run the tests with `cargo test --workspace`",
            path.display()
        );
        path.to_string_lossy().into_owned()
    })
}
