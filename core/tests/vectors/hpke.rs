//! hpke.json: suite 1 HPKE (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
//! mode): DeriveKeyPair, single-shot seals with a fixed ephemeral ikm, and the Welcome seal.

use conclave_core::CipherSuite;
use conclave_core::hpke::{HpkeKeyPair, seal};
use conclave_core::protocol::encode;
use conclave_core::protocol::v1::{NodeSecret, PathSecrets};
use conclave_core::schedule::{labeled_content, labels, put_vec};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::{FixedRng, file, h, hx, list, num, num32, rand_bytes, rand32, spec};

const SEED: u64 = 0x4850_0001;
const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

/// The Welcome seal info of spec/key-schedule.md section 11, from the core helpers.
pub fn welcome_info(meeting_id: &[u8], epoch: u64, leaf: u32) -> Vec<u8> {
    let mut c = Vec::new();
    put_vec(&mut c, meeting_id);
    c.extend_from_slice(&epoch.to_be_bytes());
    c.extend_from_slice(&leaf.to_be_bytes());
    labeled_content(labels::WELCOME_SEAL, &c)
}

/// The same, from the spec module.
fn spec_welcome_info(meeting_id: &[u8], epoch: u64, leaf: u32) -> Vec<u8> {
    let mut c = spec::vec(meeting_id);
    c.extend_from_slice(&epoch.to_be_bytes());
    c.extend_from_slice(&leaf.to_be_bytes());
    spec::labeled_content("welcome seal", &c)
}

/// HPKE seal with `ikm_e` as the ephemeral DeriveKeyPair input.
pub fn seal_fixed(
    pk: &[u8],
    ikm_e: &[u8],
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    seal(SUITE, pk, info, aad, pt, &mut FixedRng::new(ikm_e)).unwrap()
}

/// `PathSecrets` of `leaf` in a tree of `width` leaves with the given keys.
pub fn path_secrets(leaf: u32, width: u32, keys: &[[u8; 32]], nonce: &[u8]) -> PathSecrets {
    let mut nodes = vec![2 * leaf];
    nodes.extend(conclave_core::tree::direct_path(leaf, width));
    assert_eq!(nodes.len(), keys.len());
    PathSecrets {
        leaf,
        nodes: nodes
            .iter()
            .zip(keys)
            .map(|(&node, key)| NodeSecret {
                node,
                key: key.to_vec(),
            })
            .collect(),
        echoed_nonce: nonce.to_vec(),
    }
}

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut dkp = Vec::new();
    for ikm in [
        vec![0u8; 32],
        rand_bytes(&mut rng, 32),
        rand_bytes(&mut rng, 32),
    ] {
        let kp = HpkeKeyPair::derive(SUITE, &ikm);
        dkp.push(json!({"ikm": h(&ikm), "public_key": h(kp.public_key())}));
    }
    // HpkeKeyPair::generate draws exactly its ikm from the random source.
    let ikm = rand32(&mut rng);
    let generated = HpkeKeyPair::generate(SUITE, &mut FixedRng::new(&ikm));
    dkp.push(json!({"ikm": h(ikm), "public_key": h(generated.public_key())}));

    let mut seals = Vec::new();
    let inputs: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = vec![
        (vec![], vec![], vec![]),
        (
            b"conclave vectors info".to_vec(),
            b"aad".to_vec(),
            b"hello, conclave".to_vec(),
        ),
        (
            rand_bytes(&mut rng, 64),
            rand_bytes(&mut rng, 32),
            rand_bytes(&mut rng, 300),
        ),
    ];
    for (info, aad, pt) in inputs {
        let (ikm_r, ikm_e) = (rand32(&mut rng), rand32(&mut rng));
        let kp = HpkeKeyPair::derive(SUITE, &ikm_r);
        let (enc, ct) = seal_fixed(kp.public_key(), &ikm_e, &info, &aad, &pt);
        seals.push(json!({
            "ikm_r": h(ikm_r),
            "public_key": h(kp.public_key()),
            "ikm_e": h(ikm_e),
            "info": h(&info),
            "aad": h(&aad),
            "plaintext": h(&pt),
            "enc": h(&enc),
            "ciphertext": h(&ct),
        }));
    }

    let mut welcomes = Vec::new();
    for (mid, epoch, leaf, width) in [
        (b"conclave-vectors-meeting".to_vec(), 2u64, 1u32, 2u32),
        (rand_bytes(&mut rng, 32), 77, 5, 8),
    ] {
        let th = rand32(&mut rng);
        let depth = width.trailing_zeros() as usize;
        let keys: Vec<[u8; 32]> = (0..=depth).map(|_| rand32(&mut rng)).collect();
        let nonce = rand_bytes(&mut rng, 24);
        let pt = encode(&path_secrets(leaf, width, &keys, &nonce));
        let (ikm_r, ikm_e) = (rand32(&mut rng), rand32(&mut rng));
        let kp = HpkeKeyPair::derive(SUITE, &ikm_r);
        let info = welcome_info(&mid, epoch, leaf);
        let (enc, ct) = seal_fixed(kp.public_key(), &ikm_e, &info, &th, &pt);
        welcomes.push(json!({
            "meeting_id": h(&mid),
            "epoch": epoch,
            "leaf": leaf,
            "leaf_count": width,
            "transcript_hash": h(th),
            "info": h(&info),
            "aad": h(th),
            "ikm_r": h(ikm_r),
            "public_key": h(kp.public_key()),
            "ikm_e": h(ikm_e),
            "path_secrets": h(&pt),
            "enc": h(&enc),
            "ciphertext": h(&ct),
        }));
    }

    let (kem, kdf, aead) = SUITE.hpke_ids();
    file(
        "Conclave v1 HPKE of cipher suite 1 (spec/key-schedule.md section 11): RFC 9180 base \
         mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305. DeriveKeyPair(ikm) \
         -> public key; SealBase with the ephemeral key pair DeriveKeyPair(ikm_e); the Welcome \
         seal of an encoded PathSecrets with info = LabeledContent(\"welcome seal\", \
         vec(meeting_id) || u64(epoch) || u32(leaf)) and aad = transcript_hash.",
        vec![
            ("seed", json!(SEED)),
            ("suite", json!(SUITE.id())),
            ("kem_id", json!(kem)),
            ("kdf_id", json!(kdf)),
            ("aead_id", json!(aead)),
        ],
        vec![
            ("derive_key_pair", json!(dkp)),
            ("seal", json!(seals)),
            ("welcome_seal", json!(welcomes)),
        ],
    )
}

fn check_seal(c: &Value, info: &[u8], aad: &[u8], pt: &[u8]) {
    let kp = HpkeKeyPair::derive(SUITE, &hx(c, "ikm_r"));
    assert_eq!(kp.public_key(), &hx(c, "public_key")[..]);
    let (enc, ct) = (hx(c, "enc"), hx(c, "ciphertext"));
    assert_eq!(&kp.open(&enc, info, aad, &ct).unwrap()[..], pt);
    assert_eq!(ct.len(), pt.len() + 16);
    // Resealing with the same ephemeral ikm reproduces enc and the ciphertext.
    assert_eq!(
        seal_fixed(kp.public_key(), &hx(c, "ikm_e"), info, aad, pt),
        (enc.clone(), ct.clone())
    );
    // enc is the ephemeral public key DeriveKeyPair(ikm_e).
    assert_eq!(
        HpkeKeyPair::derive(SUITE, &hx(c, "ikm_e")).public_key(),
        &enc[..]
    );
}

pub fn verify(v: &Value) {
    assert_eq!(
        (num(v, "kem_id"), num(v, "kdf_id"), num(v, "aead_id")),
        (0x0010, 0x0001, 0x0003)
    );
    let cases = &v["cases"];
    for c in list(cases, "derive_key_pair") {
        let kp = HpkeKeyPair::derive(SUITE, &hx(c, "ikm"));
        assert_eq!(kp.public_key(), &hx(c, "public_key")[..]);
        assert_eq!(kp.public_key().len(), 65);
        let generated = HpkeKeyPair::generate(SUITE, &mut FixedRng::new(&hx(c, "ikm")));
        assert_eq!(generated.public_key(), kp.public_key());
    }
    for c in list(cases, "seal") {
        check_seal(c, &hx(c, "info"), &hx(c, "aad"), &hx(c, "plaintext"));
    }
    for c in list(cases, "welcome_seal") {
        let (mid, epoch, leaf) = (hx(c, "meeting_id"), num(c, "epoch"), num32(c, "leaf"));
        let info = spec_welcome_info(&mid, epoch, leaf);
        assert_eq!(hx(c, "info"), info);
        assert_eq!(welcome_info(&mid, epoch, leaf), info);
        assert_eq!(hx(c, "aad"), hx(c, "transcript_hash"));
        let pt = hx(c, "path_secrets");
        check_seal(c, &info, &hx(c, "transcript_hash"), &pt);
        let ps: PathSecrets = conclave_core::protocol::decode_bounded(
            conclave_core::protocol::MessageKind::PathSecrets,
            &pt,
            conclave_core::protocol::limits::MAX_ENVELOPE_SIZE,
        )
        .unwrap();
        assert_eq!(ps.leaf, leaf);
        let mut expected = vec![2 * leaf];
        expected.extend(conclave_core::tree::direct_path(
            leaf,
            num32(c, "leaf_count"),
        ));
        assert_eq!(
            ps.nodes.iter().map(|n| n.node).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(encode(&ps), pt);
    }
}
