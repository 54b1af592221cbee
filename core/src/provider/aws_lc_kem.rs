//! DHKEM(P-256, HKDF-SHA256) (RFC 9180 section 4.1, KEM id 0x0010) whose Diffie-Hellman runs on
//! AWS-LC (`aws-lc-rs` ECDH), as an implementation of the `hpke` crate's [`Kem`] trait.
//!
//! Only the KEM is ours; the HPKE key schedule, the AEAD and the single-shot API stay the `hpke`
//! crate's (`hpke::single_shot_seal_with_rng::<_, _, AwsLcP256>`), so the RFC 9180 code that is
//! not the group arithmetic is the same maintained code the RustCrypto provider runs. What is
//! here is the DHKEM glue of RFC 9180 section 4.1 and 7.1.3: `ExtractAndExpand` and
//! `DeriveKeyPair` (labeled HKDF-SHA256 with the `hkdf` crate, a dozen lines) around AWS-LC's
//! scalar multiplications.
//!
//! Why the `hpke` crate's trait and not `hpke-rs` (whose `HpkeCrypto` trait is a seam for exactly
//! this): `hpke` is already the engine's HPKE, and staying on it keeps one key schedule and one
//! AEAD implementation in the build; `hpke-rs` would add a second HPKE implementation and its
//! own RustCrypto back end for the parts AWS-LC does not replace. The cost is that [`Kem`]'s
//! `decap`, `NSecret` and [`SharedSecret`] are `#[doc(hidden)]` in `hpke` 0.15 (public, but
//! outside its documented API): an `hpke` upgrade must re-run the RFC 9180 A.3 test in this
//! module and `tests/provider.rs`.
//!
//! Randomness: the ephemeral key of `Encap` is `DeriveKeyPair(ikm)` with 32 bytes of `ikm` from
//! the caller's RNG (as the `hpke` crate's own P-256 KEM does), so a seal with the same RNG
//! output is byte-identical to the RustCrypto provider's.

use aws_lc_rs::agreement::{self, ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
use hkdf::Hkdf;
use hpke::hybrid_array::typenum::{U32, U65};
use hpke::kem::SharedSecret;
use hpke::{Deserializable, HpkeError, Kem, Serializable};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

/// RFC 9180 section 7.1: `KEM_ID` of DHKEM(P-256, HKDF-SHA256).
const KEM_ID: u16 = 0x0010;
/// `suite_id = concat("KEM", I2OSP(kem_id, 2))` (RFC 9180 section 4.1).
const SUITE_ID: [u8; 5] = [b'K', b'E', b'M', 0x00, 0x10];
/// RFC 9180 section 4: the version label of every labeled HKDF call.
const VERSION_LABEL: &[u8] = b"HPKE-v1";
/// `Npk` = `Nenc` of DHKEM(P-256): an uncompressed SEC1 point.
pub(crate) const NPK: usize = 65;
/// `Nsk` of DHKEM(P-256): a big-endian scalar.
const NSK: usize = 32;
/// RFC 9180 section 7.1.3: `DeriveKeyPair` gives up after this many candidates (counter 0..=255).
const DERIVE_CANDIDATES: u16 = 256;

/// `LabeledExtract(salt = "", label, ikm)`: the HKDF state holding the PRK.
fn labeled_extract(label: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    let mut extract = hkdf::HkdfExtract::<Sha256>::new(None);
    for part in [VERSION_LABEL, &SUITE_ID, label, ikm] {
        extract.input_ikm(part);
    }
    extract.finalize().1
}

/// `LabeledExpand(prk, label, info, L)` into `out` (`L = out.len()`, at most 255 * 32).
fn labeled_expand(
    prk: &Hkdf<Sha256>,
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), HpkeError> {
    let len = u16::try_from(out.len())
        .map_err(|_| HpkeError::KdfOutputTooLong)?
        .to_be_bytes();
    prk.expand_multi_info(&[&len, VERSION_LABEL, &SUITE_ID, label, info], out)
        .map_err(|_| HpkeError::KdfOutputTooLong)
}

/// `ExtractAndExpand(dh, kem_context)` (RFC 9180 section 4.1).
fn extract_and_expand(dh: &[u8], kem_context: &[u8]) -> Result<SharedSecret<AwsLcP256>, HpkeError> {
    let prk = labeled_extract(b"eae_prk", dh);
    let mut shared = SharedSecret::<AwsLcP256>::default();
    labeled_expand(&prk, b"shared_secret", kem_context, &mut shared.0)?;
    Ok(shared)
}

/// `kem_context = concat(enc, pkRm)`.
fn kem_context(enc: &[u8; NPK], pk_r: &[u8; NPK]) -> [u8; 2 * NPK] {
    let mut ctx = [0u8; 2 * NPK];
    let (a, b) = ctx.split_at_mut(NPK);
    a.copy_from_slice(enc);
    b.copy_from_slice(pk_r);
    ctx
}

/// `DH(sk, pk)` with AWS-LC, then `ExtractAndExpand` over `kem_context`.
fn dh_kem(
    sk: &PrivateKey,
    pk: &PublicKey,
    kem_context: &[u8],
    error: HpkeError,
) -> Result<SharedSecret<AwsLcP256>, HpkeError> {
    agreement::agree(
        &sk.key,
        UnparsedPublicKey::new(&ECDH_P256, &pk.0[..]),
        error,
        |dh| extract_and_expand(dh, kem_context),
    )
}

/// `DeriveKeyPair(ikm)` (RFC 9180 section 7.1.3, bitmask 0xff): the first candidate scalar in
/// `1..n` (AWS-LC rejects 0 and values not below the group order), and its public key.
pub(crate) fn derive(ikm: &[u8]) -> Result<(PrivateKey, PublicKey), HpkeError> {
    let prk = labeled_extract(b"dkp_prk", ikm);
    for counter in 0..DERIVE_CANDIDATES {
        let mut candidate = Zeroizing::new([0u8; NSK]);
        // `counter` < 256: the low byte is I2OSP(counter, 1).
        let counter = [counter.to_be_bytes()[1]];
        labeled_expand(&prk, b"candidate", &counter, candidate.as_mut())?;
        if let Ok(sk) = PrivateKey::from_scalar(candidate) {
            let pk = sk.public_key();
            return Ok((sk, pk));
        }
    }
    Err(HpkeError::ValidationError)
}

/// DHKEM(P-256, HKDF-SHA256) over AWS-LC's ECDH (the `hpke` crate's KEM id 0x0010; its
/// encapsulated keys, public keys and shared secrets are those of
/// `hpke::kem::DhP256HkdfSha256`).
pub(crate) struct AwsLcP256;

/// A P-256 public key: a 65-byte uncompressed SEC1 point that AWS-LC parsed as a point on the
/// curve (never the point at infinity, which has no 65-byte encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicKey([u8; NPK]);

impl PublicKey {
    /// The encoded point.
    pub(crate) fn as_bytes(&self) -> &[u8; NPK] {
        &self.0
    }
}

impl Serializable for PublicKey {
    type OutputSize = U65;

    fn write_exact(&self, buf: &mut [u8]) {
        // The trait requires `buf.len() == 65` (the `hpke` crate panics otherwise as well);
        // a shorter buffer gets a prefix and never a panic here.
        for (out, b) in buf.iter_mut().zip(self.0) {
            *out = b;
        }
    }
}

impl Deserializable for PublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let bytes: [u8; NPK] = encoded
            .try_into()
            .map_err(|_| HpkeError::IncorrectInputLength(NPK, encoded.len()))?;
        // AWS-LC also parses compressed, hybrid (0x06/0x07) and X.509 encodings; RFC 9180
        // `DeserializePublicKey` takes the uncompressed form only.
        if bytes[0] != 0x04 {
            return Err(HpkeError::ValidationError);
        }
        ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, &bytes[..]))
            .map_err(|_| HpkeError::ValidationError)?;
        Ok(Self(bytes))
    }
}

/// A P-256 private key: the scalar (zeroized on drop), AWS-LC's key made from it (which frees
/// and cleanses its memory on drop) and the public key.
#[derive(Clone)]
pub(crate) struct PrivateKey {
    scalar: Zeroizing<[u8; NSK]>,
    key: std::sync::Arc<agreement::PrivateKey>,
    public: PublicKey,
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Imports a scalar in `1..n` (AWS-LC rejects others) and computes its public key.
    fn from_scalar(scalar: Zeroizing<[u8; NSK]>) -> Result<Self, HpkeError> {
        let key = agreement::PrivateKey::from_private_key(&ECDH_P256, scalar.as_ref())
            .map_err(|_| HpkeError::ValidationError)?;
        let public = key
            .compute_public_key()
            .map_err(|_| HpkeError::ValidationError)?;
        let public: [u8; NPK] = public
            .as_ref()
            .try_into()
            .map_err(|_| HpkeError::ValidationError)?;
        Ok(Self {
            scalar,
            key: std::sync::Arc::new(key),
            public: PublicKey(public),
        })
    }

    /// The public key of this private key (computed once, when it was imported).
    pub(crate) fn public_key(&self) -> PublicKey {
        self.public.clone()
    }
}

impl ConstantTimeEq for PrivateKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.scalar.ct_eq(&*other.scalar)
    }
}

impl Serializable for PrivateKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        for (out, b) in buf.iter_mut().zip(self.scalar.iter()) {
            *out = *b;
        }
    }
}

impl Deserializable for PrivateKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let scalar: [u8; NSK] = encoded
            .try_into()
            .map_err(|_| HpkeError::IncorrectInputLength(NSK, encoded.len()))?;
        Self::from_scalar(Zeroizing::new(scalar))
    }
}

/// The encapsulated key: the ephemeral public key.
#[derive(Clone)]
pub(crate) struct EncappedKey(PublicKey);

impl Serializable for EncappedKey {
    type OutputSize = U65;

    fn write_exact(&self, buf: &mut [u8]) {
        self.0.write_exact(buf);
    }
}

impl Deserializable for EncappedKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        PublicKey::from_bytes(encoded).map(Self)
    }
}

impl Kem for AwsLcP256 {
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;
    type EncappedKey = EncappedKey;
    type NSecret = U32;
    const KEM_ID: u16 = KEM_ID;

    fn sk_to_pk(sk: &PrivateKey) -> PublicKey {
        sk.public_key()
    }

    /// `DeriveKeyPair(ikm)`. The trait's signature is infallible; the engine calls the
    /// fallible [`derive`] instead. The only failure is 256 candidates out of range in a row
    /// (probability about 2^-8192) or an AWS-LC allocation failure.
    fn derive_keypair(ikm: &[u8]) -> (PrivateKey, PublicKey) {
        #[allow(clippy::expect_used)]
        derive(ikm).expect("DeriveKeyPair: 256 candidates rejected (probability 2^-8192)")
    }

    fn decap(
        sk_recip: &PrivateKey,
        pk_sender_id: Option<&PublicKey>,
        encapped_key: &EncappedKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        // Base mode only (the engine never authenticates the sender with the KEM).
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let ctx = kem_context(encapped_key.0.as_bytes(), sk_recip.public.as_bytes());
        dh_kem(sk_recip, &encapped_key.0, &ctx, HpkeError::DecapError)
    }

    fn encap_with_rng(
        pk_recip: &PublicKey,
        sender_id_keypair: Option<(&PrivateKey, &PublicKey)>,
        csprng: &mut impl CryptoRng,
    ) -> Result<(SharedSecret<Self>, EncappedKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let mut ikm = Zeroizing::new([0u8; NSK]);
        csprng.fill_bytes(ikm.as_mut());
        let (sk_e, pk_e) = derive(ikm.as_ref()).map_err(|_| HpkeError::EncapError)?;
        let ctx = kem_context(pk_e.as_bytes(), pk_recip.as_bytes());
        let shared = dh_kem(&sk_e, pk_recip, &ctx, HpkeError::EncapError)?;
        Ok((shared, EncappedKey(pk_e)))
    }
}

#[cfg(test)]
#[path = "aws_lc_kem_tests.rs"]
mod tests;
