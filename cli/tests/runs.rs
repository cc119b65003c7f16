//! The binary runs. Most of the command line's tests are in the library's
//! suite (`tests/suite`), which runs this binary; this test also makes
//! `cargo test --workspace` build it first.

#[test]
fn the_binary_prints_its_commands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fil-migrate"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "migrate",
        "premigrate",
        "gen",
        "bench",
        "car",
        "gc",
        "status",
    ] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}
