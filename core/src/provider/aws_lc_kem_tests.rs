//! The AWS-LC DHKEM against RFC 9180 appendix A (the DHKEM(P-256, HKDF-SHA256) base-mode cases
//! of `spec/vectors/rfc9180.json`: A.3.1 with AES-128-GCM, A.5.1 with ChaCha20-Poly1305) and
//! against the `hpke` crate's own P-256 KEM.

use std::path::PathBuf;

use hpke::aead::{AesGcm128, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde_json::Value;

use super::{AwsLcP256, EncappedKey, PrivateKey, PublicKey, derive};

#[path = "../../tests/common/fixed_rng.rs"]
mod fixed_rng;
use fixed_rng::FixedRng;

/// The order n of P-256, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn hx(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap()
}

/// The base-mode DHKEM(P-256, HKDF-SHA256) cases of rfc9180.json (kem_id 16).
fn p256_cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/rfc9180.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<Value> = v["cases"]["base"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kem_id"] == 16)
        .cloned()
        .collect();
    let sections: Vec<&str> = cases
        .iter()
        .map(|c| c["section"].as_str().unwrap())
        .collect();
    assert_eq!(sections, ["A.3.1", "A.5.1"]);
    cases
}

#[test]
fn rfc9180_dhkem_p256_derive_encap_decap() {
    for c in p256_cases() {
        for (ikm, sk, pk) in [("ikmR", "skRm", "pkRm"), ("ikmE", "skEm", "pkEm")] {
            let (s, p) = derive(&hx(&c, ikm)).unwrap();
            assert_eq!(s.to_bytes()[..], hx(&c, sk)[..], "{}", c["section"]);
            assert_eq!(p.to_bytes()[..], hx(&c, pk)[..], "{}", c["section"]);
            assert_eq!(AwsLcP256::sk_to_pk(&s), p);
        }
        let pk_r = PublicKey::from_bytes(&hx(&c, "pkRm")).unwrap();
        let (ss, enc) =
            AwsLcP256::encap_with_rng(&pk_r, None, &mut FixedRng(hx(&c, "ikmE"), 0)).unwrap();
        assert_eq!(enc.to_bytes()[..], hx(&c, "enc")[..]);
        assert_eq!(ss.0[..], hx(&c, "shared_secret")[..]);
        let sk_r = PrivateKey::from_bytes(&hx(&c, "skRm")).unwrap();
        let enc = EncappedKey::from_bytes(&hx(&c, "enc")).unwrap();
        let ss = AwsLcP256::decap(&sk_r, None, &enc).unwrap();
        assert_eq!(ss.0[..], hx(&c, "shared_secret")[..]);
    }
}

/// The first encryption (sequence 0) of each case is a single-shot seal: the `hpke` crate's key
/// schedule and AEAD over this KEM give the RFC's ciphertext and open it.
#[test]
fn rfc9180_single_shot_seal_and_open() {
    for c in p256_cases() {
        let first = &c["encryptions"][0];
        let (info, aad, pt, ct) = (
            hx(&c, "info"),
            hx(first, "aad"),
            hx(first, "pt"),
            hx(first, "ct"),
        );
        let pk_r = PublicKey::from_bytes(&hx(&c, "pkRm")).unwrap();
        let sk_r = PrivateKey::from_bytes(&hx(&c, "skRm")).unwrap();
        let mut rng = FixedRng(hx(&c, "ikmE"), 0);
        let (enc, got) = match c["aead_id"].as_u64().unwrap() {
            1 => hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, AwsLcP256>(
                &OpModeS::Base,
                &pk_r,
                &info,
                &pt,
                &aad,
                &mut rng,
            ),
            3 => hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, AwsLcP256>(
                &OpModeS::Base,
                &pk_r,
                &info,
                &pt,
                &aad,
                &mut rng,
            ),
            other => panic!("aead {other}"),
        }
        .unwrap();
        assert_eq!(enc.to_bytes()[..], hx(&c, "enc")[..]);
        assert_eq!(got, ct, "{}", c["section"]);
        let opened = match c["aead_id"].as_u64().unwrap() {
            1 => hpke::single_shot_open::<AesGcm128, HkdfSha256, AwsLcP256>(
                &OpModeR::Base,
                &sk_r,
                &enc,
                &info,
                &ct,
                &aad,
            ),
            _ => hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, AwsLcP256>(
                &OpModeR::Base,
                &sk_r,
                &enc,
                &info,
                &ct,
                &aad,
            ),
        }
        .unwrap();
        assert_eq!(opened, pt);
    }
}

/// Same keys, encapsulations and shared secrets as the `hpke` crate's RustCrypto KEM.
#[test]
fn agrees_with_the_hpke_crates_p256_kem() {
    for i in 0u8..16 {
        let ikm_r = [i; 32];
        let ikm_e = [i ^ 0xa5; 32];
        let (sk, pk) = derive(&ikm_r).unwrap();
        let (rsk, rpk) = DhP256HkdfSha256::derive_keypair(&ikm_r);
        assert_eq!(sk.to_bytes(), rsk.to_bytes());
        assert_eq!(pk.to_bytes(), rpk.to_bytes());
        let (ss, enc) =
            AwsLcP256::encap_with_rng(&pk, None, &mut FixedRng(ikm_e.to_vec(), 0)).unwrap();
        let (rss, renc) =
            DhP256HkdfSha256::encap_with_rng(&rpk, None, &mut FixedRng(ikm_e.to_vec(), 0)).unwrap();
        assert_eq!(enc.to_bytes(), renc.to_bytes());
        assert_eq!(ss.0, rss.0);
        let back = AwsLcP256::decap(
            &sk,
            None,
            &EncappedKey::from_bytes(&renc.to_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(back.0, rss.0);
    }
}

fn add(a: &[u8; 32], delta: i8) -> [u8; 32] {
    let mut out = *a;
    let mut carry = i16::from(delta);
    for b in out.iter_mut().rev() {
        let v = i16::from(*b) + carry;
        *b = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
    }
    out
}

#[test]
fn private_keys_out_of_range_are_rejected_like_rustcrypto() {
    let one = add(&[0; 32], 1);
    let cases: [(&[u8], bool); 7] = [
        (&[0; 32], false),
        (&one, true),
        (&add(&ORDER, -1), true),
        (&ORDER, false),
        (&add(&ORDER, 1), false),
        (&[0xff; 32], false),
        (&[1; 31], false),
    ];
    for (bytes, ok) in cases {
        assert_eq!(PrivateKey::from_bytes(bytes).is_ok(), ok, "{bytes:02x?}");
        assert_eq!(
            <DhP256HkdfSha256 as Kem>::PrivateKey::from_bytes(bytes).is_ok(),
            ok,
            "{bytes:02x?}"
        );
    }
}

#[test]
fn public_keys_are_validated_like_rustcrypto() {
    let (_, pk) = derive(&[7; 32]).unwrap();
    let good = pk.to_bytes().to_vec();
    let mut off_curve = good.clone();
    off_curve[64] ^= 1;
    let mut hybrid = good.clone();
    // SEC1 hybrid form: 0x06 | 0x07 by the parity of y. AWS-LC parses it; RFC 9180 does not.
    hybrid[0] = 6 | (good[64] & 1);
    let mut compressed = vec![2 | (good[64] & 1)];
    compressed.extend_from_slice(&good[1..33]);
    let mut x_too_big = good.clone();
    x_too_big[1..33].copy_from_slice(&[0xff; 32]);
    let cases: [(&str, Vec<u8>, bool); 8] = [
        ("valid", good.clone(), true),
        ("off the curve", off_curve, false),
        ("hybrid encoding", hybrid, false),
        ("compressed", compressed, false),
        ("coordinate not below p", x_too_big, false),
        ("all zero", vec![0; 65], false),
        ("infinity", vec![0], false),
        ("too long", [good.as_slice(), &[0]].concat(), false),
    ];
    for (what, bytes, ok) in cases {
        assert_eq!(PublicKey::from_bytes(&bytes).is_ok(), ok, "{what}");
        assert_eq!(EncappedKey::from_bytes(&bytes).is_ok(), ok, "{what}");
        assert_eq!(
            <DhP256HkdfSha256 as Kem>::PublicKey::from_bytes(&bytes).is_ok(),
            ok,
            "{what}"
        );
    }
}

#[test]
fn auth_mode_is_refused() {
    let (sk, pk) = derive(&[1; 32]).unwrap();
    let mut rng = FixedRng(vec![2; 32], 0);
    assert!(AwsLcP256::encap_with_rng(&pk, Some((&sk, &pk)), &mut rng).is_err());
    let (_, enc) = AwsLcP256::encap_with_rng(&pk, None, &mut FixedRng(vec![2; 32], 0)).unwrap();
    assert!(AwsLcP256::decap(&sk, Some(&pk), &enc).is_err());
    assert!(AwsLcP256::decap(&sk, None, &enc).is_ok());
}
