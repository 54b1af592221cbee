//! merkle.json: Empty, Node, UpdateLeaf, EchoLeaf, roots of 0..=9 entries and multiproofs
//! (spec/key-schedule.md section 10).

use conclave_core::merkle;
use conclave_core::schedule::{labeled_hash, labels, put_vec};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::{file, h, hx, hx32, list, num32, rand_bytes, rand32, spec};

const SEED: u64 = 0x4d4b_0001;

/// UpdateLeaf from the spec formula with the core helpers.
fn update_leaf(node: u32, child: u32, ct: &[u8]) -> [u8; 32] {
    let mut c = Vec::new();
    c.extend_from_slice(&node.to_be_bytes());
    c.extend_from_slice(&child.to_be_bytes());
    put_vec(&mut c, ct);
    labeled_hash(labels::UPDATE_LEAF, &c)
}

/// EchoLeaf from the spec formula with the core helpers.
fn echo_leaf(leaf: u32, nonce: &[u8]) -> [u8; 32] {
    let mut c = Vec::new();
    c.extend_from_slice(&leaf.to_be_bytes());
    put_vec(&mut c, nonce);
    labeled_hash(labels::ECHO_LEAF, &c)
}

/// The nine echo entries whose prefixes form the lists of 0..=9 entries.
fn echo_entries(rng: &mut ChaCha20Rng) -> Vec<(u32, Vec<u8>)> {
    (0..9u32)
        .map(|i| (3 * i + 1, rand_bytes(rng, 24)))
        .collect()
}

const PROOF_SUBSETS: [(usize, &[usize]); 12] = [
    (1, &[0]),
    (2, &[1]),
    (3, &[2]),
    (3, &[0, 2]),
    (5, &[4]),
    (5, &[0]),
    (6, &[1, 4]),
    (8, &[3]),
    (8, &[0, 7]),
    (8, &[0, 1, 2, 3, 4, 5, 6, 7]),
    (9, &[8]),
    (9, &[2, 5, 6]),
];

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let empty = merkle::empty();
    let mut nodes = Vec::new();
    for (l, r) in [
        (empty, empty),
        (rand32(&mut rng), rand32(&mut rng)),
        ([0u8; 32], [0xff; 32]),
    ] {
        nodes.push(json!({"left": h(l), "right": h(r), "hash": h(merkle::node(&l, &r))}));
    }
    let mut updates = Vec::new();
    for (node, child) in [(1u32, 0u32), (1, 2), (3, 5), (16383, 8191)] {
        let ct = rand_bytes(&mut rng, 48);
        updates.push(json!({
            "node": node,
            "child": child,
            "ciphertext": h(&ct),
            "hash": h(update_leaf(node, child, &ct)),
        }));
    }
    let mut echoes = Vec::new();
    for (leaf, nonce) in [
        (0u32, vec![0u8; 24]),
        (7, rand_bytes(&mut rng, 24)),
        (16383, vec![]),
    ] {
        echoes.push(json!({"leaf": leaf, "nonce": h(&nonce), "hash": h(echo_leaf(leaf, &nonce))}));
    }

    let entries = echo_entries(&mut rng);
    let hashes: Vec<[u8; 32]> = entries.iter().map(|(l, n)| echo_leaf(*l, n)).collect();
    let roots: Vec<Value> = (0..=9usize)
        .map(|n| {
            json!({
                "echoes": entries[..n]
                    .iter()
                    .map(|(l, nonce)| json!({"leaf": l, "nonce": h(nonce)}))
                    .collect::<Vec<_>>(),
                "leaves": hashes[..n].iter().map(h).collect::<Vec<_>>(),
                "root": h(merkle::root(&hashes[..n])),
            })
        })
        .collect();
    let proofs: Vec<Value> = PROOF_SUBSETS
        .iter()
        .map(|&(n, idx)| {
            let proof = merkle::prove(&hashes[..n], idx).unwrap();
            json!({
                "leaves": hashes[..n].iter().map(h).collect::<Vec<_>>(),
                "indices": idx,
                "proof": proof.iter().map(h).collect::<Vec<_>>(),
                "root": h(merkle::root(&hashes[..n])),
            })
        })
        .collect();

    file(
        "Conclave v1 Merkle commitments (spec/key-schedule.md section 10): Empty, Node, \
         UpdateLeaf, EchoLeaf, roots of lists of 0 to 9 liveness echoes, and multiproofs.",
        vec![("seed", json!(SEED)), ("empty", h(empty))],
        vec![
            ("node", json!(nodes)),
            ("update_leaf", json!(updates)),
            ("echo_leaf", json!(echoes)),
            ("roots", json!(roots)),
            ("multiproofs", json!(proofs)),
        ],
    )
}

fn hashes(v: &Value, key: &str) -> Vec<[u8; 32]> {
    list(v, key)
        .iter()
        .map(|x| {
            hex::decode(x.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

pub fn verify(v: &Value) {
    let empty = spec::merkle_empty();
    assert_eq!(hx32(v, "empty"), empty);
    assert_eq!(merkle::empty(), empty);
    let cases = &v["cases"];
    for c in list(cases, "node") {
        let (l, r) = (hx32(c, "left"), hx32(c, "right"));
        assert_eq!(hx32(c, "hash"), spec::merkle_node(&l, &r));
        assert_eq!(merkle::node(&l, &r), spec::merkle_node(&l, &r));
    }
    for c in list(cases, "update_leaf") {
        let (n, ch, ct) = (num32(c, "node"), num32(c, "child"), hx(c, "ciphertext"));
        assert_eq!(hx32(c, "hash"), spec::update_leaf(n, ch, &ct));
        assert_eq!(update_leaf(n, ch, &ct), spec::update_leaf(n, ch, &ct));
    }
    for c in list(cases, "echo_leaf") {
        let (l, nonce) = (num32(c, "leaf"), hx(c, "nonce"));
        assert_eq!(hx32(c, "hash"), spec::echo_leaf(l, &nonce));
        assert_eq!(echo_leaf(l, &nonce), spec::echo_leaf(l, &nonce));
    }
    let roots = list(cases, "roots");
    assert_eq!(roots.len(), 10);
    for (n, c) in roots.iter().enumerate() {
        let leaves = hashes(c, "leaves");
        assert_eq!(leaves.len(), n);
        let echoes = list(c, "echoes");
        for (e, leaf) in echoes.iter().zip(&leaves) {
            assert_eq!(spec::echo_leaf(num32(e, "leaf"), &hx(e, "nonce")), *leaf);
        }
        let root = hx32(c, "root");
        assert_eq!(spec::merkle_root(&leaves), root);
        assert_eq!(merkle::root(&leaves), root);
        let all: Vec<usize> = (0..n).collect();
        let entries: Vec<(usize, [u8; 32])> = all.iter().map(|&i| (i, leaves[i])).collect();
        assert_eq!(merkle::compute_root(n, &entries, &[]).unwrap(), root);
        assert_eq!(spec::multiproof_root(n, &entries, &[]), Some(root));
    }
    for c in list(cases, "multiproofs") {
        let leaves = hashes(c, "leaves");
        let n = leaves.len();
        let idx: Vec<usize> = list(c, "indices")
            .iter()
            .map(|i| i.as_u64().unwrap() as usize)
            .collect();
        let proof = hashes(c, "proof");
        let root = hx32(c, "root");
        assert_eq!(spec::merkle_root(&leaves), root);
        assert_eq!(spec::multiproof(&leaves, &idx), proof);
        assert_eq!(merkle::prove(&leaves, &idx).unwrap(), proof);
        let entries: Vec<(usize, [u8; 32])> = idx.iter().map(|&i| (i, leaves[i])).collect();
        assert_eq!(spec::multiproof_root(n, &entries, &proof), Some(root));
        assert_eq!(merkle::compute_root(n, &entries, &proof).unwrap(), root);
        if !proof.is_empty() {
            assert!(merkle::compute_root(n, &entries, &proof[1..]).is_err());
            let mut long = proof.clone();
            long.push(root);
            assert!(merkle::compute_root(n, &entries, &long).is_err());
        }
    }
}
