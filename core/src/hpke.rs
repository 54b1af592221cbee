//! HPKE (RFC 9180) base mode for sealing path secrets to participants (`spec/suites.md`).
//!
//! Suite 1 uses DHKEM(P-256, HKDF-SHA256); suite 2 the X-Wing hybrid KEM (X25519 + ML-KEM-768,
//! draft-connolly-cfrg-xwing-kem, HPKE KEM id 0x647a). Both use HKDF-SHA256 and
//! ChaCha20-Poly1305.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::{DhP256HkdfSha256, XWing};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::{CipherSuite, CryptoError};

/// Length of a suite-1 HPKE public key and encapsulated key.
pub const P256_KEM_KEY_LEN: usize = 65;
/// Length of an X-Wing public key (suite 2).
pub const XWING_PUBLIC_KEY_LEN: usize = 1216;
/// Length of an X-Wing encapsulated key (suite 2).
pub const XWING_ENC_LEN: usize = 1120;

#[derive(Clone)]
enum Private {
    P256(<DhP256HkdfSha256 as hpke::Kem>::PrivateKey),
    XWing(Box<<XWing as hpke::Kem>::PrivateKey>),
}

/// An HPKE key pair of one suite, generated per meeting. The private key is zeroized on drop
/// (the `hpke` crate zeroizes its secrets).
#[derive(Clone)]
pub struct HpkeKeyPair {
    suite: CipherSuite,
    private: Private,
    public: Vec<u8>,
}

impl core::fmt::Debug for HpkeKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HpkeKeyPair")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl HpkeKeyPair {
    /// `DeriveKeyPair(ikm)` with 32 bytes of `ikm` drawn from `rng` (RFC 9180 section 7.1.3).
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(suite: CipherSuite, rng: &mut R) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        Self::derive(suite, ikm.as_ref())
    }

    /// `DeriveKeyPair(ikm)` of the suite's KEM (used by test vectors).
    pub fn derive(suite: CipherSuite, ikm: &[u8]) -> Self {
        match suite {
            CipherSuite::P256Sha256ChaCha20Poly1305 => {
                let (private, public) = DhP256HkdfSha256::derive_keypair(ikm);
                Self {
                    suite,
                    private: Private::P256(private),
                    public: public.to_bytes().to_vec(),
                }
            }
            CipherSuite::XWingSha256ChaCha20Poly1305 => {
                let (private, public) = XWing::derive_keypair(ikm);
                Self {
                    suite,
                    private: Private::XWing(Box::new(private)),
                    public: public.to_bytes().to_vec(),
                }
            }
        }
    }

    /// The suite of this key pair.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The encoded public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// Opens a ciphertext sealed to this key pair.
    pub fn open(
        &self,
        enc: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let bad_enc = CryptoError::InvalidPublicKey {
            what: "HPKE encapsulated",
            reason: "not a valid encapsulation for the suite",
        };
        let failed = |_| CryptoError::DecryptFailed {
            what: "HPKE ciphertext",
        };
        let pt = match &self.private {
            Private::P256(sk) => {
                let enc = <DhP256HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc)
                    .map_err(|_| bad_enc)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, DhP256HkdfSha256>(
                    &OpModeR::Base,
                    sk,
                    &enc,
                    info,
                    ciphertext,
                    aad,
                )
                .map_err(failed)?
            }
            Private::XWing(sk) => {
                if enc.len() != XWING_ENC_LEN {
                    return Err(bad_enc);
                }
                let enc =
                    <XWing as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| bad_enc)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(
                    &OpModeR::Base,
                    sk,
                    &enc,
                    info,
                    ciphertext,
                    aad,
                )
                .map_err(failed)?
            }
        };
        Ok(Zeroizing::new(pt))
    }
}

/// Validates an HPKE public key of `suite`.
pub fn check_public_key(suite: CipherSuite, public_key: &[u8]) -> Result<(), CryptoError> {
    match suite {
        CipherSuite::P256Sha256ChaCha20Poly1305 => {
            if public_key.len() != P256_KEM_KEY_LEN || public_key.first() != Some(&0x04) {
                return Err(CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a 65-byte uncompressed P-256 point",
                });
            }
            <DhP256HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(public_key)
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
            <XWing as hpke::Kem>::PublicKey::from_bytes(public_key)
                .map(|_| ())
                .map_err(|_| CryptoError::InvalidPublicKey {
                    what: "HPKE",
                    reason: "not a valid X-Wing public key",
                })
        }
    }
}

/// Seals `plaintext` to `public_key` of `suite` in HPKE base mode. Returns `(enc, ciphertext)`.
pub fn seal<R: rand_core::CryptoRng + ?Sized>(
    suite: CipherSuite,
    public_key: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    check_public_key(suite, public_key)?;
    let invalid = |_| CryptoError::InvalidPublicKey {
        what: "HPKE",
        reason: "not a valid public key for the suite",
    };
    let sealed = |_| CryptoError::SealFailed("HPKE seal");
    let mut rng = RngRef(rng);
    match suite {
        CipherSuite::P256Sha256ChaCha20Poly1305 => {
            let pk = <DhP256HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(public_key)
                .map_err(invalid)?;
            let (enc, ct) = hpke::single_shot_seal_with_rng::<
                ChaCha20Poly1305,
                HkdfSha256,
                DhP256HkdfSha256,
            >(&OpModeS::Base, &pk, info, plaintext, aad, &mut rng)
            .map_err(sealed)?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
        CipherSuite::XWingSha256ChaCha20Poly1305 => {
            let pk = <XWing as hpke::Kem>::PublicKey::from_bytes(public_key).map_err(invalid)?;
            let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, XWing>(
                &OpModeS::Base,
                &pk,
                info,
                plaintext,
                aad,
                &mut rng,
            )
            .map_err(sealed)?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
    }
}

/// Adapts `&mut R` where `R: ?Sized` to a sized `CryptoRng` for the `hpke` crate.
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
