//! The crypto provider seam: the engine's public-key operations (identity signatures, HPKE)
//! behind one object-safe trait, chosen per meeting ([`crate::meeting::MeetingConfig::provider`]),
//! like rustls's `CryptoProvider` or openmls's `OpenMlsCrypto`.
//!
//! Every provider produces the same wire results: signatures are deterministic (RFC 6979, low-S,
//! `spec/suites.md`), so a signature made by one provider is the byte string every other provider
//! makes, and every provider verifies, seals and opens the others' output. The vector tests run
//! against each provider in [`all`]. HPKE seals draw their randomness from the caller's RNG.
//!
//! Providers:
//! - [`RustCrypto`] (default): `p256` ECDSA, the `hpke` crate (RFC 9180) over `p256`,
//!   `ml-kem`, `x25519-dalek` and `chacha20poly1305`.
//! - `Ring` (cargo feature `ring`): verification with `ring`; signing (ring signs with a
//!   random nonce, not RFC 6979) and HPKE (ring has no static-key ECDH) are delegated to
//!   [`RustCrypto`].
//! - `AwsLc` (cargo feature `aws-lc`): verification and the P-256 ECDH of HPKE suite 1 with
//!   `aws-lc-rs` (the `hpke` crate's key schedule and AEAD over an AWS-LC DHKEM); signing and
//!   suite 2 are delegated to [`RustCrypto`].
//! - `FuzzProvider` (fuzz builds only, `cfg(fuzzing)`): cheap hash-based stand-ins that keep
//!   the properties the fuzz invariants rely on. Never a real provider.
//!
//! Key derivations (HKDF-SHA256) and the frame AEAD stay outside the trait: the former is a
//! few hash calls per epoch, the latter has its own compile-time seam
//! ([`crate::frame::AeadBackend`]).

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(feature = "aws-lc")]
mod aws_lc_kem;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
#[cfg(fuzzing)]
mod memo;
#[cfg(feature = "ring")]
mod ring;
mod rustcrypto;

use zeroize::Zeroizing;

use crate::hpke::HpkeKeyPair;
use crate::identity::{IdentityKey, PublicIdentity, SIGNATURE_LEN};
use crate::{CipherSuite, CryptoError};

#[cfg(feature = "aws-lc")]
pub use aws_lc::AwsLc;
#[cfg(any(fuzzing, test))]
pub use fuzz::FuzzProvider;
#[cfg(feature = "ring")]
pub use ring::Ring;
pub use rustcrypto::RustCrypto;

/// The public-key operations of the engine. Implementations are stateless (or internally
/// synchronised) singletons: `&'static` and shared between meetings and threads.
///
/// Message bytes given to [`CryptoProvider::sign`] and [`CryptoProvider::verify`] are the
/// complete `LabeledContent` (`spec/key-schedule.md` section 3); the provider hashes them with
/// SHA-256 as ECDSA P-256/SHA-256 requires.
pub trait CryptoProvider: Send + Sync + core::fmt::Debug + 'static {
    /// A short unique name ("rustcrypto", "ring", "aws-lc"). Two handles are equal when their names are.
    fn name(&self) -> &'static str;

    /// Signs `msg` with `key`: ECDSA P-256/SHA-256, deterministic (RFC 6979) and low-S.
    fn sign(&self, key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN];

    /// Verifies `sig` (r || s, 64 bytes) over `msg` under `key`. A high-S signature, an `r` or
    /// `s` out of range, or any mismatch is an error; the `&'static str` says which.
    fn verify(&self, key: &PublicIdentity, msg: &[u8], sig: &[u8]) -> Result<(), &'static str>;

    /// `DeriveKeyPair(ikm)` of the suite's KEM (RFC 9180 section 7.1.3). Returns the
    /// serialized private key (`SerializePrivateKey`) and public key.
    fn hpke_derive_keypair(
        &self,
        suite: CipherSuite,
        ikm: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError>;

    /// Validates an HPKE public key of `suite` (length, encoding, on the curve).
    fn hpke_check_public_key(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
    ) -> Result<(), CryptoError>;

    /// HPKE base-mode single-shot seal to `public_key`; the ephemeral key is drawn from `rng`.
    /// Returns `(enc, ciphertext)`.
    fn hpke_seal(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError>;

    /// HPKE base-mode single-shot open with `key` (its suite; its serialized private key is
    /// [`HpkeKeyPair::secret_key`]).
    fn hpke_open(
        &self,
        key: &HpkeKeyPair,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// A handle to a `'static` provider: `Copy`, compared by [`CryptoProvider::name`], printed as
/// its name. The default is [`RustCrypto`].
#[derive(Clone, Copy)]
pub struct Provider(&'static dyn CryptoProvider);

impl Provider {
    /// Wraps a provider. Leak a `Box` for one built at run time.
    pub const fn new(provider: &'static dyn CryptoProvider) -> Self {
        Self(provider)
    }

    /// The default provider, [`RustCrypto`].
    pub const fn rust_crypto() -> Self {
        Self(&RustCrypto)
    }

    /// The provider behind the handle.
    pub fn get(self) -> &'static dyn CryptoProvider {
        self.0
    }
}

impl Default for Provider {
    fn default() -> Self {
        Self::rust_crypto()
    }
}

impl core::ops::Deref for Provider {
    type Target = dyn CryptoProvider;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl core::fmt::Debug for Provider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Provider({})", self.0.name())
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for Provider {}

/// Every real provider compiled into this build (the vector tests run against each). The
/// fuzz provider is not one: it makes no real signatures or HPKE ciphertexts.
pub fn all() -> Vec<Provider> {
    vec![
        Provider::rust_crypto(),
        #[cfg(feature = "ring")]
        Provider::new(&Ring),
        #[cfg(feature = "aws-lc")]
        Provider::new(&AwsLc),
    ]
}

#[cfg(feature = "aws-lc")]
pub(crate) use aws_lc::AwsLcKey;
pub(crate) use rustcrypto::{Parsed as RustCryptoKey, derive as rustcrypto_derive};
