//! Test vectors of cipher suite 2 (X-Wing / HKDF-SHA256 / ChaCha20-Poly1305) in
//! `spec/vectors/suite2.json`: DeriveKeyPair and SealBase with fixed encapsulation randomness.
//! `CONCLAVE_REGENERATE_VECTORS=1` rewrites the file; otherwise it must match byte for byte and
//! every case must open. `from_the_text` recomputes every case from the formulas of
//! `spec/suites.md` section 2A, written here from that text (ML-KEM-768 and X25519 are the only
//! primitives taken from libraries).

use conclave_core::CipherSuite;
use conclave_core::hpke::{HpkeKeyPair, seal};
use serde_json::{Value, json};

#[path = "common/fixed_rng.rs"]
mod fixed_rng;
use fixed_rng::FixedRng;

const SUITE: CipherSuite = CipherSuite::XWingSha256ChaCha20Poly1305;
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/suite2.json");

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
        "description": "Cipher suite 2: HPKE base mode (RFC 9180) with X-Wing (KEM 0x647a, \
            draft-connolly-cfrg-xwing-kem-06 as used by draft-ietf-hpke-pq-03), HKDF-SHA256 \
            (0x0001), ChaCha20Poly1305 (0x0003). Every formula is in spec/suites.md section 2A. \
            public_key = DeriveKeyPair(ikm_r) (1,216 bytes: the ML-KEM-768 encapsulation key, \
            then the X25519 public key); enc, ciphertext = SealBase(public_key, info, aad, \
            plaintext) with the 64-byte encapsulation randomness encap_randomness: bytes 0..32 \
            are ML-KEM-768's m, bytes 32..64 the X25519 ephemeral secret. enc is 1,120 bytes \
            (ML-KEM ciphertext, then the X25519 ephemeral public key); the HPKE sequence number \
            is 0.",
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

// ---- suite 2 from the text of spec/suites.md section 2A ----

mod text {
    use chacha20poly1305::aead::{Aead, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
    use hkdf::Hkdf;
    use ml_kem::array::Array;
    use ml_kem::{FromSeed, KeyExport, MlKem768};
    use sha2::Sha256;
    use sha3::{Digest, Sha3_256};
    use shake::{ExtendableOutput, Shake256, Update, XofReader};
    use x25519_dalek::{PublicKey, StaticSecret};

    const KEM_ID: u16 = 0x647a;
    const X_WING_LABEL: &[u8] = b"\\.//^\\";

    fn shake256(input: &[u8], len: usize) -> Vec<u8> {
        let mut h = Shake256::default();
        h.update(input);
        let mut out = vec![0u8; len];
        h.finalize_xof().read(&mut out);
        out
    }

    /// `seed = SHAKE256(ikm || "HPKE-v1" || "KEM" || u16(0x647a) || u16(13) || "DeriveKeyPair"
    /// || u16(32), 32)`.
    pub fn labeled_derive_input(ikm: &[u8]) -> Vec<u8> {
        let mut b = ikm.to_vec();
        b.extend_from_slice(b"HPKE-v1");
        b.extend_from_slice(b"KEM");
        b.extend_from_slice(&KEM_ID.to_be_bytes());
        b.extend_from_slice(&13u16.to_be_bytes());
        b.extend_from_slice(b"DeriveKeyPair");
        b.extend_from_slice(&32u16.to_be_bytes());
        b
    }

    /// The X-Wing key pair of a 32-byte seed: (ML-KEM-768 encapsulation key, sk_X, pk_X).
    fn expand(seed: &[u8]) -> (ml_kem::ml_kem_768::EncapsulationKey, [u8; 32], [u8; 32]) {
        let e = shake256(seed, 96);
        let d_z: Array<u8, _> = Array::try_from(&e[..64]).unwrap();
        let ek = <MlKem768 as FromSeed>::from_seed(&d_z).1;
        let sk_x: [u8; 32] = e[64..96].try_into().unwrap();
        let pk_x = PublicKey::from(&StaticSecret::from(sk_x)).to_bytes();
        (ek, sk_x, pk_x)
    }

    /// `DeriveKeyPair(ikm)`: the 1,216-byte public key `pk_M || pk_X`.
    pub fn public_key(ikm: &[u8]) -> Vec<u8> {
        let seed = shake256(&labeled_derive_input(ikm), 32);
        let (ek, _, pk_x) = expand(&seed);
        let mut pk = ek.to_bytes().to_vec();
        pk.extend_from_slice(&pk_x);
        pk
    }

    fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &str, ikm: &[u8]) -> Vec<u8> {
        let mut l = b"HPKE-v1".to_vec();
        l.extend_from_slice(suite_id);
        l.extend_from_slice(label.as_bytes());
        l.extend_from_slice(ikm);
        Hkdf::<Sha256>::extract(Some(salt), &l).0.to_vec()
    }

    fn labeled_expand(suite_id: &[u8], prk: &[u8], label: &str, info: &[u8], n: usize) -> Vec<u8> {
        let mut l = (n as u16).to_be_bytes().to_vec();
        l.extend_from_slice(b"HPKE-v1");
        l.extend_from_slice(suite_id);
        l.extend_from_slice(label.as_bytes());
        l.extend_from_slice(info);
        let mut out = vec![0u8; n];
        Hkdf::<Sha256>::from_prk(prk)
            .unwrap()
            .expand(&l, &mut out)
            .unwrap();
        out
    }

    /// `SealBase(pk, info, aad, pt)` with encapsulation randomness `eseed` (64 bytes):
    /// returns (enc, ciphertext).
    pub fn seal(pk: &[u8], eseed: &[u8], info: &[u8], aad: &[u8], pt: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let ek_bytes: Array<u8, _> = Array::try_from(&pk[..1184]).unwrap();
        let ek =
            <ml_kem::ml_kem_768::EncapsulationKey as ml_kem::TryKeyInit>::new(&ek_bytes).unwrap();
        let pk_x: [u8; 32] = pk[1184..].try_into().unwrap();
        let m: Array<u8, _> = Array::try_from(&eseed[..32]).unwrap();
        let (ct_m, ss_m) = ek.encapsulate_deterministic(&m);
        let ek_x = StaticSecret::from(<[u8; 32]>::try_from(&eseed[32..64]).unwrap());
        let ct_x = PublicKey::from(&ek_x).to_bytes();
        let ss_x = ek_x.diffie_hellman(&PublicKey::from(pk_x)).to_bytes();
        let mut h = Sha3_256::new();
        Digest::update(&mut h, ss_m);
        Digest::update(&mut h, ss_x);
        Digest::update(&mut h, ct_x);
        Digest::update(&mut h, pk_x);
        Digest::update(&mut h, X_WING_LABEL);
        let shared_secret = h.finalize().to_vec();
        let mut enc = ct_m.to_vec();
        enc.extend_from_slice(&ct_x);
        // RFC 9180 section 5.1, base mode.
        let mut suite_id = b"HPKE".to_vec();
        for id in [KEM_ID, 0x0001, 0x0003] {
            suite_id.extend_from_slice(&id.to_be_bytes());
        }
        let psk_id_hash = labeled_extract(&suite_id, b"", "psk_id_hash", b"");
        let info_hash = labeled_extract(&suite_id, b"", "info_hash", info);
        let mut context = vec![0u8];
        context.extend_from_slice(&psk_id_hash);
        context.extend_from_slice(&info_hash);
        let secret = labeled_extract(&suite_id, &shared_secret, "secret", b"");
        let key = labeled_expand(&suite_id, &secret, "key", &context, 32);
        let nonce = labeled_expand(&suite_id, &secret, "base_nonce", &context, 12);
        let nonce = chacha20poly1305::Nonce::try_from(nonce.as_slice()).unwrap();
        let ct = ChaCha20Poly1305::new_from_slice(&key)
            .unwrap()
            .encrypt(&nonce, Payload { msg: pt, aad })
            .unwrap();
        (enc, ct)
    }
}

/// Every case of suite2.json, and the published draft vector, recomputed from the formulas of
/// `spec/suites.md` section 2A.
#[test]
fn suite2_vectors_from_the_text() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    for c in v["cases"].as_array().unwrap() {
        let x = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
        let pk = text::public_key(&x("ikm_r"));
        assert_eq!(pk, x("public_key"), "public_key");
        let (enc, ct) = text::seal(
            &pk,
            &x("encap_randomness"),
            &x("info"),
            &x("aad"),
            &x("plaintext"),
        );
        assert_eq!(enc, x("enc"), "enc");
        assert_eq!(ct, x("ciphertext"), "ciphertext");
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/vectors/xwing-hpke-draft.json"
    );
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let x = |k: &str| hex::decode(d[k].as_str().unwrap()).unwrap();
    let e = &d["encryptions"][0];
    let ex = |k: &str| hex::decode(e[k].as_str().unwrap()).unwrap();
    let pk = text::public_key(&x("ikmR"));
    assert_eq!(pk, x("pkRm"));
    let (enc, ct) = text::seal(&pk, &x("ikmE"), &x("info"), &ex("aad"), &ex("pt"));
    assert_eq!(enc, x("enc"));
    assert_eq!(ct, ex("ct"));
}
