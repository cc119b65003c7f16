//! Streaming construction of a canonical HAMT from entries pushed in
//! ascending key-hash order.
//!
//! Because entries arrive in hash order, the entries of any subtree arrive
//! contiguously, so the builder only keeps the open nodes along the current
//! hash path plus at most 4 entries that share a slot (a 4th entry in a slot
//! turns the would-be bucket into a child node). Finished nodes are written
//! at once; memory is O(depth × width).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;

use super::node::{encode_node, EncodedPointer};
use super::{key_hash, slot_at, MAX_BUCKET};
use crate::error::{Error, Result};
use crate::ipld::amt::patch::SubtreeHook;
use crate::ipld::cids::cbor_cid;

struct Entry {
    hash: [u8; 32],
    key: Vec<u8>,
    value: Vec<u8>,
}

enum Owned {
    Link(Cid),
    Bucket(Vec<Entry>),
}

struct OpenNode {
    /// The slot in the parent that leads here (unused for the root).
    slot_in_parent: usize,
    pointers: Vec<(usize, Owned)>,
}

/// Builds a HAMT from `(key, value item bytes)` in ascending SHA-256(key) order.
pub struct HamtBuilder<'s, S> {
    store: &'s S,
    bit_width: u32,
    open: Vec<OpenNode>,
    pending: Vec<Entry>,
    last_hash: Option<[u8; 32]>,
    count: u64,
    scratch: Vec<u8>,
    hook: Option<SubtreeHook<'s>>,
}

impl<'s, S: Blockstore> HamtBuilder<'s, S> {
    /// A builder writing into `store`.
    pub fn new(store: &'s S, bit_width: u32) -> Result<Self> {
        if !(1..=8).contains(&bit_width) {
            return Err(Error::Usage(format!(
                "HAMT bit width {bit_width} outside 1..=8"
            )));
        }
        Ok(HamtBuilder {
            store,
            bit_width,
            open: vec![OpenNode {
                slot_in_parent: 0,
                pointers: Vec::new(),
            }],
            pending: Vec::new(),
            last_hash: None,
            count: 0,
            scratch: Vec::with_capacity(4096),
            hook: None,
        })
    }

    /// Installs a hook called with the CID of every finished non-root node
    /// (so a caller can flush it out of a write buffer).
    pub fn with_subtree_hook(mut self, hook: SubtreeHook<'s>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Entries pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds an entry; its key's hash must be greater than every previous one's.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let hash = key_hash(key);
        if let Some(last) = self.last_hash {
            if hash <= last {
                return Err(Error::Usage(format!(
                    "HAMT builder needs entries in ascending key-hash order (key {} out of order or duplicated)",
                    hex(key)
                )));
            }
        }
        self.last_hash = Some(hash);
        self.count += 1;
        let e = Entry {
            hash,
            key: key.to_vec(),
            value: value.to_vec(),
        };
        // Close open nodes that `e` is not under.
        while self.open.len() > 1 && !self.belongs(&e.hash, self.open.len() - 1)? {
            self.close_deepest()?;
        }
        self.insert(e)
    }

    /// Whether `hash` lies under the open node at `depth`.
    fn belongs(&self, hash: &[u8; 32], depth: usize) -> Result<bool> {
        for d in 1..=depth {
            if self.slot(hash, d - 1)? != self.open[d].slot_in_parent {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn slot(&self, hash: &[u8; 32], depth: usize) -> Result<usize> {
        slot_at(hash, depth as u32, self.bit_width)
            .ok_or_else(|| Error::Usage("HAMT deeper than the key hash (colliding hashes)".into()))
    }

    /// Inserts into the deepest open node, which `e` lies under.
    fn insert(&mut self, e: Entry) -> Result<()> {
        let depth = self.open.len() - 1;
        let s = self.slot(&e.hash, depth)?;
        let same_slot = match self.pending.first() {
            Some(p) => self.slot(&p.hash, depth)? == s,
            None => false,
        };
        if !same_slot {
            self.place_pending()?;
            self.pending.push(e);
            return Ok(());
        }
        self.pending.push(e);
        if self.pending.len() > MAX_BUCKET {
            // Too many for a bucket: the slot becomes a child node.
            let group = std::mem::take(&mut self.pending);
            self.open.push(OpenNode {
                slot_in_parent: s,
                pointers: Vec::new(),
            });
            for e in group {
                self.insert(e)?;
            }
        }
        Ok(())
    }

    /// Puts the pending entries into the deepest open node as a bucket.
    fn place_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let depth = self.open.len() - 1;
        let mut bucket = std::mem::take(&mut self.pending);
        let s = self.slot(&bucket[0].hash, depth)?;
        bucket.sort_by(|a, b| a.key.cmp(&b.key));
        self.open[depth].pointers.push((s, Owned::Bucket(bucket)));
        Ok(())
    }

    fn encode(&mut self, node: &OpenNode) -> Cid {
        let ptrs: Vec<(usize, EncodedPointer<'_>)> = node
            .pointers
            .iter()
            .map(|(s, p)| {
                let ep = match p {
                    Owned::Link(c) => EncodedPointer::Link(*c),
                    Owned::Bucket(es) => EncodedPointer::Bucket(
                        es.iter().map(|e| (&e.key[..], &e.value[..])).collect(),
                    ),
                };
                (*s, ep)
            })
            .collect();
        self.scratch.clear();
        encode_node(&mut self.scratch, &ptrs);
        cbor_cid(&self.scratch)
    }

    fn close_deepest(&mut self) -> Result<()> {
        self.place_pending()?;
        let node = self.open.pop().expect("a non-root node is open");
        let cid = self.encode(&node);
        self.store
            .put_keyed(&cid, &self.scratch)
            .map_err(Error::from_blockstore)?;
        let parent = self.open.last_mut().expect("root stays open");
        parent
            .pointers
            .push((node.slot_in_parent, Owned::Link(cid)));
        Ok(())
    }

    /// Writes the remaining nodes and the root; returns the root CID.
    pub fn finish(mut self) -> Result<Cid> {
        while self.open.len() > 1 {
            self.close_deepest()?;
        }
        self.place_pending()?;
        let root = self.open.pop().expect("root");
        let cid = self.encode(&root);
        self.store
            .put_keyed(&cid, &self.scratch)
            .map_err(Error::from_blockstore)?;
        Ok(cid)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
