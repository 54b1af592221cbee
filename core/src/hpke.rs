//! HPKE (RFC 9180) base mode for sealing path secrets to participants (`spec/suites.md`).
//!
//! Suite 1 uses DHKEM(P-256, HKDF-SHA256); suite 2 the X-Wing hybrid KEM (X25519 + ML-KEM-768,
//! draft-connolly-cfrg-xwing-kem, HPKE KEM id 0x647a). Both use HKDF-SHA256 and
//! ChaCha20-Poly1305. The operations run through a [`Provider`]; the free functions and
//! [`HpkeKeyPair::generate`] use the default, [`crate::provider::RustCrypto`].

use std::sync::OnceLock;

use zeroize::Zeroizing;

#[cfg(feature = "aws-lc")]
use crate::provider::AwsLcKey;
use crate::provider::{Provider, RustCryptoKey, rustcrypto_derive};
use crate::{CipherSuite, CryptoError};

/// Length of a suite-1 HPKE public key and encapsulated key.
pub const P256_KEM_KEY_LEN: usize = 65;
/// Length of an X-Wing public key (suite 2).
pub const XWING_PUBLIC_KEY_LEN: usize = 1216;
/// Length of an X-Wing encapsulated key (suite 2).
pub const XWING_ENC_LEN: usize = 1120;

/// An HPKE key pair of one suite, generated per meeting, bound to the [`Provider`] that made
/// it (which opens with it). The serialized private key is zeroized on drop.
#[derive(Clone)]
pub struct HpkeKeyPair {
    provider: Provider,
    suite: CipherSuite,
    private: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
    /// The private key as the RustCrypto provider parsed it (on first open).
    rustcrypto: OnceLock<Option<RustCryptoKey>>,
    /// The private key as the AWS-LC provider parsed it (on first open).
    #[cfg(feature = "aws-lc")]
    aws_lc: OnceLock<Option<AwsLcKey>>,
}

impl core::fmt::Debug for HpkeKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HpkeKeyPair")
            .field("suite", &self.suite)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl HpkeKeyPair {
    /// `DeriveKeyPair(ikm)` with 32 bytes of `ikm` drawn from `rng` (RFC 9180 section 7.1.3),
    /// with the default provider.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(suite: CipherSuite, rng: &mut R) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        Self::derive(suite, ikm.as_ref())
    }

    /// `DeriveKeyPair(ikm)` of the suite's KEM with the default provider (used by test vectors).
    pub fn derive(suite: CipherSuite, ikm: &[u8]) -> Self {
        let (private, public) = rustcrypto_derive(suite, ikm);
        Self {
            provider: Provider::default(),
            suite,
            private,
            public,
            rustcrypto: OnceLock::new(),
            #[cfg(feature = "aws-lc")]
            aws_lc: OnceLock::new(),
        }
    }

    /// [`HpkeKeyPair::generate`] through `provider`.
    pub fn generate_with<R: rand_core::CryptoRng + ?Sized>(
        provider: Provider,
        suite: CipherSuite,
        rng: &mut R,
    ) -> Result<Self, CryptoError> {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        Self::derive_with(provider, suite, ikm.as_ref())
    }

    /// [`HpkeKeyPair::derive`] through `provider`.
    pub fn derive_with(
        provider: Provider,
        suite: CipherSuite,
        ikm: &[u8],
    ) -> Result<Self, CryptoError> {
        let (private, public) = provider.hpke_derive_keypair(suite, ikm)?;
        Ok(Self {
            provider,
            suite,
            private,
            public,
            rustcrypto: OnceLock::new(),
            #[cfg(feature = "aws-lc")]
            aws_lc: OnceLock::new(),
        })
    }

    /// The suite of this key pair.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The provider that made this key pair and opens with it.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The encoded public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The serialized private key (`SerializePrivateKey`), for a [`crate::provider::CryptoProvider`]
    /// to open with. Secret: never log or send it.
    pub fn secret_key(&self) -> &[u8] {
        &self.private
    }

    /// The RustCrypto provider's parsed private key, set on its first open.
    pub(crate) fn rustcrypto_key(&self) -> &OnceLock<Option<RustCryptoKey>> {
        &self.rustcrypto
    }

    /// The AWS-LC provider's parsed private key, set on its first open.
    #[cfg(feature = "aws-lc")]
    pub(crate) fn aws_lc_key(&self) -> &OnceLock<Option<AwsLcKey>> {
        &self.aws_lc
    }

    /// Opens a ciphertext sealed to this key pair.
    pub fn open(
        &self,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.provider.hpke_open(self, enc, info, aad, ciphertext)
    }
}

/// Validates an HPKE public key of `suite` (default provider).
pub fn check_public_key(suite: CipherSuite, public_key: &[u8]) -> Result<(), CryptoError> {
    Provider::default().hpke_check_public_key(suite, public_key)
}

/// Seals `plaintext` to `public_key` of `suite` in HPKE base mode with the default provider.
/// Returns `(enc, ciphertext)`.
pub fn seal<R: rand_core::CryptoRng + ?Sized>(
    suite: CipherSuite,
    public_key: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    seal_with(
        Provider::default(),
        suite,
        public_key,
        info,
        aad,
        plaintext,
        rng,
    )
}

/// [`seal`] through `provider`.
pub fn seal_with<R: rand_core::CryptoRng + ?Sized>(
    provider: Provider,
    suite: CipherSuite,
    public_key: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    provider.hpke_seal(suite, public_key, info, aad, plaintext, &mut RngRef(rng))
}

/// Adapts `&mut R` where `R: ?Sized` to a sized `CryptoRng` (which coerces to `dyn`).
struct RngRef<'a, R: ?Sized>(&'a mut R);

impl<R: rand_core::CryptoRng + ?Sized> rand_core::TryRng for RngRef<'_, R> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: rand_core::CryptoRng + ?Sized> rand_core::TryCryptoRng for RngRef<'_, R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let kp = HpkeKeyPair::generate(SUITE, &mut rng);
        let (enc, ct) = seal(SUITE, kp.public_key(), b"info", b"aad", b"secret", &mut rng).unwrap();
        assert_eq!(&kp.open(&enc, b"info", b"aad", &ct).unwrap()[..], b"secret");
        assert!(kp.open(&enc, b"info2", b"aad", &ct).is_err());
        assert!(kp.open(&enc, b"info", b"aad2", &ct).is_err());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(kp.open(&enc, b"info", b"aad", &bad).is_err());
        let other = HpkeKeyPair::generate(SUITE, &mut rng);
        assert!(other.open(&enc, b"info", b"aad", &ct).is_err());
        assert!(kp.open(&enc[..10], b"info", b"aad", &ct).is_err());
    }

    #[test]
    fn xwing_round_trip_and_binding() {
        let suite = CipherSuite::XWingSha256ChaCha20Poly1305;
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let kp = HpkeKeyPair::generate(suite, &mut rng);
        assert_eq!(kp.public_key().len(), XWING_PUBLIC_KEY_LEN);
        let (enc, ct) = seal(suite, kp.public_key(), b"info", b"aad", b"secret", &mut rng).unwrap();
        assert_eq!(enc.len(), XWING_ENC_LEN);
        assert_eq!(&kp.open(&enc, b"info", b"aad", &ct).unwrap()[..], b"secret");
        assert!(kp.open(&enc, b"info", b"aad2", &ct).is_err());
        let mut bad = enc.clone();
        bad[0] ^= 1;
        assert!(kp.open(&bad, b"info", b"aad", &ct).is_err());
        assert!(kp.open(&enc[..100], b"info", b"aad", &ct).is_err());
        // A suite-1 key is not a suite-2 key.
        let p256 = HpkeKeyPair::generate(SUITE, &mut rng);
        assert!(check_public_key(suite, p256.public_key()).is_err());
    }

    #[test]
    fn rejects_bad_public_keys() {
        assert!(check_public_key(SUITE, &[4u8; 65]).is_err());
        assert!(check_public_key(SUITE, &[4u8; 10]).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        assert!(seal(SUITE, &[0u8; 65], b"", b"", b"x", &mut rng).is_err());
    }
}
