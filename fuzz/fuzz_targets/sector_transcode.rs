//! The byte-level v11 → v12 sector transcoder against the typed path: on
//! arbitrary bytes it never panics, and whenever the typed v11 decoder
//! accepts a canonical encoding, the transcoder gives the typed v12 bytes.
#![no_main]

use fil_actor_miner_state::v11::SectorOnChainInfo;
use fil_migrate::actors::sector_v11_v12::{transcode, typed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let ours = transcode(data, &mut out);
    let Ok(info) = fvm_ipld_encoding::from_slice::<SectorOnChainInfo>(data) else {
        return;
    };
    // Only the chain's (canonical) encodings: a non-minimal integer decodes
    // but re-encodes differently, and the transcoder keeps bytes as they are.
    if fvm_ipld_encoding::to_vec(&info).unwrap() != data {
        return;
    }
    let want = typed(data).expect("typed path");
    assert!(ours.is_ok(), "typed decodes, transcoder fails: {ours:?}");
    assert_eq!(out, want);
});
