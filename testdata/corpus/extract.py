#!/usr/bin/env python3
"""Extracts real mainnet actor-state blocks from the Filecoin test-vector
corpus (filecoin-project/fvm-test-vectors, corpus/extracted/) into one
small CARv1 for the tests: testdata/corpus/mainnet-v9-v10-states.car.

Each vector carries, gzipped in base64, the blocks its message touched
(state trees before and after). This walks every pre- and post-state's
actors HAMT over the blocks present, picks the init, market, power and
miner actors by their code CIDs (from the published bundle manifests),
and keeps each picked head with every block reachable from it that the
vector holds (a partial DAG: only what the message read or wrote). The
CAR's single root is an index block, a DAG-CBOR list of
[kind, vector id, epoch, actor id, head CID, state-tree version].

Usage: extract.py CORPUS_REPO_DIR MANIFESTS_JSON OUT.car
Standard library only.
"""
import base64, gzip, hashlib, json, os, subprocess, sys

def b32cid(s):
    assert s[0] == 'b'
    t = s[1:].upper()
    return base64.b32decode(t + '=' * (-len(t) % 8))

def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1
        x |= (c & 0x7f) << s; s += 7
        if c < 0x80: return x, i

def enc_uvarint(x):
    out = bytearray()
    while True:
        c = x & 0x7f; x >>= 7
        if x: out.append(c | 0x80)
        else: out.append(c); return bytes(out)

class Tag:
    def __init__(self, t, v): self.t, self.v = t, v

def dec(b, i=0):
    ib = b[i]; i += 1
    mt, ai = ib >> 5, ib & 31
    if ai < 24: v = ai
    elif ai == 24: v = b[i]; i += 1
    elif ai == 25: v = int.from_bytes(b[i:i+2], 'big'); i += 2
    elif ai == 26: v = int.from_bytes(b[i:i+4], 'big'); i += 4
    elif ai == 27: v = int.from_bytes(b[i:i+8], 'big'); i += 8
    else: raise ValueError('indefinite length')
    if mt == 0: return v, i
    if mt == 1: return -1 - v, i
    if mt == 2: return bytes(b[i:i+v]), i + v
    if mt == 3: return b[i:i+v].decode(), i + v
    if mt == 4:
        out = []
        for _ in range(v):
            x, i = dec(b, i); out.append(x)
        return out, i
    if mt == 5:
        out = []
        for _ in range(v):
            k, i = dec(b, i); x, i = dec(b, i); out.append((k, x))
        return out, i
    if mt == 6:
        x, i = dec(b, i)
        return Tag(v, x), i
    if mt == 7:
        return {20: False, 21: True, 22: None}.get(v, v), i

def head(mt, v):
    if v < 24: return bytes([mt << 5 | v])
    if v < 256: return bytes([mt << 5 | 24, v])
    if v < 65536: return bytes([mt << 5 | 25]) + v.to_bytes(2, 'big')
    if v < 2**32: return bytes([mt << 5 | 26]) + v.to_bytes(4, 'big')
    return bytes([mt << 5 | 27]) + v.to_bytes(8, 'big')

def enc(x):
    if isinstance(x, bool): return b'\xf5' if x else b'\xf4'
    if isinstance(x, int): return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, str): b = x.encode(); return head(3, len(b)) + b
    if isinstance(x, bytes): return head(2, len(x)) + x
    if isinstance(x, list): return head(4, len(x)) + b''.join(enc(e) for e in x)
    if isinstance(x, Tag): return head(6, x.t) + enc(x.v)
    raise TypeError(x)

def cid_of(x):
    """The CID bytes of a tag-42 link."""
    return x.v[1:] if isinstance(x, Tag) and x.t == 42 else None

def cbor_cid(data):
    return b'\x01\x71\xa0\xe4\x02\x20' + hashlib.blake2b(data, digest_size=32).digest()

def parse_car(b):
    n, i = uvarint(b, 0)
    i += n
    blocks = {}
    while i < len(b):
        n, i = uvarint(b, i)
        sec = b[i:i+n]; i += n
        # CIDv1: version, codec, multihash code, digest length, digest.
        _, j = uvarint(sec, 0); _, j = uvarint(sec, j); _, j = uvarint(sec, j)
        dl, j = uvarint(sec, j)
        blocks[bytes(sec[:j+dl])] = bytes(sec[j+dl:])
    return blocks

def links(x, out):
    c = cid_of(x)
    if c is not None: out.append(c); return
    if isinstance(x, list):
        for e in x: links(e, out)
    elif isinstance(x, tuple):
        for e in x: links(e, out)
    elif isinstance(x, Tag):
        links(x.v, out)

def hamt_entries(blocks, root):
    """Every (key, value) of the HAMT nodes present under `root`."""
    stack, out = [root], []
    while stack:
        c = stack.pop()
        if c not in blocks: continue
        node, _ = dec(blocks[c])
        for p in node[1]:
            pc = cid_of(p)
            if pc is not None: stack.append(pc)
            else: out.extend((kv[0], kv[1]) for kv in p)
    return out

def reachable(blocks, root):
    seen, stack = [], [root]
    got = set()
    while stack:
        c = stack.pop()
        if c in got or c not in blocks or c[1] != 0x71: continue
        got.add(c); seen.append(c)
        x, _ = dec(blocks[c]); ls = []
        links(x, ls); stack.extend(ls)
    return seen

KINDS = {'init': 'init', 'storagemarket': 'market', 'storagepower': 'power',
         'storageminer': 'miner'}
# States kept per kind and actors version, and the most bytes one may bring.
LIMIT = {'init': 2, 'market': 2, 'power': 1, 'miner': 4}
BUDGET = {'init': 64 << 10, 'market': 400 << 10, 'power': 16 << 10, 'miner': 160 << 10}

def richness(c):
    """How many of a state's top-level links the vector holds (a market
    with its deal states and proposals, a miner with its sectors)."""
    st, _ = dec(c[8][c[5]])
    return sum(1 for x in (st if isinstance(st, list) else []) if cid_of(x) in c[8])

def main(repo, manifests, out):
    codes = {}
    for b in json.load(open(manifests))['bundles']:
        if b['network'] == 'mainnet' and b['actors_version'] in (9, 10):
            for name, c in b['entries']:
                codes[b32cid(c)] = (name, b['actors_version'])
    files = subprocess.run(['git', '-C', repo, 'ls-tree', '-r', '--name-only', 'HEAD',
                            'corpus/extracted'], capture_output=True, text=True,
                           check=True).stdout.split()
    cands = []  # (kind, actors version, vector, epoch, actor, head, tree version, dag, blocks)
    seen_heads = set()
    for f in sorted(files):
        if not f.endswith('.json'): continue
        d = json.loads(subprocess.run(['git', '-C', repo, 'show', 'HEAD:' + f],
                                      capture_output=True, check=True).stdout)
        blocks = parse_car(gzip.decompress(base64.b64decode(d['car'])))
        vid = d['_meta']['id']
        epoch = d['preconditions']['variants'][0]['epoch']
        for side in ('preconditions', 'postconditions'):
            sr = b32cid(d[side]['state_tree']['root_cid']['/'])
            if sr not in blocks: continue
            root, _ = dec(blocks[sr])
            version, actors = root[0], cid_of(root[1])
            for k, v in hamt_entries(blocks, actors):
                code, hd = cid_of(v[0]), cid_of(v[1])
                name, av = codes.get(code, (None, None))
                kind = KINDS.get(name)
                if kind is None or hd in seen_heads or hd not in blocks: continue
                if kind == 'miner':
                    # A miner is worth keeping with its deadlines present.
                    st, _ = dec(blocks[hd])
                    if cid_of(st[12]) not in blocks: continue
                assert k[0] == 0
                actor, _ = uvarint(k, 1)
                seen_heads.add(hd)
                dag = reachable(blocks, hd)
                cands.append((kind, av, vid, epoch, actor, hd, version, dag,
                               {c: blocks[c] for c in dag}))
    # Per kind and actors version: the states with the most blocks present
    # (the market of a PublishStorageDeals holds deal proposals and
    # states), within a byte budget per state.
    picked, keep = [], {}
    for kind in ('init', 'market', 'power', 'miner'):
        for av in (9, 10):
            group = [c for c in cands if c[0] == kind and c[1] == av]
            group = [c for c in group if sum(map(len, c[8].values())) <= BUDGET[kind]]
            # Half the states whose top-level links are all present (a
            # miner just created: a whole DAG, which migrates), half the
            # largest (a miner with partitions and sectors, a market with
            # deal states); distinct actors first.
            by_rich = sorted(group, key=lambda c: (-richness(c), -len(c[7]), c[2], c[4]))
            by_size = sorted(group, key=lambda c: (-len(c[7]), c[2], c[4]))
            chosen, actors = [], set()
            for order, n in ((by_rich, (LIMIT[kind] + 1) // 2), (by_size, LIMIT[kind])):
                for c in order:
                    if len(chosen) >= n: break
                    if c[4] not in actors or kind != 'miner':
                        if c not in chosen:
                            chosen.append(c); actors.add(c[4])
            for c in chosen:
                picked.append([kind, c[2], c[3], c[4], Tag(42, b'\x00' + c[5]), c[6], av])
                keep.update(c[8])
    count = {k: sum(1 for p in picked if p[0] == k) for k in LIMIT}
    index = enc(picked)
    icid = cbor_cid(index)
    header = head(5, 2) + enc('roots') + enc([Tag(42, b'\x00' + icid)]) + enc('version') + enc(1)
    with open(out, 'wb') as w:
        w.write(enc_uvarint(len(header)) + header)
        for c, data in [(icid, index)] + sorted(keep.items()):
            w.write(enc_uvarint(len(c) + len(data)) + c + data)
    print(f'{len(picked)} actor states, {len(keep) + 1} blocks, {os.path.getsize(out)} bytes: {count}')

if __name__ == '__main__':
    main(*sys.argv[1:])
