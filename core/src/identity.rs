//! Long-term identity keys: ECDSA P-256 with SHA-256, signing `LabeledContent(label, content)`
//! (`spec/key-schedule.md` section 3).

use p256::ecdsa::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::provider::Provider;
use crate::schedule::{fingerprint, labeled_content, render_fingerprint};

/// Length of an encoded identity public key (SEC1 uncompressed).
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of an exported identity secret key.
pub const SECRET_KEY_LEN: usize = 32;

/// Length of a signature (r || s).
pub const SIGNATURE_LEN: usize = 64;

/// A device's long-term identity signing key. The secret scalar is zeroized on drop (a clone
/// too). It signs through its [`Provider`] ([`crate::provider::RustCrypto`] unless
/// [`IdentityKey::with_provider`] says otherwise; a meeting binds it to its configured one).
#[derive(Clone)]
pub struct IdentityKey {
    signing: SigningKey,
    public: PublicIdentity,
}

impl core::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("public", &self.public)
            .field("provider", &self.public.provider)
            .finish_non_exhaustive()
    }
}

impl IdentityKey {
    /// Generates a fresh identity key from `rng`.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let mut bytes = Zeroizing::new([0u8; SECRET_KEY_LEN]);
            rng.fill_bytes(bytes.as_mut());
            if let Ok(k) = Self::from_secret_bytes(bytes.as_ref()) {
                return k;
            }
            // A zero or out-of-range scalar has probability ~2^-128; draw again.
        }
    }

    /// Imports a secret key exported by [`IdentityKey::secret_bytes`] (32-byte big-endian scalar).
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SECRET_KEY_LEN {
            return Err(CryptoError::BadLength {
                what: "identity secret key",
                expected: SECRET_KEY_LEN,
                got: bytes.len(),
            });
        }
        let signing = SigningKey::from_slice(bytes)
            .map_err(|_| CryptoError::InvalidSecretKey("not a valid P-256 scalar"))?;
        let public = PublicIdentity::from_verifying_key(*signing.verifying_key());
        Ok(Self { signing, public })
    }

    /// Exports the secret scalar for the application's keychain. Zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        out.copy_from_slice(&self.signing.to_bytes());
        out
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The same key, signing (and its public half verifying) through `provider`.
    #[must_use]
    pub fn with_provider(mut self, provider: Provider) -> Self {
        self.public.provider = provider;
        self
    }

    /// The provider this key signs through.
    pub fn provider(&self) -> Provider {
        self.public.provider
    }

    /// The `p256` signing key (for [`crate::provider::RustCrypto`]).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs `LabeledContent(label, content)` deterministically (RFC 6979), low-S, through the
    /// key's provider.
    pub fn sign(&self, label: &str, content: &[u8]) -> [u8; SIGNATURE_LEN] {
        let msg = labeled_content(label, content);
        self.public.provider.sign(self, &msg)
    }
}

/// An identity public key, validated on import. Verifies through its [`Provider`]
/// ([`crate::provider::RustCrypto`] unless [`PublicIdentity::with_provider`] says otherwise).
/// Equality compares the key only.
#[derive(Clone)]
pub struct PublicIdentity {
    key: VerifyingKey,
    encoded: [u8; PUBLIC_KEY_LEN],
    provider: Provider,
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for PublicIdentity {}

impl core::fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicIdentity({})", self.fingerprint_string())
    }
}

impl PublicIdentity {
    fn from_verifying_key(key: VerifyingKey) -> Self {
        let point = key.to_sec1_point(false);
        let mut encoded = [0u8; PUBLIC_KEY_LEN];
        encoded.copy_from_slice(point.as_bytes());
        Self {
            key,
            encoded,
            provider: Provider::default(),
        }
    }

    /// The same key, verifying through `provider`.
    #[must_use]
    pub fn with_provider(mut self, provider: Provider) -> Self {
        self.provider = provider;
        self
    }

    /// The `p256` verifying key (for [`crate::provider::RustCrypto`]).
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Parses a 65-byte SEC1 uncompressed P-256 point; other encodings are rejected.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != PUBLIC_KEY_LEN {
            return Err(CryptoError::BadLength {
                what: "identity public key",
                expected: PUBLIC_KEY_LEN,
                got: bytes.len(),
            });
        }
        if bytes.first() != Some(&0x04) {
            return Err(CryptoError::InvalidPublicKey {
                what: "identity",
                reason: "not an uncompressed SEC1 point",
            });
        }
        let key =
            VerifyingKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey {
                what: "identity",
                reason: "not a point on P-256",
            })?;
        Ok(Self::from_verifying_key(key))
    }

    /// The 65-byte encoding.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.encoded
    }

    /// `LabeledHash("fingerprint", public key)`.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.encoded)
    }

    /// The fingerprint rendered as 8 groups of 5 digits.
    pub fn fingerprint_string(&self) -> String {
        render_fingerprint(&self.fingerprint())
    }

    /// Verifies a signature over `LabeledContent(label, content)` through the key's provider;
    /// rejects high-S signatures.
    pub fn verify(
        &self,
        label: &'static str,
        content: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        let msg = labeled_content(label, content);
        self.provider
            .verify(self, &msg, sig)
            .map_err(|reason| CryptoError::BadSignature { label, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::Signature;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sign_verify_round_trip_and_label_separation() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let k = IdentityKey::generate(&mut rng);
        let sig = k.sign("commit", b"content");
        k.public().verify("commit", b"content", &sig).unwrap();
        assert!(k.public().verify("heartbeat", b"content", &sig).is_err());
        assert!(k.public().verify("commit", b"content!", &sig).is_err());
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(k.public().verify("commit", b"content", &bad).is_err());
    }

    #[test]
    fn high_s_is_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let k = IdentityKey::generate(&mut rng);
        let sig = k.sign("commit", b"x");
        let parsed = Signature::from_slice(&sig).unwrap();
        // Negate s: (r, n - s) is the high-S twin of a valid signature.
        let high =
            Signature::from_scalars(parsed.r().to_bytes(), (-*parsed.s()).to_bytes()).unwrap();
        let err = k
            .public()
            .verify("commit", b"x", &high.to_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("low-S"), "{err}");
    }

    #[test]
    fn secret_export_import() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let k = IdentityKey::generate(&mut rng);
        let again = IdentityKey::from_secret_bytes(k.secret_bytes().as_ref()).unwrap();
        assert_eq!(k.public(), again.public());
        assert!(IdentityKey::from_secret_bytes(&[0u8; 32]).is_err());
        assert!(IdentityKey::from_secret_bytes(&[1u8; 31]).is_err());
    }

    #[test]
    fn public_key_parsing_rejects_bad_encodings() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let k = IdentityKey::generate(&mut rng);
        let enc = *k.public().as_bytes();
        assert_eq!(PublicIdentity::from_bytes(&enc).unwrap(), *k.public());
        assert!(PublicIdentity::from_bytes(&enc[..33]).is_err());
        let mut off_curve = enc;
        off_curve[64] ^= 1;
        assert!(PublicIdentity::from_bytes(&off_curve).is_err());
        let mut compressed_tag = enc;
        compressed_tag[0] = 0x02;
        assert!(PublicIdentity::from_bytes(&compressed_tag).is_err());
        assert!(!format!("{k:?}").contains(&hex::encode(k.secret_bytes().as_ref())));
    }
}
