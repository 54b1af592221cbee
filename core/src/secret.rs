//! A fixed-size secret that is zeroized on drop, compared in constant time and never printed.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret of `N` bytes (node keys, epoch secrets, frame keys).
///
/// It is zeroized when dropped, its `Debug` output is redacted and its equality is constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret<const N: usize>([u8; N]);

impl<const N: usize> Secret<N> {
    /// Wraps bytes as a secret.
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Copies a slice of exactly `N` bytes into a secret.
    pub fn from_slice(bytes: &[u8], what: &'static str) -> Result<Self, crate::CryptoError> {
        let arr: [u8; N] = bytes
            .try_into()
            .map_err(|_| crate::CryptoError::BadLength {
                what,
                expected: N,
                got: bytes.len(),
            })?;
        Ok(Self(arr))
    }

    /// Draws a fresh secret from `rng`.
    pub fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; N];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret bytes. Callers must not log or persist them unprotected.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> core::fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret<{N}>(redacted)")
    }
}

impl<const N: usize> PartialEq for Secret<N> {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl<const N: usize> Eq for Secret<N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::<4>::from_bytes([0xAB; 4]);
        let printed = format!("{s:?}");
        assert!(!printed.to_lowercase().contains("ab"), "{printed}");
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(Secret::from_bytes([1u8; 4]), Secret::from_bytes([1u8; 4]));
        assert_ne!(Secret::from_bytes([1u8; 4]), Secret::from_bytes([2u8; 4]));
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(Secret::<4>::from_slice(&[0u8; 3], "test").is_err());
        assert!(Secret::<4>::from_slice(&[0u8; 4], "test").is_ok());
    }
}
