//! The AEAD seam: ChaCha20-Poly1305 (RFC 8439) from RustCrypto by default, or from `ring` with the
//! `ring` cargo feature.
//!
//! The backend is a type parameter of [`FrameCrypto`](super::FrameCrypto), chosen at compile
//! time: the hot path has no dynamic dispatch.

use crate::Secret;

/// Length of an AEAD key.
pub const KEY_LEN: usize = 32;
/// Length of an AEAD nonce.
pub const NONCE_LEN: usize = 12;

/// An AEAD operation failed (tag mismatch, or an input over the cipher's limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadFailure;

/// A ChaCha20-Poly1305 implementation with a 32-byte key, 12-byte nonce and 16-byte tag.
pub trait AeadBackend: Send + Sync + 'static {
    /// A key prepared for sealing and opening. Implementations should zeroize it on drop.
    type Key: Send + Sync + 'static;

    /// A short name for diagnostics and benchmarks.
    const NAME: &'static str;

    /// Prepares a key.
    fn key(key: &Secret<KEY_LEN>) -> Result<Self::Key, AeadFailure>;

    /// Encrypts `in_out` in place and returns the tag.
    fn seal_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], AeadFailure>;

    /// Verifies `tag` over `aad` and the ciphertext `in_out`, then decrypts `in_out` in place.
    /// On failure `in_out` is left unspecified (the caller discards it).
    fn open_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AeadFailure>;

    /// Encrypts `input` into `output` (of the same length) and returns the tag.
    ///
    /// The default copies and seals in place; backends that can read and write separate buffers
    /// override it.
    fn seal_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; 16], AeadFailure> {
        if input.len() != output.len() {
            return Err(AeadFailure);
        }
        output.copy_from_slice(input);
        Self::seal_in_place_detached(key, nonce, aad, output)
    }

    /// Verifies and decrypts `input` into `output` (of the same length).
    ///
    /// The default copies and opens in place; backends that can read and write separate buffers
    /// override it.
    fn open_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AeadFailure> {
        if input.len() != output.len() {
            return Err(AeadFailure);
        }
        output.copy_from_slice(input);
        Self::open_in_place_detached(key, nonce, aad, output, tag)
    }
}

/// RustCrypto's `chacha20poly1305` (pure Rust, SIMD where available). The default backend
/// without the `ring` feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoBackend;

impl AeadBackend for RustCryptoBackend {
    // Zeroized on drop: the `zeroize` feature of chacha20poly1305 is enabled (through `hpke`).
    type Key = chacha20poly1305::ChaCha20Poly1305;

    const NAME: &'static str = "rustcrypto";

    fn key(key: &Secret<KEY_LEN>) -> Result<Self::Key, AeadFailure> {
        use chacha20poly1305::KeyInit;
        Ok(chacha20poly1305::ChaCha20Poly1305::new(key.expose().into()))
    }

    #[inline]
    fn seal_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], AeadFailure> {
        use chacha20poly1305::AeadInOut;
        key.encrypt_inout_detached(nonce.into(), aad, in_out.into())
            .map(Into::into)
            .map_err(|_| AeadFailure)
    }

    #[inline]
    fn open_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AeadFailure> {
        use chacha20poly1305::AeadInOut;
        key.decrypt_inout_detached(nonce.into(), aad, in_out.into(), tag.into())
            .map_err(|_| AeadFailure)
    }

    #[inline]
    fn seal_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<[u8; 16], AeadFailure> {
        use chacha20poly1305::AeadInOut;
        let buf =
            chacha20poly1305::aead::inout::InOutBuf::new(input, output).map_err(|_| AeadFailure)?;
        key.encrypt_inout_detached(nonce.into(), aad, buf)
            .map(Into::into)
            .map_err(|_| AeadFailure)
    }

    #[inline]
    fn open_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AeadFailure> {
        use chacha20poly1305::AeadInOut;
        let buf =
            chacha20poly1305::aead::inout::InOutBuf::new(input, output).map_err(|_| AeadFailure)?;
        key.decrypt_inout_detached(nonce.into(), aad, buf, tag.into())
            .map_err(|_| AeadFailure)
    }
}

/// `ring`'s ChaCha20-Poly1305 (assembly). Available with the `ring` cargo feature, and then the
/// default backend.
///
/// Note: `ring` does not zeroize its expanded keys when they are dropped.
#[cfg(feature = "ring")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RingBackend;

#[cfg(feature = "ring")]
impl AeadBackend for RingBackend {
    type Key = ring::aead::LessSafeKey;

    const NAME: &'static str = "ring";

    fn key(key: &Secret<KEY_LEN>) -> Result<Self::Key, AeadFailure> {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key.expose())
            .map_err(|_| AeadFailure)?;
        Ok(ring::aead::LessSafeKey::new(unbound))
    }

    #[inline]
    fn seal_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; 16], AeadFailure> {
        let tag = key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(*nonce),
                ring::aead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| AeadFailure)?;
        <[u8; 16]>::try_from(tag.as_ref()).map_err(|_| AeadFailure)
    }

    #[inline]
    fn open_in_place_detached(
        key: &Self::Key,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AeadFailure> {
        key.open_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(*nonce),
            ring::aead::Aad::from(aad),
            ring::aead::Tag::from(*tag),
            in_out,
            0..,
        )
        .map(|_| ())
        .map_err(|_| AeadFailure)
    }
}

/// The backend [`FrameCrypto`](super::FrameCrypto) uses unless told otherwise: [`RingBackend`]
/// with the `ring` feature, [`RustCryptoBackend`] without.
#[cfg(feature = "ring")]
pub type DefaultBackend = RingBackend;

/// The backend [`FrameCrypto`](super::FrameCrypto) uses unless told otherwise: `RingBackend`
/// with the `ring` feature, [`RustCryptoBackend`] without.
#[cfg(not(feature = "ring"))]
pub type DefaultBackend = RustCryptoBackend;
