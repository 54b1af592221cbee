//! Test vectors of cipher suite 2 (X-Wing / HKDF-SHA256 / ChaCha20-Poly1305) in
//! `spec/vectors/suite2.json`: DeriveKeyPair and SealBase with fixed encapsulation randomness.
//! `CONCLAVE_REGENERATE_VECTORS=1` rewrites the file; otherwise it must match byte for byte and
//! every case must open.

use std::convert::Infallible;

use conclave_core::CipherSuite;
use conclave_core::hpke::{HpkeKeyPair, seal};
use serde_json::{Value, json};

const SUITE: CipherSuite = CipherSuite::XWingSha256ChaCha20Poly1305;
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/suite2.json");

/// Yields fixed bytes: the seal draws the X-Wing encapsulation randomness from it.
struct FixedRng(Vec<u8>, usize);

impl rand_core::TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.1 + dst.len();
        assert!(end <= self.0.len(), "fixed randomness exhausted");
        dst.copy_from_slice(&self.0[self.1..end]);
        self.1 = end;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for FixedRng {}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn generate() -> Value {
    let mut cases = Vec::new();
    for (n, (info, aad, pt)) in [
        (&b""[..], &b""[..], &b"suite 2"[..]),
        (b"conclave v1 test info", b"aad", &[0x42u8; 100][..]),
        (b"info", &[7u8; 32][..], &[0u8; 600][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let ikm_r = bytes(n as u8 + 1, 32);
        let eseed = bytes(n as u8 + 101, 64);
        let kp = HpkeKeyPair::derive(SUITE, &ikm_r);
        let mut rng = FixedRng(eseed.clone(), 0);
        let (enc, ct) = seal(SUITE, kp.public_key(), info, aad, pt, &mut rng).unwrap();
        cases.push(json!({
            "ikm_r": hex::encode(&ikm_r),
            "public_key": hex::encode(kp.public_key()),
            "encap_randomness": hex::encode(&eseed),
            "info": hex::encode(info),
            "aad": hex::encode(aad),
            "plaintext": hex::encode(pt),
            "enc": hex::encode(&enc),
            "ciphertext": hex::encode(&ct),
        }));
    }
    json!({
        "description": "Cipher suite 2: HPKE base mode with X-Wing (KEM 0x647a), HKDF-SHA256 \
            (0x0001), ChaCha20Poly1305 (0x0003). public_key = DeriveKeyPair(ikm_r) \
            (draft-ietf-hpke-pq: seed = SHAKE256 LabeledDerive(ikm, \"DeriveKeyPair\")); SealBase \
            with X-Wing encapsulation randomness `encap_randomness` (64 bytes: 32 for ML-KEM-768, \
            32 for the X25519 ephemeral). Public key 1216 bytes, enc 1120 bytes.",
        "kem_id": 0x647a, "kdf_id": 1, "aead_id": 3,
        "cases": cases,
    })
}

fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
fn suite2_vectors_match_and_open() {
    let generated = render(&generate());
    if std::env::var("CONCLAVE_REGENERATE_VECTORS").is_ok() {
        std::fs::write(PATH, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(PATH).expect("spec/vectors/suite2.json");
    assert_eq!(
        committed, generated,
        "suite2.json differs from the generator's output"
    );
    let v: Value = serde_json::from_str(&committed).unwrap();
    for c in v["cases"].as_array().unwrap() {
        let x = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
        let kp = HpkeKeyPair::derive(SUITE, &x("ikm_r"));
        assert_eq!(kp.public_key(), x("public_key").as_slice());
        let pt = kp
            .open(&x("enc"), &x("info"), &x("aad"), &x("ciphertext"))
            .unwrap();
        assert_eq!(&pt[..], x("plaintext").as_slice());
        let mut ct = x("ciphertext");
        ct[0] ^= 1;
        assert!(kp.open(&x("enc"), &x("info"), &x("aad"), &ct).is_err());
    }
}

/// The published PQ HPKE vector for exactly suite 2's configuration (`xwing-hpke-draft.json`):
/// DeriveKeyPair(ikmR) gives pkRm, sealing with the encapsulation randomness ikmE gives enc and
/// the first ciphertext, and the key pair opens it.
#[test]
fn suite2_matches_the_published_xwing_hpke_vector() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/vectors/xwing-hpke-draft.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let x = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            v["kem_id"].as_u64(),
            v["kdf_id"].as_u64(),
            v["aead_id"].as_u64()
        ),
        (Some(0x647a), Some(1), Some(3))
    );
    assert_eq!(SUITE.hpke_ids(), (0x647a, 0x0001, 0x0003));
    let kp = HpkeKeyPair::derive(SUITE, &x("ikmR"));
    assert_eq!(kp.public_key(), x("pkRm").as_slice(), "pkRm");
    let e = &v["encryptions"][0];
    let ex = |k: &str| hex::decode(e[k].as_str().unwrap()).unwrap();
    let mut rng = FixedRng(x("ikmE"), 0);
    let (enc, ct) = seal(
        SUITE,
        kp.public_key(),
        &x("info"),
        &ex("aad"),
        &ex("pt"),
        &mut rng,
    )
    .unwrap();
    assert_eq!(enc, x("enc"), "enc");
    assert_eq!(ct, ex("ct"), "first ciphertext");
    let pt = kp.open(&enc, &x("info"), &ex("aad"), &ct).unwrap();
    assert_eq!(&pt[..], ex("pt").as_slice());
}
