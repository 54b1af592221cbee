//! The AWS-LC provider (cargo feature `aws-lc`): ECDSA P-256 verification and the P-256 ECDH of
//! HPKE suite 1 with `aws-lc-rs`.
//!
//! - **Verify**: AWS-LC's `ECDSA_P256_SHA256_FIXED`, after the spec's encoding rules (64 bytes,
//!   `r` and `s` in `1..n`, low S; `spec/suites.md`) checked by the same code as RustCrypto's,
//!   so both accept and reject the same signatures with the same reason. (AWS-LC alone accepts
//!   high-S signatures, as ECDSA does; the spec does not.)
//! - **HPKE suite 1**: the `hpke` crate's key schedule and ChaCha20-Poly1305 over a DHKEM(P-256,
//!   HKDF-SHA256) whose Diffie-Hellman and public-key computation are AWS-LC's
//!   (`super::aws_lc_kem`). Seals draw the ephemeral key from the caller's RNG
//!   (`DeriveKeyPair(ikm)`), so they are byte-identical to RustCrypto's for the same RNG.
//! - **Sign** stays RustCrypto's: AWS-LC (like `ring`) signs ECDSA with a random nonce, and the
//!   spec requires deterministic RFC 6979 signatures (identical bytes from every provider).
//! - **Suite 2** (X-Wing) stays RustCrypto's: `aws-lc-rs`'s ML-KEM API takes no caller-supplied
//!   seed or encapsulation randomness, which X-Wing's `DeriveKeyPair` and the trait's RNG need.
//!
//! Why AWS-LC and not `ring` for the fast HPKE: `ring`'s ECDH takes only ephemeral private
//! keys it generates itself from its own RNG, so it can neither open (a static recipient key)
//! nor seal with the caller's RNG; `aws-lc-rs` imports static scalars
//! (`agreement::PrivateKey::from_private_key`) with the same `ring`-like API.
//!
//! Targets: `aws-lc-sys` 0.47 builds AWS-LC (C and assembly) with the `cc` crate and its
//! target-independent pre-generated bindings, so neither `cmake` nor `bindgen` is needed, for
//! Apple `aarch64`/`x86_64` (`aarch64-apple-ios`, `aarch64-apple-ios-sim`, `x86_64-apple-ios`)
//! and Linux/Android `aarch64`, `arm`, `x86` and `x86_64` (`aarch64-linux-android`,
//! `armv7-linux-androideabi`, `i686-linux-android`, `x86_64-linux-android`); other targets
//! fall back to its `cmake` build. Only `x86_64-unknown-linux-gnu` was built and tested here
//! (gcc, no cmake installed); the iOS and Android builds were not tried and need their C
//! toolchains (Xcode, the NDK), as `ring` does.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use hpke::{Deserializable, Serializable};
use zeroize::Zeroizing;

use super::aws_lc_kem::{self, AwsLcP256, PrivateKey, PublicKey};
use super::rustcrypto::{MISMATCH, open_with, parse_low_s, seal_to};
use super::{CryptoProvider, RustCrypto};
use crate::hpke::HpkeKeyPair;
use crate::identity::{IdentityKey, PublicIdentity, SIGNATURE_LEN};
use crate::{CipherSuite, CryptoError};

/// AWS-LC for signature verification and the P-256 ECDH of HPKE; RustCrypto for signing and
/// suite 2.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

/// An AWS-LC private key parsed from an [`HpkeKeyPair`], cached in it (on first open).
pub(crate) type AwsLcKey = PrivateKey;

/// Parses a suite-1 HPKE public key with the same checks and errors as RustCrypto's
/// `check_public_key`: 65 bytes starting 0x04, then a point on P-256.
fn p256_public_key(public_key: &[u8]) -> Result<PublicKey, CryptoError> {
    if public_key.len() != aws_lc_kem::NPK || public_key.first() != Some(&0x04) {
        return Err(CryptoError::InvalidPublicKey {
            what: "HPKE",
            reason: "not a 65-byte uncompressed P-256 point",
        });
    }
    PublicKey::from_bytes(public_key).map_err(|_| CryptoError::InvalidPublicKey {
        what: "HPKE",
        reason: "not a point on P-256",
    })
}

impl CryptoProvider for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn sign(&self, key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        RustCrypto.sign(key, msg)
    }

    fn verify(&self, key: &PublicIdentity, msg: &[u8], sig: &[u8]) -> Result<(), &'static str> {
        // The encoding rules (length, range, low S) are the spec's, checked by RustCrypto's
        // code so that both providers reject the same inputs with the same reason.
        parse_low_s(sig)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.as_bytes())
            .verify(msg, sig)
            .map_err(|_| MISMATCH)
    }

    fn hpke_derive_keypair(
        &self,
        suite: CipherSuite,
        ikm: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
        match suite {
            CipherSuite::P256Sha256ChaCha20Poly1305 => {
                let (sk, pk) = aws_lc_kem::derive(ikm)
                    .map_err(|_| CryptoError::InvalidSecretKey("DeriveKeyPair failed"))?;
                Ok((
                    Zeroizing::new(sk.to_bytes().to_vec()),
                    pk.as_bytes().to_vec(),
                ))
            }
            CipherSuite::XWingSha256ChaCha20Poly1305 => RustCrypto.hpke_derive_keypair(suite, ikm),
        }
    }

    fn hpke_check_public_key(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
    ) -> Result<(), CryptoError> {
        match suite {
            CipherSuite::P256Sha256ChaCha20Poly1305 => p256_public_key(public_key).map(|_| ()),
            CipherSuite::XWingSha256ChaCha20Poly1305 => {
                RustCrypto.hpke_check_public_key(suite, public_key)
            }
        }
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
        if suite != CipherSuite::P256Sha256ChaCha20Poly1305 {
            return RustCrypto.hpke_seal(suite, public_key, info, aad, plaintext, rng);
        }
        let pk = p256_public_key(public_key)?;
        seal_to::<AwsLcP256>(&pk, info, aad, plaintext, rng)
    }

    fn hpke_open(
        &self,
        key: &HpkeKeyPair,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if key.suite() != CipherSuite::P256Sha256ChaCha20Poly1305 {
            return RustCrypto.hpke_open(key, enc, info, aad, ciphertext);
        }
        // Parsed once per key pair (importing a scalar computes its public key).
        let sk = key
            .aws_lc_key()
            .get_or_init(|| PrivateKey::from_bytes(key.secret_key()).ok())
            .as_ref()
            .ok_or(CryptoError::InvalidSecretKey(
                "not an HPKE private key of the suite",
            ))?;
        open_with::<AwsLcP256>(sk, enc, info, aad, ciphertext)
    }
}

#[cfg(test)]
#[path = "aws_lc_tests.rs"]
mod tests;
