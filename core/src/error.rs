//! Errors of the cryptographic layer.

/// A cryptographic operation failed. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A public key is not a valid encoding for its algorithm.
    #[error("invalid {what} public key: {reason}")]
    InvalidPublicKey {
        /// Which key (identity, HPKE).
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A secret key could not be imported.
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(&'static str),
    /// A signature has the wrong length, is not low-S, or does not verify.
    #[error("signature over {label:?} does not verify: {reason}")]
    BadSignature {
        /// The signature label (`spec/key-schedule.md` section 3).
        label: &'static str,
        /// What failed.
        reason: &'static str,
    },
    /// An AEAD or HPKE open failed: the ciphertext was tampered with or sealed under another key.
    #[error("{what} does not decrypt (tampered or wrong key)")]
    DecryptFailed {
        /// What was being opened.
        what: &'static str,
    },
    /// The cipher suite is not implemented.
    #[error("cipher suite {0:#06x} is not supported")]
    UnsupportedSuite(u32),
    /// Encryption failed (HPKE sealing to a malformed key, or an input over the cipher's limit).
    #[error("{0} failed")]
    SealFailed(&'static str),
    /// A length did not match what the algorithm requires.
    #[error("{what} must be {expected} bytes, got {got}")]
    BadLength {
        /// What had the wrong length.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The received length.
        got: usize,
    },
}
