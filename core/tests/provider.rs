//! Every crypto provider compiled into this build (`conclave_core::provider::all`) against the
//! vector files: identity signatures (identity.json), HPKE suite 1 (hpke.json and RFC 9180
//! appendix A.5.1 in rfc9180.json), HPKE suite 2 (suite2.json); and meetings whose
//! participants use different providers (identical wire results).

use std::path::PathBuf;
use std::time::Duration;

use conclave_core::hpke::{HpkeKeyPair, seal_with};
use conclave_core::meeting::MeetingConfig;
use conclave_core::provider::{self, Provider};
use conclave_core::schedule::labels;
use conclave_core::sim::Sim;
use conclave_core::{CipherSuite, IdentityKey, PublicIdentity};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

#[path = "common/fixed_rng.rs"]
mod fixed_rng;
use fixed_rng::FixedRng;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hx(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap()
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key].as_array().unwrap_or_else(|| panic!("no list {key}"))
}

/// The signature label constant equal to `label`.
fn label(label: &str) -> &'static str {
    [
        labels::ANNOUNCEMENT,
        labels::COMMIT,
        labels::GROUP_INFO,
        labels::WELCOME,
        labels::HEARTBEAT,
        labels::LEAVE,
        labels::RESYNC_REQUEST,
        labels::LIVENESS,
        labels::FAILOVER_VOTE,
    ]
    .into_iter()
    .find(|l| *l == label)
    .unwrap()
}

#[test]
fn the_default_provider_is_rustcrypto_and_all_lists_it() {
    assert_eq!(Provider::default().name(), "rustcrypto");
    assert_eq!(MeetingConfig::default().provider, Provider::rust_crypto());
    let all = provider::all();
    assert_eq!(all.first(), Some(&Provider::rust_crypto()));
    #[cfg(feature = "ring")]
    assert!(all.iter().any(|p| p.name() == "ring"));
    #[cfg(feature = "aws-lc")]
    assert!(all.iter().any(|p| p.name() == "aws-lc"));
}

/// RFC 9180 A.3.1 (DHKEM(P-256, HKDF-SHA256), base mode) through every provider's KEM:
/// `DeriveKeyPair` of the recipient and the ephemeral key, and the `enc` of a seal whose
/// randomness is `ikmE`. (A.3.1's AEAD is AES-128-GCM, which no provider seals with; its
/// ciphertexts are checked against the KEM directly in the AWS-LC provider's unit tests, and
/// A.5.1 with ChaCha20-Poly1305 end to end below.)
#[test]
fn rfc9180_a31_kem_with_every_provider() {
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    let rfc = load("rfc9180.json");
    let c = list(&rfc["cases"], "base")
        .iter()
        .find(|c| c["section"] == "A.3.1")
        .unwrap();
    for p in provider::all() {
        let kp = HpkeKeyPair::derive_with(p, suite, &hx(c, "ikmR")).unwrap();
        assert_eq!(kp.public_key(), &hx(c, "pkRm")[..], "{p:?}");
        assert_eq!(kp.secret_key(), &hx(c, "skRm")[..], "{p:?}");
        let (e, _) = p.hpke_derive_keypair(suite, &hx(c, "ikmE")).unwrap();
        assert_eq!(&e[..], &hx(c, "skEm")[..], "{p:?}");
        let (enc, ct) = seal_with(
            p,
            suite,
            &hx(c, "pkRm"),
            b"info",
            b"aad",
            b"pt",
            &mut FixedRng(hx(c, "ikmE"), 0),
        )
        .unwrap();
        assert_eq!(enc, hx(c, "pkEm"), "{p:?}");
        for q in provider::all() {
            let kq = HpkeKeyPair::derive_with(q, suite, &hx(c, "ikmR")).unwrap();
            assert_eq!(&kq.open(&enc, b"info", b"aad", &ct).unwrap()[..], b"pt");
        }
    }
}

#[test]
fn identity_json_with_every_provider() {
    let v = load("identity.json");
    let cases = &v["cases"];
    for p in provider::all() {
        for c in list(cases, "signatures") {
            let key = IdentityKey::from_secret_bytes(&hx(c, "secret_key"))
                .unwrap()
                .with_provider(p);
            assert_eq!(key.public().as_bytes()[..], hx(c, "public_key")[..]);
            let l = label(c["label"].as_str().unwrap());
            let sig = key.sign(l, &hx(c, "content"));
            assert_eq!(sig[..], hx(c, "signature")[..], "{p:?} signs differently");
            key.public()
                .verify(l, &hx(c, "content"), &sig)
                .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        for c in list(cases, "rejected_signatures") {
            let key = PublicIdentity::from_bytes(&hx(c, "public_key"))
                .unwrap()
                .with_provider(p);
            let l = label(c["label"].as_str().unwrap());
            assert!(
                key.verify(l, &hx(c, "content"), &hx(c, "signature"))
                    .is_err(),
                "{p:?} accepts: {}",
                c["reason"]
            );
        }
    }
}

/// Derives the recipient with `p`, seals with `p` under the fixed ephemeral randomness, and
/// opens with `p` and with every other provider.
fn check_seal(p: Provider, suite: CipherSuite, c: &Value, k: [&str; 8]) {
    let [ikm_r, pk, ikm_e, info, aad, pt, enc, ct] = k.map(|key| hx(c, key));
    let kp = HpkeKeyPair::derive_with(p, suite, &ikm_r).unwrap();
    assert_eq!(kp.public_key(), &pk[..], "{p:?}");
    p.hpke_check_public_key(suite, &pk).unwrap();
    let (e, ct2) = seal_with(p, suite, &pk, &info, &aad, &pt, &mut FixedRng(ikm_e, 0)).unwrap();
    assert_eq!((e.as_slice(), ct2.as_slice()), (&enc[..], &ct[..]), "{p:?}");
    for q in provider::all() {
        let kq = HpkeKeyPair::derive_with(q, suite, &ikm_r).unwrap();
        assert_eq!(&kq.open(&enc, &info, &aad, &ct).unwrap()[..], &pt[..]);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(kq.open(&enc, &info, &aad, &bad).is_err());
    }
}

#[test]
fn hpke_json_and_rfc9180_a51_with_every_provider() {
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    let v = load("hpke.json");
    let keys = [
        "ikm_r",
        "public_key",
        "ikm_e",
        "info",
        "aad",
        "plaintext",
        "enc",
        "ciphertext",
    ];
    let rfc = load("rfc9180.json");
    let a51 = list(&rfc["cases"], "base")
        .iter()
        .find(|c| c["section"] == "A.5.1")
        .unwrap()
        .clone();
    let mut a51 = a51.as_object().unwrap().clone();
    let first = a51["encryptions"][0].clone();
    for (k, from) in [("aad", "aad"), ("pt", "pt"), ("ct", "ct")] {
        a51.insert(k.to_string(), first[from].clone());
    }
    let a51 = Value::Object(a51);
    for p in provider::all() {
        for c in list(&v["cases"], "derive_key_pair") {
            let kp = HpkeKeyPair::derive_with(p, suite, &hx(c, "ikm")).unwrap();
            assert_eq!(kp.public_key(), &hx(c, "public_key")[..]);
        }
        for c in list(&v["cases"], "seal") {
            check_seal(p, suite, c, keys);
        }
        for c in list(&v["cases"], "welcome_seal") {
            let mut k = keys;
            k[5] = "path_secrets";
            check_seal(p, suite, c, k);
        }
        check_seal(
            p,
            suite,
            &a51,
            ["ikmR", "pkRm", "ikmE", "info", "aad", "pt", "enc", "ct"],
        );
    }
}

#[test]
fn suite2_json_with_every_provider() {
    let suite = CipherSuite::XWingSha256ChaCha20Poly1305;
    let v = load("suite2.json");
    for p in provider::all() {
        for c in v["cases"].as_array().unwrap() {
            check_seal(
                p,
                suite,
                c,
                [
                    "ikm_r",
                    "public_key",
                    "encap_randomness",
                    "info",
                    "aad",
                    "plaintext",
                    "enc",
                    "ciphertext",
                ],
            );
        }
    }
}

/// A meeting whose participants use every provider in turn: they join, rekey and survive a
/// failover together (signatures and seals of one provider verify and open with the others).
#[test]
fn participants_on_different_providers_share_a_meeting() {
    let all = provider::all();
    let mut s = Sim::new(
        b"mixed-provider-meeting",
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(17),
    );
    let ids = ["alice", "bob", "carol", "dave"];
    for (i, id) in ids.iter().enumerate() {
        s.config.provider = all[i % all.len()];
        if i == 0 {
            s.create(id).unwrap();
        } else {
            s.join(id).unwrap();
        }
        s.settle();
    }
    let joined = s.converged().expect("joined");
    s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    s.settle();
    let rotated = s.converged().expect("rotated");
    assert!(rotated > joined);
    s.pause("alice");
    s.advance(Duration::from_secs(60), Duration::from_secs(1));
    let leader = s.leader().unwrap().to_string();
    assert_ne!(leader, "alice");
    assert!(s.converged().is_some_and(|e| e > rotated));
}
