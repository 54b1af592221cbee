//! identity.json: identity keys, fingerprints, signatures over LabeledContent, and encodings a
//! verifier must reject.

use conclave_core::schedule::{labeled_content, labels};
use conclave_core::{IdentityKey, PublicIdentity};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::{file, h, hx, hx32, list, rand_bytes, rand32, spec, text};

const SEED: u64 = 0x4944_0001;

/// The signature labels of spec/key-schedule.md section 3, as the `&'static str` that
/// `PublicIdentity::verify` takes.
pub const SIGNATURE_LABELS: [&str; 9] = [
    labels::ANNOUNCEMENT,
    labels::COMMIT,
    labels::GROUP_INFO,
    labels::WELCOME,
    labels::HEARTBEAT,
    labels::LEAVE,
    labels::RESYNC_REQUEST,
    labels::LIVENESS,
    labels::FAILOVER_VOTE,
];

/// Maps a label read from a file to the static label constant.
pub fn static_label(label: &str) -> &'static str {
    SIGNATURE_LABELS
        .iter()
        .find(|l| **l == label)
        .copied()
        .unwrap_or_else(|| panic!("unknown signature label {label:?}"))
}

/// The group order n of P-256.
const ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550";

/// `(r, n - s)`: the high-S twin of a low-S signature.
fn high_s_twin(sig: &[u8; 64]) -> [u8; 64] {
    let parsed = Signature::from_slice(sig).unwrap();
    let high = Signature::from_scalars(parsed.r().to_bytes(), (-*parsed.s()).to_bytes()).unwrap();
    let mut out = [0u8; 64];
    out.copy_from_slice(&high.to_bytes());
    out
}

/// Big-endian comparison `a <= b` of equal-length byte strings.
fn be_le(a: &[u8], b: &[u8]) -> bool {
    a <= b
}

/// `floor(n / 2)` as 32 big-endian bytes.
fn half_order() -> Vec<u8> {
    let n = hex::decode(ORDER).unwrap();
    let mut out = vec![0u8; 32];
    let mut carry = 0u8;
    for (i, b) in n.iter().enumerate() {
        out[i] = (carry << 7) | (b >> 1);
        carry = b & 1;
    }
    out
}

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut one = [0u8; 32];
    one[31] = 1;
    let n_minus_1: [u8; 32] = {
        let mut n = hex::decode(ORDER).unwrap();
        n[31] -= 1;
        n.try_into().unwrap()
    };
    let scalars = [one, n_minus_1, rand32(&mut rng), rand32(&mut rng)];
    let key_cases: Vec<Value> = scalars
        .iter()
        .map(|s| {
            let k = IdentityKey::from_secret_bytes(s).unwrap();
            json!({
                "secret_key": h(s),
                "public_key": h(k.public().as_bytes()),
                "fingerprint": h(k.public().fingerprint()),
                "fingerprint_rendered": k.public().fingerprint_string(),
            })
        })
        .collect();

    let signer = IdentityKey::from_secret_bytes(&scalars[2]).unwrap();
    let mut sig_cases = Vec::new();
    let mut contents: Vec<(&str, Vec<u8>)> = SIGNATURE_LABELS
        .iter()
        .map(|l| (*l, format!("{l} content").into_bytes()))
        .collect();
    contents.push((labels::COMMIT, vec![]));
    contents.push((labels::HEARTBEAT, rand_bytes(&mut rng, 300)));
    for (label, content) in &contents {
        let sig = signer.sign(label, content);
        sig_cases.push(json!({
            "secret_key": h(scalars[2]),
            "public_key": h(signer.public().as_bytes()),
            "label": label,
            "content": h(content),
            "labeled_content": h(labeled_content(label, content)),
            "signature": h(sig),
        }));
    }

    // Signatures that verifiers MUST reject.
    let pk = signer.public().as_bytes();
    let sig = signer.sign(labels::COMMIT, b"commit content");
    let mut flipped = sig;
    flipped[40] ^= 0x01;
    let mut zero_r = sig;
    zero_r[..32].fill(0);
    let mut s_is_n = sig;
    s_is_n[32..].copy_from_slice(&hex::decode(ORDER).unwrap());
    let rejected: Vec<(&str, &str, Vec<u8>, Vec<u8>)> = vec![
        (
            "high S: (r, n - s) of the valid signature of the same content",
            labels::COMMIT,
            b"commit content".to_vec(),
            high_s_twin(&sig).to_vec(),
        ),
        (
            "valid signature under the label \"commit\", verified under \"heartbeat\"",
            labels::HEARTBEAT,
            b"commit content".to_vec(),
            sig.to_vec(),
        ),
        (
            "content changed",
            labels::COMMIT,
            b"commit content!".to_vec(),
            sig.to_vec(),
        ),
        (
            "one bit of s flipped",
            labels::COMMIT,
            b"commit content".to_vec(),
            flipped.to_vec(),
        ),
        (
            "r = 0",
            labels::COMMIT,
            b"commit content".to_vec(),
            zero_r.to_vec(),
        ),
        (
            "s = n",
            labels::COMMIT,
            b"commit content".to_vec(),
            s_is_n.to_vec(),
        ),
        (
            "63 bytes",
            labels::COMMIT,
            b"commit content".to_vec(),
            sig[..63].to_vec(),
        ),
        (
            "DER-style 65 bytes (r || s || 0x00)",
            labels::COMMIT,
            b"commit content".to_vec(),
            [sig.as_slice(), &[0]].concat(),
        ),
    ];
    let rejected_cases: Vec<Value> = rejected
        .into_iter()
        .map(|(reason, label, content, signature)| {
            json!({
                "reason": reason,
                "public_key": h(pk),
                "label": label,
                "content": h(content),
                "signature": h(signature),
            })
        })
        .collect();

    let mut compressed = vec![0x02 | (pk[64] & 1)];
    compressed.extend_from_slice(&pk[1..33]);
    let mut off_curve = *pk;
    off_curve[64] ^= 0x01;
    let mut hybrid = *pk;
    hybrid[0] = 0x06 | (pk[64] & 1);
    let mut x_is_p = vec![0x04];
    x_is_p.extend(
        hex::decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").unwrap(),
    );
    x_is_p.extend_from_slice(&pk[33..]);
    let bad_keys: Vec<(&str, Vec<u8>)> = vec![
        ("compressed SEC1 encoding (33 bytes)", compressed),
        (
            "point not on the curve (last byte of y changed)",
            off_curve.to_vec(),
        ),
        ("hybrid SEC1 tag 0x06/0x07", hybrid.to_vec()),
        ("point at infinity (0x00)", vec![0x00]),
        ("65 zero bytes", vec![0u8; 65]),
        ("x = p (coordinate out of range)", x_is_p),
        ("64 bytes without the 0x04 tag", pk[1..].to_vec()),
    ];
    let bad_key_cases: Vec<Value> = bad_keys
        .into_iter()
        .map(|(reason, k)| json!({"reason": reason, "public_key": h(k)}))
        .collect();

    file(
        "Conclave v1 identity keys (spec/key-schedule.md sections 3 and 4): P-256 secret scalar \
         -> SEC1 uncompressed public key and fingerprint; deterministic (RFC 6979) low-S ECDSA \
         P-256/SHA-256 signatures over LabeledContent(label, content) as r || s; signatures and \
         public keys a verifier must reject.",
        vec![("seed", json!(SEED))],
        vec![
            ("keys", json!(key_cases)),
            ("signatures", json!(sig_cases)),
            ("rejected_signatures", json!(rejected_cases)),
            ("rejected_public_keys", json!(bad_key_cases)),
        ],
    )
}

pub fn verify(v: &Value) {
    let cases = &v["cases"];
    for c in list(cases, "keys") {
        let k = IdentityKey::from_secret_bytes(&hx(c, "secret_key")).unwrap();
        let pk = hx(c, "public_key");
        assert_eq!(k.public().as_bytes()[..], pk[..]);
        // Independently: the p256 crate's public key of the scalar, SEC1 uncompressed.
        let sk = p256::SecretKey::from_slice(&hx(c, "secret_key")).unwrap();
        let vk = VerifyingKey::from(&p256::ecdsa::SigningKey::from(sk));
        assert_eq!(vk.to_sec1_point(false).as_bytes(), &pk[..]);
        assert_eq!(
            hx32(c, "fingerprint"),
            spec::labeled_hash("fingerprint", &pk)
        );
        assert_eq!(
            text(c, "fingerprint_rendered"),
            spec::render_digits(&hx(c, "fingerprint"), 4, 8)
        );
        assert_eq!(PublicIdentity::from_bytes(&pk).unwrap(), *k.public());
    }
    let half = half_order();
    for c in list(cases, "signatures") {
        let (pk, label, content, sig) = (
            hx(c, "public_key"),
            text(c, "label"),
            hx(c, "content"),
            hx(c, "signature"),
        );
        let lc = spec::labeled_content(label, &content);
        assert_eq!(hx(c, "labeled_content"), lc);
        assert_eq!(sig.len(), 64);
        assert!(be_le(&sig[32..], &half), "s must be low");
        // Core verifier.
        let public = PublicIdentity::from_bytes(&pk).unwrap();
        public.verify(static_label(label), &content, &sig).unwrap();
        // Independently: plain ECDSA P-256/SHA-256 over the labeled content.
        let vk = VerifyingKey::from_sec1_bytes(&pk).unwrap();
        vk.verify(&lc, &Signature::from_slice(&sig).unwrap())
            .unwrap();
        // Deterministic signing reproduces the signature.
        let k = IdentityKey::from_secret_bytes(&hx(c, "secret_key")).unwrap();
        assert_eq!(k.public().as_bytes()[..], pk[..]);
        assert_eq!(k.sign(label, &content)[..], sig[..]);
    }
    for c in list(cases, "rejected_signatures") {
        let (pk, label, content, sig) = (
            hx(c, "public_key"),
            text(c, "label"),
            hx(c, "content"),
            hx(c, "signature"),
        );
        let public = PublicIdentity::from_bytes(&pk).unwrap();
        assert!(
            public.verify(static_label(label), &content, &sig).is_err(),
            "accepted: {}",
            text(c, "reason")
        );
        if text(c, "reason").starts_with("high S") {
            // It is a genuine twin: (r, n - s) of a valid low-S signature.
            assert!(!be_le(&sig[32..], &half));
            let twin: [u8; 64] = sig.clone().try_into().unwrap();
            let low = high_s_twin(&twin);
            public.verify(static_label(label), &content, &low).unwrap();
        }
    }
    for c in list(cases, "rejected_public_keys") {
        assert!(
            PublicIdentity::from_bytes(&hx(c, "public_key")).is_err(),
            "accepted: {}",
            text(c, "reason")
        );
    }
}
