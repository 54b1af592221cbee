//! The default provider: RustCrypto's `p256` for ECDSA and the `hpke` crate (RFC 9180) for HPKE.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::{DhP256HkdfSha256, XWing};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use p256::ecdsa::Signature;
use p256::ecdsa::signature::{Signer, Verifier};
use zeroize::Zeroizing;

use super::CryptoProvider;
#[cfg(fuzzing)]
use super::memo;
use crate::hpke::HpkeKeyPair;
use crate::hpke::{P256_KEM_KEY_LEN, XWING_ENC_LEN, XWING_PUBLIC_KEY_LEN};
use crate::identity::{IdentityKey, PublicIdentity, SIGNATURE_LEN};
use crate::{CipherSuite, CryptoError};

/// RustCrypto: `p256` ECDSA (RFC 6979), `hpke` over `p256`, `ml-kem`, `x25519-dalek` and
/// `chacha20poly1305`. The default provider. In fuzz builds it remembers signatures and
/// verification results (both pure functions of their inputs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl RustCrypto {
    fn sign_now(key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let sig: Signature = key.signing_key().sign(msg);
        let sig = sig.normalize_s();
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(&sig.to_bytes());
        out
    }
}

/// Checks the encoding of a signature: 64 bytes, `r` and `s` in `1..n`, `s` low.
pub(super) fn parse_low_s(sig: &[u8]) -> Result<Signature, &'static str> {
    use p256::elliptic_curve::scalar::IsHigh;
    if sig.len() != SIGNATURE_LEN {
        return Err("signature is not 64 bytes");
    }
    let signature = Signature::from_slice(sig).map_err(|_| "r or s out of range")?;
    let s: p256::Scalar = *signature.s();
    if bool::from(s.is_high()) {
        return Err("signature is not in low-S form");
    }
    Ok(signature)
}

pub(super) const MISMATCH: &str = "signature does not match the key and content";

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn sign(&self, key: &IdentityKey, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        #[cfg(fuzzing)]
        return memo::signed(memo::key(&[b"sign", key.public().as_bytes(), msg]), || {
            Self::sign_now(key, msg)
        });
        #[cfg(not(fuzzing))]
        Self::sign_now(key, msg)
    }

    fn verify(&self, key: &PublicIdentity, msg: &[u8], sig: &[u8]) -> Result<(), &'static str> {
        let signature = parse_low_s(sig)?;
        let check = || key.verifying_key().verify(msg, &signature).is_ok();
        #[cfg(fuzzing)]
        let ok = memo::verified(memo::key(&[b"verify", key.as_bytes(), msg, sig]), check);
        #[cfg(not(fuzzing))]
        let ok = check();
        if ok { Ok(()) } else { Err(MISMATCH) }
    }

    fn hpke_derive_keypair(
        &self,
        suite: CipherSuite,
        ikm: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
        Ok(derive(suite, ikm))
    }

    fn hpke_check_public_key(
        &self,
        suite: CipherSuite,
        public_key: &[u8],
    ) -> Result<(), CryptoError> {
        check_public_key(suite, public_key)
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
        check_public_key(suite, public_key)?;
        match suite {
            CipherSuite::P256Sha256ChaCha20Poly1305 => {
                seal_with::<DhP256HkdfSha256>(public_key, info, aad, plaintext, rng)
            }
            CipherSuite::XWingSha256ChaCha20Poly1305 => {
                seal_with::<XWing>(public_key, info, aad, plaintext, rng)
            }
        }
    }

    fn hpke_open(
        &self,
        key: &HpkeKeyPair,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // Parsed once per key pair (an X-Wing key expands its ML-KEM key when parsed).
        let parsed = key
            .rustcrypto_key()
            .get_or_init(|| Parsed::new(key.suite(), key.secret_key()));
        match parsed {
            Some(Parsed::P256(sk)) => open_with::<DhP256HkdfSha256>(sk, enc, info, aad, ciphertext),
            Some(Parsed::XWing(sk)) => {
                if enc.len() != XWING_ENC_LEN {
                    return Err(BAD_ENC);
                }
                open_with::<XWing>(sk, enc, info, aad, ciphertext)
            }
            None => Err(CryptoError::InvalidSecretKey(
                "not an HPKE private key of the suite",
            )),
        }
    }
}

const BAD_ENC: CryptoError = CryptoError::InvalidPublicKey {
    what: "HPKE encapsulated",
    reason: "not a valid encapsulation for the suite",
};

/// `DeriveKeyPair(ikm)` of the suite's KEM: (serialized private key, public key).
pub(crate) fn derive(suite: CipherSuite, ikm: &[u8]) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    fn with<K: Kem>(ikm: &[u8]) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
        let (private, public) = K::derive_keypair(ikm);
        (
            Zeroizing::new(private.to_bytes().to_vec()),
            public.to_bytes().to_vec(),
        )
    }
    match suite {
        CipherSuite::P256Sha256ChaCha20Poly1305 => with::<DhP256HkdfSha256>(ikm),
        CipherSuite::XWingSha256ChaCha20Poly1305 => with::<XWing>(ikm),
    }
}

fn seal_with<K: Kem>(
    public_key: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let pk = K::PublicKey::from_bytes(public_key).map_err(|_| CryptoError::InvalidPublicKey {
        what: "HPKE",
        reason: "not a valid public key for the suite",
    })?;
    seal_to::<K>(&pk, info, aad, plaintext, rng)
}

/// HPKE base-mode single-shot seal to a parsed public key of `K`, with the `hpke` crate's key
/// schedule and ChaCha20-Poly1305 (shared with the AWS-LC provider's KEM).
pub(super) fn seal_to<K: Kem>(
    pk: &K::PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, K>(
        &OpModeS::Base,
        pk,
        info,
        plaintext,
        aad,
        &mut RngRef(rng),
    )
    .map_err(|_| CryptoError::SealFailed("HPKE seal"))?;
    Ok((enc.to_bytes().to_vec(), ct))
}

/// A private key parsed by the `hpke` crate, cached in its [`HpkeKeyPair`] (zeroized on drop
/// by the `hpke` crate).
#[derive(Clone)]
pub(crate) enum Parsed {
    P256(<DhP256HkdfSha256 as Kem>::PrivateKey),
    XWing(Box<<XWing as Kem>::PrivateKey>),
}

impl Parsed {
    /// Parses a serialized private key of `suite`; `None` if it is not one.
    fn new(suite: CipherSuite, secret_key: &[u8]) -> Option<Self> {
        match suite {
            CipherSuite::P256Sha256ChaCha20Poly1305 => {
                <DhP256HkdfSha256 as Kem>::PrivateKey::from_bytes(secret_key)
                    .ok()
                    .map(Parsed::P256)
            }
            CipherSuite::XWingSha256ChaCha20Poly1305 => {
                <XWing as Kem>::PrivateKey::from_bytes(secret_key)
                    .ok()
                    .map(|k| Parsed::XWing(Box::new(k)))
            }
        }
    }
}

/// HPKE base-mode single-shot open with a parsed private key of `K` (shared with the AWS-LC
/// provider's KEM).
pub(super) fn open_with<K: Kem>(
    sk: &K::PrivateKey,
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let enc = K::EncappedKey::from_bytes(enc).map_err(|_| BAD_ENC)?;
    let pt = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, K>(
        &OpModeR::Base,
        sk,
        &enc,
        info,
        ciphertext,
        aad,
    )
    .map_err(|_| CryptoError::DecryptFailed {
        what: "HPKE ciphertext",
    })?;
    Ok(Zeroizing::new(pt))
}

/// Validates an HPKE public key of `suite`.
pub(crate) fn check_public_key(suite: CipherSuite, public_key: &[u8]) -> Result<(), CryptoError> {
    match suite {
        CipherSuite::P256Sha256ChaCha20Poly1305 => {
            if public_key.len() != P256_KEM_KEY_LEN || public_key.first() != Some(&0x04) {
                return Err(CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a 65-byte uncompressed P-256 point",
                });
            }
            <DhP256HkdfSha256 as Kem>::PublicKey::from_bytes(public_key)
                .map(|_| ())
                .map_err(|_| CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a point on P-256",
                })
        }
        CipherSuite::XWingSha256ChaCha20Poly1305 => {
            if public_key.len() != XWING_PUBLIC_KEY_LEN {
                return Err(CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a 1216-byte X-Wing public key",
                });
            }
            <XWing as Kem>::PublicKey::from_bytes(public_key)
                .map(|_| ())
                .map_err(|_| CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a valid X-Wing public key",
                })
        }
    }
}

/// Adapts `&mut dyn CryptoRng` to a sized `CryptoRng` for the `hpke` crate.
pub(super) struct RngRef<'a>(pub(super) &'a mut dyn rand_core::CryptoRng);

impl rand_core::TryRng for RngRef<'_> {
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

impl rand_core::TryCryptoRng for RngRef<'_> {}
