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
        let built = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| panic!("{} is not built: run `cargo test` at the workspace root", path.display()));
        // `cargo test --test suite` builds this package only: a binary
        // older than a source would test the code before the change.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["src", "cli/src"] {
            if let Some(newer) = newer_source(&root.join(dir), built) {
                panic!(
                    "{} is older than {}: build it first (`cargo build -p fil-migrate-cli`, or run `cargo test` at the workspace root)",
                    path.display(),
                    newer.display()
                );
            }
        }
        path.to_string_lossy().into_owned()
    })
}

/// A source file under `dir` modified after `than`, if any.
fn newer_source(dir: &std::path::Path, than: std::time::SystemTime) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(n) = newer_source(&p, than) {
                return Some(n);
            }
        } else if e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > than)
        {
            return Some(p);
        }
    }
    None
}
