//! The `ring` provider (cargo feature `ring`): ECDSA P-256 verification with `ring`.
//!
//! Signing stays on RustCrypto: `ring` signs with a random nonce, and `spec/suites.md` requires
//! deterministic RFC 6979 signatures (identical bytes from every provider). HPKE stays on
//! RustCrypto too: `ring`'s ECDH takes only ephemeral private keys it generates itself, so it
//! can neither open (static recipient key) nor seal with the caller's RNG, and it has no HPKE.

use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::rustcrypto::{MISMATCH, parse_low_s};
use super::{CryptoProvider, RustCrypto};
use crate::hpke::HpkeKeyPair;
use crate::identity::{IdentityKey, PublicIdentity, SIGNATURE_LEN};
use crate::{CipherSuite, CryptoError};

/// `ring` for signature verification; RustCrypto for signing and HPKE.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ring;

impl CryptoProvider for Ring {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn sign(&self, key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        RustCrypto.sign(key, msg)
    }

    fn verify(&self, key: &PublicIdentity, msg: &[u8], sig: &[u8]) -> Result<(), &'static str> {
        // The encoding rules (length, range, low S) are the spec's, checked the same way as
        // RustCrypto's so that both reject the same inputs with the same reason.
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
        RustCrypto.hpke_derive_keypair(suite, ikm)
    }

    fn hpke_check_public_key(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
    ) -> Result<(), CryptoError> {
        RustCrypto.hpke_check_public_key(suite, public_key)
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
        RustCrypto.hpke_seal(suite, public_key, info, aad, plaintext, rng)
    }

    fn hpke_open(
        &self,
        key: &HpkeKeyPair,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        RustCrypto.hpke_open(key, enc, info, aad, ciphertext)
    }
}
