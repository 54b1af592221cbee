//! The fuzz provider (`cfg(fuzzing)`; also compiled for this crate's unit tests): cheap,
//! deterministic, hash-based stand-ins for the public-key operations, so that the fuzz targets
//! that explore the state machine (`sim_ops`) spend their time in the engine and not in P-256.
//!
//! It keeps the properties the fuzz invariants rely on, and nothing else:
//! - a signature is `h || h` with `h = SHA-256(tag, public key, message)`: it verifies only
//!   for the key and the message it was made for (but anyone who knows the public key can
//!   make one);
//! - an HPKE key pair is a 32-byte secret `sk` and the public key `prefix || SHA-256(sk) || 0…`
//!   of the suite's length; a seal draws 32 random bytes into `enc` and encrypts with
//!   ChaCha20-Poly1305 under `SHA-256(tag, suite, public key, enc, info)` and the caller's
//!   `aad`: it opens only with the recipient's key pair, the exact `enc`, `info` and `aad`, and
//!   any tampering fails (but anyone who knows the public key can open it).
//!
//! Never use it outside fuzzing: it provides no authenticity and no confidentiality.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoProvider;
use crate::hpke::HpkeKeyPair;
use crate::hpke::{P256_KEM_KEY_LEN, XWING_ENC_LEN, XWING_PUBLIC_KEY_LEN};
use crate::identity::{IdentityKey, PublicIdentity, SIGNATURE_LEN};
use crate::{CipherSuite, CryptoError};

/// Length of a fuzz HPKE secret key.
const SECRET_LEN: usize = 32;

/// The fuzz provider. See the module documentation: for fuzz targets only.
#[derive(Debug, Clone, Copy, Default)]
pub struct FuzzProvider;

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// (public key length, encapsulated key length, leading byte) of the suite's real encodings.
fn lengths(suite: CipherSuite) -> (usize, usize, Option<u8>) {
    match suite {
        CipherSuite::P256Sha256ChaCha20Poly1305 => (P256_KEM_KEY_LEN, P256_KEM_KEY_LEN, Some(4)),
        CipherSuite::XWingSha256ChaCha20Poly1305 => (XWING_PUBLIC_KEY_LEN, XWING_ENC_LEN, None),
    }
}

/// `prefix || body || zeros`, `len` bytes long.
fn padded(prefix: Option<u8>, body: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend(prefix);
    out.extend_from_slice(body);
    out.resize(len, 0);
    out
}

fn public_from_secret(suite: CipherSuite, sk: &[u8]) -> Vec<u8> {
    let (pk_len, _, prefix) = lengths(suite);
    padded(prefix, &hash(&[b"fuzz hpke pk", sk]), pk_len)
}

fn aead_key(suite: CipherSuite, pk: &[u8], enc: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let id = suite.id().to_be_bytes();
    Zeroizing::new(hash(&[b"fuzz hpke key", &id, pk, enc, info]))
}

/// The fuzz signature of `msg` under the public key `pk`: `h || h` with
/// `h = SHA-256(tag, pk, msg)` (SHA-256 rather than SHA-512: most machines hash it in hardware,
/// and signatures over Welcomes and announcements were a tenth of `sim_ops`'s time).
fn signature(pk: &[u8], msg: &[u8]) -> [u8; SIGNATURE_LEN] {
    let h = hash(&[b"conclave fuzz signature", pk, msg]);
    let mut sig = [0u8; SIGNATURE_LEN];
    let (a, b) = sig.split_at_mut(h.len());
    a.copy_from_slice(&h);
    b.copy_from_slice(&h);
    sig
}

fn aead(key: &[u8; 32]) -> chacha20poly1305::ChaCha20Poly1305 {
    chacha20poly1305::ChaCha20Poly1305::new(key.into())
}

impl CryptoProvider for FuzzProvider {
    fn name(&self) -> &'static str {
        "fuzz"
    }

    fn sign(&self, key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        signature(key.public().as_bytes(), msg)
    }

    fn verify(&self, key: &PublicIdentity, msg: &[u8], sig: &[u8]) -> Result<(), &'static str> {
        if sig.len() != SIGNATURE_LEN {
            return Err("signature is not 64 bytes");
        }
        if bool::from(signature(key.as_bytes(), msg).ct_eq(sig)) {
            Ok(())
        } else {
            Err("signature does not match the key and content")
        }
    }

    fn hpke_derive_keypair(
        &self,
        suite: CipherSuite,
        ikm: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
        let sk = Zeroizing::new(hash(&[b"fuzz hpke sk", &suite.id().to_be_bytes(), ikm]).to_vec());
        let pk = public_from_secret(suite, &sk);
        Ok((sk, pk))
    }

    fn hpke_check_public_key(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
    ) -> Result<(), CryptoError> {
        let (pk_len, _, prefix) = lengths(suite);
        if public_key.len() != pk_len || prefix.is_some_and(|p| public_key.first() != Some(&p)) {
            return Err(CryptoError::InvalidPublicKey {
                what: "HPKE",
                reason: "not a fuzz public key of the suite",
            });
        }
        Ok(())
    }

    fn hpke_seal(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        self.hpke_check_public_key(suite, public_key)?;
        let (_, enc_len, prefix) = lengths(suite);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let enc = padded(prefix, &seed, enc_len);
        let key = aead_key(suite, public_key, &enc, info);
        let ct = aead(&key)
            .encrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::SealFailed("fuzz HPKE seal"))?;
        Ok((enc, ct))
    }

    fn hpke_open(
        &self,
        key: &HpkeKeyPair,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (suite, secret_key) = (key.suite(), key.secret_key());
        let (_, enc_len, _) = lengths(suite);
        if enc.len() != enc_len {
            return Err(CryptoError::InvalidPublicKey {
                what: "HPKE encapsulated",
                reason: "not a valid encapsulation for the suite",
            });
        }
        if secret_key.len() != SECRET_LEN {
            return Err(CryptoError::InvalidSecretKey("not a fuzz HPKE secret key"));
        }
        let pk = public_from_secret(suite, secret_key);
        let key = aead_key(suite, &pk, enc, info);
        aead(&key)
            .decrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptFailed {
                what: "HPKE ciphertext",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpke::seal_with;
    use crate::provider::Provider;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const FUZZ: Provider = Provider::new(&FuzzProvider);

    #[test]
    fn signatures_bind_key_label_and_content() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let k = IdentityKey::generate(&mut rng).with_provider(FUZZ);
        let other = IdentityKey::generate(&mut rng).with_provider(FUZZ);
        let sig = k.sign("commit", b"content");
        assert_eq!(sig, k.sign("commit", b"content"));
        k.public().verify("commit", b"content", &sig).unwrap();
        assert!(k.public().verify("heartbeat", b"content", &sig).is_err());
        assert!(k.public().verify("commit", b"content!", &sig).is_err());
        assert!(other.public().verify("commit", b"content", &sig).is_err());
        assert!(k.public().verify("commit", b"content", &sig[..63]).is_err());
        let mut bad = sig;
        bad[63] ^= 1;
        assert!(k.public().verify("commit", b"content", &bad).is_err());
        // Not a real signature: RustCrypto rejects it.
        let real = k.public().clone().with_provider(Provider::rust_crypto());
        assert!(real.verify("commit", b"content", &sig).is_err());
    }

    #[test]
    fn hpke_opens_only_for_the_recipient_and_exact_inputs() {
        for suite in CipherSuite::ALL.iter().copied() {
            let mut rng = ChaCha20Rng::seed_from_u64(2);
            let kp = HpkeKeyPair::generate_with(FUZZ, suite, &mut rng).unwrap();
            let other = HpkeKeyPair::generate_with(FUZZ, suite, &mut rng).unwrap();
            assert_ne!(kp.public_key(), other.public_key());
            FUZZ.hpke_check_public_key(suite, kp.public_key()).unwrap();
            let (enc, ct) = seal_with(
                FUZZ,
                suite,
                kp.public_key(),
                b"info",
                b"aad",
                b"pt",
                &mut rng,
            )
            .unwrap();
            assert_eq!(&kp.open(&enc, b"info", b"aad", &ct).unwrap()[..], b"pt");
            assert!(other.open(&enc, b"info", b"aad", &ct).is_err());
            assert!(kp.open(&enc, b"info2", b"aad", &ct).is_err());
            assert!(kp.open(&enc, b"info", b"aad2", &ct).is_err());
            assert!(kp.open(&enc[1..], b"info", b"aad", &ct).is_err());
            let mut e = enc.clone();
            *e.last_mut().unwrap() ^= 1;
            assert!(kp.open(&e, b"info", b"aad", &ct).is_err());
            let mut c = ct.clone();
            c[0] ^= 1;
            assert!(kp.open(&enc, b"info", b"aad", &c).is_err());
            // Two seals of one message differ (fresh enc from the RNG).
            let (enc2, _) = seal_with(
                FUZZ,
                suite,
                kp.public_key(),
                b"info",
                b"aad",
                b"pt",
                &mut rng,
            )
            .unwrap();
            assert_ne!(enc, enc2);
        }
    }

    #[test]
    fn a_meeting_runs_on_the_fuzz_provider() {
        use crate::meeting::MeetingConfig;
        use crate::sim::Sim;
        use std::time::Duration;
        let config = MeetingConfig {
            provider: FUZZ,
            ..MeetingConfig::default()
        };
        let mut s = Sim::new(
            b"fuzz-provider-meeting",
            config,
            ChaCha20Rng::seed_from_u64(3),
        );
        s.create("alice").unwrap();
        for id in ["bob", "carol", "dave"] {
            s.join(id).unwrap();
            s.settle();
        }
        let joined = s.converged().unwrap();
        s.act("alice", |m, now, _| m.remove("bob", now)).unwrap();
        s.settle();
        let removed = s.converged().unwrap();
        assert!(removed > joined);
        assert!(s.participants["bob"].epoch_secrets().is_none());
        // Failover: the leader goes silent; a new leader rebuilds (one HPKE seal per member).
        s.pause("alice");
        s.advance(Duration::from_secs(60), Duration::from_secs(1));
        let leader = s.leader().unwrap().to_string();
        assert_ne!(leader, "alice");
        assert!(s.participants[&leader].epoch() > removed);
        assert!(s.converged().is_some_and(|e| e > removed));
    }
}
