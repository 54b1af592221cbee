//! The AWS-LC provider accepts and rejects what RustCrypto does (signatures, HPKE public keys,
//! encapsulations, ciphertexts), and each opens what the other seals.

use p256::ecdsa::Signature;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::AwsLc;
use crate::CipherSuite;
use crate::hpke::HpkeKeyPair;
use crate::identity::IdentityKey;
use crate::provider::{CryptoProvider, Provider, RustCrypto};

const P256: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;
const XWING: CipherSuite = CipherSuite::XWingSha256ChaCha20Poly1305;
const MSG: &[u8] = b"labeled content";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `(r, n - s)`: the high-S twin of a low-S signature (the same ECDSA signature otherwise).
fn high_s(sig: &[u8]) -> Vec<u8> {
    let parsed = Signature::from_slice(sig).unwrap();
    let s: p256::Scalar = *parsed.s();
    let mut out = sig[..32].to_vec();
    out.extend_from_slice(&(-s).to_bytes());
    out
}

#[test]
fn a_high_s_signature_is_rejected_like_rustcrypto_though_aws_lc_alone_accepts_it() {
    let key = IdentityKey::generate(&mut rng(1));
    let sig = RustCrypto.sign(&key, MSG);
    assert_eq!(
        AwsLc.sign(&key, MSG),
        sig,
        "signing is RustCrypto's (RFC 6979)"
    );
    assert_eq!(AwsLc.verify(key.public(), MSG, &sig), Ok(()));
    let high = high_s(&sig);
    assert_ne!(high, sig);
    // The same ECDSA signature: AWS-LC's verifier on its own takes it.
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        key.public().as_bytes(),
    )
    .verify(MSG, &high)
    .expect("AWS-LC accepts high S");
    let want = RustCrypto.verify(key.public(), MSG, &high);
    assert_eq!(want, Err("signature is not in low-S form"));
    assert_eq!(AwsLc.verify(key.public(), MSG, &high), want);
}

#[test]
fn malformed_and_wrong_signatures_are_rejected_like_rustcrypto() {
    let key = IdentityKey::generate(&mut rng(2));
    let other = IdentityKey::generate(&mut rng(3));
    let sig = RustCrypto.sign(&key, MSG);
    let order =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let mut r_zero = sig.to_vec();
    r_zero[..32].fill(0);
    let mut s_zero = sig.to_vec();
    s_zero[32..].fill(0);
    let mut r_order = sig.to_vec();
    r_order[..32].copy_from_slice(&order);
    let mut flipped = sig.to_vec();
    flipped[10] ^= 1;
    let cases: [(&[u8], &[u8], &IdentityKey); 8] = [
        (&sig[..63], MSG, &key),
        (&[sig.as_slice(), &[0]].concat(), MSG, &key),
        (&r_zero, MSG, &key),
        (&s_zero, MSG, &key),
        (&r_order, MSG, &key),
        (&flipped, MSG, &key),
        (&sig, b"other content", &key),
        (&sig, MSG, &other),
    ];
    for (i, (sig, msg, key)) in cases.into_iter().enumerate() {
        let want = RustCrypto.verify(key.public(), msg, sig);
        assert!(want.is_err(), "case {i}");
        assert_eq!(AwsLc.verify(key.public(), msg, sig), want, "case {i}");
    }
}

#[test]
fn invalid_hpke_public_keys_are_rejected_identically() {
    let kp = HpkeKeyPair::generate(P256, &mut rng(4));
    let good = kp.public_key().to_vec();
    let mut off_curve = good.clone();
    off_curve[64] ^= 1;
    let mut hybrid = good.clone();
    hybrid[0] = 6 | (good[64] & 1);
    let mut compressed = vec![2 | (good[64] & 1)];
    compressed.extend_from_slice(&good[1..33]);
    let xwing = HpkeKeyPair::generate(XWING, &mut rng(5));
    let cases: [(CipherSuite, Vec<u8>); 9] = [
        (P256, good.clone()),
        (P256, off_curve),
        (P256, hybrid),
        (P256, compressed),
        (P256, vec![0x04; 65]),
        (P256, vec![]),
        (P256, good[..64].to_vec()),
        (XWING, xwing.public_key().to_vec()),
        (XWING, xwing.public_key()[1..].to_vec()),
    ];
    for (i, (suite, pk)) in cases.iter().enumerate() {
        let want = RustCrypto.hpke_check_public_key(*suite, pk);
        assert_eq!(AwsLc.hpke_check_public_key(*suite, pk), want, "case {i}");
        let seal = |p: &dyn CryptoProvider| {
            p.hpke_seal(*suite, pk, b"info", b"aad", b"pt", &mut rng(6))
                .map(|_| ())
        };
        assert_eq!(seal(&AwsLc), seal(&RustCrypto), "case {i}");
        assert_eq!(want.is_ok(), i == 0 || i == 7, "case {i}");
    }
}

/// Same RNG, same seal; each provider opens the other's; tampering fails the same way.
#[test]
fn seals_are_identical_and_open_across_providers() {
    for suite in [P256, XWING] {
        let rc = HpkeKeyPair::generate_with(Provider::rust_crypto(), suite, &mut rng(7)).unwrap();
        let aws = HpkeKeyPair::generate_with(Provider::new(&AwsLc), suite, &mut rng(7)).unwrap();
        assert_eq!(rc.public_key(), aws.public_key());
        assert_eq!(rc.secret_key(), aws.secret_key());
        let pk = rc.public_key();
        let a = RustCrypto
            .hpke_seal(suite, pk, b"info", b"aad", b"secret", &mut rng(8))
            .unwrap();
        let b = AwsLc
            .hpke_seal(suite, pk, b"info", b"aad", b"secret", &mut rng(8))
            .unwrap();
        assert_eq!(a, b, "{suite:?}");
        let b = AwsLc
            .hpke_seal(suite, pk, b"info", b"aad", b"secret", &mut rng(9))
            .unwrap();
        for (enc, ct) in [&a, &b] {
            for kp in [&rc, &aws] {
                assert_eq!(&kp.open(enc, b"info", b"aad", ct).unwrap()[..], b"secret");
                let mut bad_ct = ct.clone();
                bad_ct[3] ^= 1;
                let mut bad_enc = enc.clone();
                bad_enc[20] ^= 1;
                let got = [
                    kp.open(enc, b"info", b"other aad", ct),
                    kp.open(enc, b"info", b"aad", &bad_ct),
                    kp.open(&bad_enc, b"info", b"aad", ct),
                    kp.open(&enc[1..], b"info", b"aad", ct),
                ];
                let want = [
                    RustCrypto.hpke_open(kp, enc, b"info", b"other aad", ct),
                    RustCrypto.hpke_open(kp, enc, b"info", b"aad", &bad_ct),
                    RustCrypto.hpke_open(kp, &bad_enc, b"info", b"aad", ct),
                    RustCrypto.hpke_open(kp, &enc[1..], b"info", b"aad", ct),
                ];
                for (g, w) in got.iter().zip(&want) {
                    assert!(w.is_err());
                    assert_eq!(g, w, "{suite:?} {:?}", kp.provider());
                }
            }
        }
    }
}
