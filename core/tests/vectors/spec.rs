//! A second, deliberately plain implementation of `spec/key-schedule.md`, written from the spec
//! text with the primitive crates only (no `conclave_core` code), used to re-check the committed
//! vector files independently of the generators.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Section 1: `Label(name)`.
pub fn label(name: &str) -> Vec<u8> {
    let mut l = b"conclave v1 ".to_vec();
    l.extend_from_slice(name.as_bytes());
    assert!(l.len() <= 255);
    l
}

/// Section 1: `LabeledContent(name, content)`.
pub fn labeled_content(name: &str, content: &[u8]) -> Vec<u8> {
    let l = label(name);
    let mut out = vec![l.len() as u8];
    out.extend_from_slice(&l);
    out.extend_from_slice(content);
    out
}

/// Section 1: `vec(b)`.
pub fn vec(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Section 2: `LabeledHash(name, content)`.
pub fn labeled_hash(name: &str, content: &[u8]) -> [u8; 32] {
    sha256(&labeled_content(name, content))
}

/// The HKDF `info` of `ExpandWithLabel`.
pub fn expand_info(name: &str, context: &[u8], len: usize) -> Vec<u8> {
    let l = label(name);
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push(l.len() as u8);
    info.extend_from_slice(&l);
    info.extend_from_slice(&vec(context));
    info
}

/// Section 2: `ExpandWithLabel(secret, name, context, L)`.
pub fn expand_with_label(secret: &[u8], name: &str, context: &[u8], len: usize) -> Vec<u8> {
    let hk = Hkdf::<Sha256>::from_prk(secret).expect("PRK of at least 32 bytes");
    let mut out = vec![0u8; len];
    hk.expand(&expand_info(name, context, len), &mut out)
        .expect("valid length");
    out
}

/// Section 2: `DeriveSecret(secret, name)`.
pub fn derive_secret(secret: &[u8], name: &str) -> Vec<u8> {
    expand_with_label(secret, name, &[], 32)
}

/// Section 6 outputs.
pub struct Epoch {
    pub prk: Vec<u8>,
    pub epoch_secret: Vec<u8>,
    pub frame_secret: Vec<u8>,
    pub confirmation: Vec<u8>,
    pub code_bytes: Vec<u8>,
}

/// Section 6.
pub fn epoch(meeting_id: &[u8], epoch: u64, transcript_hash: &[u8], root_key: &[u8]) -> Epoch {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(transcript_hash), root_key);
    let prk = prk.to_vec();
    let mut ctx = vec(meeting_id);
    ctx.extend_from_slice(&epoch.to_be_bytes());
    let epoch_secret = expand_with_label(&prk, "epoch secret", &ctx, 32);
    Epoch {
        frame_secret: derive_secret(&epoch_secret, "frame"),
        confirmation: expand_with_label(&epoch_secret, "confirmation", transcript_hash, 32),
        code_bytes: expand_with_label(&epoch_secret, "security code", transcript_hash, 48),
        prk,
        epoch_secret,
    }
}

/// Sections 4 and 7: `groups` big-endian integers of `width` bytes, each mod 100000,
/// zero-padded to 5 digits, joined by spaces.
pub fn render_digits(bytes: &[u8], width: usize, groups: usize) -> String {
    assert_eq!(bytes.len(), width * groups);
    bytes
        .chunks(width)
        .map(|c| {
            let v = c.iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
            format!("{:05}", v % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Section 8: (sender_secret, frame_key, frame_salt).
pub fn sender(frame_secret: &[u8], sender: u32, stream: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut ctx = sender.to_be_bytes().to_vec();
    ctx.extend_from_slice(&stream.to_be_bytes());
    let ss = expand_with_label(frame_secret, "sender", &ctx, 32);
    let key = expand_with_label(&ss, "frame key", &[], 32);
    let salt = expand_with_label(&ss, "frame salt", &[], 12);
    (ss, key, salt)
}

/// Section 8: `nonce(ctr)`.
pub fn nonce(salt: &[u8], ctr: u64) -> Vec<u8> {
    let mut pad = vec![0u8; 4];
    pad.extend_from_slice(&ctr.to_be_bytes());
    salt.iter().zip(pad).map(|(a, b)| a ^ b).collect()
}

/// Section 9: `wrap_context`.
pub fn wrap_context(meeting_id: &[u8], epoch: u64, node: u32, child: u32) -> Vec<u8> {
    let mut c = vec(meeting_id);
    c.extend_from_slice(&epoch.to_be_bytes());
    c.extend_from_slice(&node.to_be_bytes());
    c.extend_from_slice(&child.to_be_bytes());
    c
}

/// Section 9: (wrap_key, wrap_nonce, ciphertext).
pub fn wrap(
    child_key: &[u8],
    node_key: &[u8],
    meeting_id: &[u8],
    epoch: u64,
    node: u32,
    child: u32,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ctx = wrap_context(meeting_id, epoch, node, child);
    let ws = expand_with_label(child_key, "node wrap", &ctx, 44);
    let (k, n) = ws.split_at(32);
    let cipher = ChaCha20Poly1305::new(&Key::try_from(k).expect("32-byte key"));
    let ct = cipher
        .encrypt(
            &Nonce::try_from(n).expect("12-byte nonce"),
            Payload {
                msg: node_key,
                aad: &ctx,
            },
        )
        .expect("encrypt");
    (k.to_vec(), n.to_vec(), ct)
}

/// Section 9: `ratchet(key, node)`.
pub fn ratchet(key: &[u8], node: u32) -> Vec<u8> {
    expand_with_label(key, "node ratchet", &node.to_be_bytes(), 32)
}

/// Section 9: `grow(old_root_key, node)`.
pub fn grow(key: &[u8], node: u32) -> Vec<u8> {
    expand_with_label(key, "tree grow", &node.to_be_bytes(), 32)
}

/// Section 9: `derive(child_key, node)` (`tree.md` section 5, step 9).
pub fn derive_node(key: &[u8], node: u32) -> Vec<u8> {
    expand_with_label(key, "node derive", &node.to_be_bytes(), 32)
}

/// Section 10: `UpdateLeaf`.
pub fn update_leaf(node: u32, child: u32, ciphertext: &[u8]) -> [u8; 32] {
    let mut c = node.to_be_bytes().to_vec();
    c.extend_from_slice(&child.to_be_bytes());
    c.extend_from_slice(&vec(ciphertext));
    labeled_hash("update leaf", &c)
}

/// Section 10: `EchoLeaf`.
pub fn echo_leaf(leaf: u32, nonce: &[u8]) -> [u8; 32] {
    let mut c = leaf.to_be_bytes().to_vec();
    c.extend_from_slice(&vec(nonce));
    labeled_hash("echo leaf", &c)
}

/// Section 10: `Empty`.
pub fn merkle_empty() -> [u8; 32] {
    labeled_hash("merkle empty", b"")
}

/// Section 10: `Node(l, r)`.
pub fn merkle_node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut c = l.to_vec();
    c.extend_from_slice(r);
    labeled_hash("merkle node", &c)
}

/// Section 10: the levels of the padded tree, leaves first, root last.
fn merkle_levels(leaves: &[[u8; 32]]) -> Vec<Vec<[u8; 32]>> {
    let mut p = 1;
    while p < leaves.len() {
        p *= 2;
    }
    let mut level = leaves.to_vec();
    level.resize(p, merkle_empty());
    let mut levels = vec![level];
    while levels.last().expect("a level").len() > 1 {
        let prev = levels.last().expect("a level");
        let next = (0..prev.len() / 2)
            .map(|i| merkle_node(&prev[2 * i], &prev[2 * i + 1]))
            .collect();
        levels.push(next);
    }
    levels
}

/// Section 10: the root of a list of leaf hashes.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    merkle_levels(leaves).last().expect("a level")[0]
}

/// Whether node `j` at `level` covers only padding of a list of `n` entries.
fn padding(j: usize, level: usize, n: usize) -> bool {
    (j << level) >= n
}

/// Section 10, "Multiproof": the proof for the (strictly ascending) `indices`.
pub fn multiproof(leaves: &[[u8; 32]], indices: &[usize]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    let levels = merkle_levels(leaves);
    let mut known: Vec<usize> = indices.to_vec();
    let mut proof = Vec::new();
    for (level, hashes) in levels.iter().enumerate().take(levels.len() - 1) {
        for &j in &known {
            let sib = j ^ 1;
            if !known.contains(&sib) && !padding(sib, level, n) {
                proof.push(hashes[sib]);
            }
        }
        known = known.iter().map(|j| j / 2).collect();
        known.dedup();
    }
    proof
}

/// Section 10, "Multiproof", verifier side: the root implied by `entries` and `proof`, or `None`
/// when the proof has too few or unused hashes.
pub fn multiproof_root(
    n: usize,
    entries: &[(usize, [u8; 32])],
    proof: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if n == 0 {
        return (entries.is_empty() && proof.is_empty()).then(merkle_empty);
    }
    let mut p = 1;
    while p < n {
        p *= 2;
    }
    let mut pad = merkle_empty();
    let mut known: Vec<(usize, [u8; 32])> = entries.to_vec();
    let mut proof = proof.iter();
    let mut level = 0;
    while p > 1 {
        // Sibling hashes are taken in ascending order of the known node they complete.
        let mut siblings = Vec::new();
        for &(j, _) in &known {
            let sib = j ^ 1;
            if known.iter().any(|&(k, _)| k == sib) {
                continue;
            }
            let hash = if padding(sib, level, n) {
                pad
            } else {
                *proof.next()?
            };
            siblings.push((sib, hash));
        }
        let mut all = known.clone();
        all.extend(siblings);
        all.sort_by_key(|&(j, _)| j);
        known = all
            .chunks(2)
            .map(|c| (c[0].0 / 2, merkle_node(&c[0].1, &c[1].1)))
            .collect();
        pad = merkle_node(&pad, &pad);
        p /= 2;
        level += 1;
    }
    if proof.next().is_some() {
        return None;
    }
    known.first().map(|&(_, h)| h)
}
