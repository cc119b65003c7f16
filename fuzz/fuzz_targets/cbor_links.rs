//! The DAG-CBOR scanner on arbitrary bytes: the link scan and the skipper
//! either succeed or return an error, never panic; when the bytes are one
//! canonical DAG-CBOR item (`serde_ipld_dagcbor` decodes them and encodes
//! the result back to the same bytes), our scan finds exactly its links.
#![no_main]

use fil_migrate::ipld::cbor::Cursor;
use fil_migrate::ipld::cids::cbor_cid;
use fil_migrate::ipld::links::links_of;
use ipld_core::ipld::Ipld;
use libfuzzer_sys::fuzz_target;

fn collect(ipld: &Ipld, out: &mut Vec<cid::Cid>) {
    match ipld {
        Ipld::Link(c) => out.push(*c),
        Ipld::List(l) => l.iter().for_each(|i| collect(i, out)),
        Ipld::Map(m) => m.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let cid = cbor_cid(data);
    let ours = links_of(&cid, data);
    let mut cursor = Cursor::new(data);
    let skipped = cursor.skip().map(|r| r.end == data.len());
    let canonical = serde_ipld_dagcbor::from_slice::<Ipld>(data)
        .ok()
        .filter(|ipld| serde_ipld_dagcbor::to_vec(ipld).ok().as_deref() == Some(data));
    if let Some(ipld) = canonical {
        let mut theirs = Vec::new();
        collect(&ipld, &mut theirs);
        let mut ours = ours.expect("valid DAG-CBOR must scan");
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "links differ");
        assert_eq!(skipped.ok(), Some(true), "skip must cover the whole item");
    }
});
