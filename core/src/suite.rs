//! Cipher suites (`spec/suites.md`): which primitives seal secrets to participants.

use crate::CryptoError;

/// A cipher suite id as carried on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CipherSuite {
    /// Suite 1: ECDSA P-256/SHA-256 signatures; HPKE base mode with DHKEM(P-256, HKDF-SHA256),
    /// HKDF-SHA256 and ChaCha20-Poly1305; HKDF-SHA256 derivations; ChaCha20-Poly1305 frames.
    P256Sha256ChaCha20Poly1305,
    /// Suite 2: as suite 1, but HPKE seals use the X-Wing hybrid KEM (X25519 + ML-KEM-768,
    /// KEM id 0x647a), secure if either part holds: key distribution stays confidential against
    /// an attacker who records the meeting now and has a quantum computer later.
    XWingSha256ChaCha20Poly1305,
}

impl CipherSuite {
    /// Every suite this build implements, strongest first.
    pub const ALL: &'static [CipherSuite] = &[
        CipherSuite::XWingSha256ChaCha20Poly1305,
        CipherSuite::P256Sha256ChaCha20Poly1305,
    ];

    /// The wire id of the suite.
    pub fn id(self) -> u32 {
        match self {
            CipherSuite::P256Sha256ChaCha20Poly1305 => 1,
            CipherSuite::XWingSha256ChaCha20Poly1305 => 2,
        }
    }

    /// Whether the suite's key distribution resists a quantum attacker.
    pub fn is_post_quantum(self) -> bool {
        matches!(self, CipherSuite::XWingSha256ChaCha20Poly1305)
    }

    /// Strength order used for negotiation: higher is stronger.
    pub fn strength(self) -> u8 {
        match self {
            CipherSuite::P256Sha256ChaCha20Poly1305 => 1,
            CipherSuite::XWingSha256ChaCha20Poly1305 => 2,
        }
    }

    /// Looks up a suite by its wire id.
    pub fn from_id(id: u32) -> Result<Self, CryptoError> {
        match id {
            1 => Ok(CipherSuite::P256Sha256ChaCha20Poly1305),
            2 => Ok(CipherSuite::XWingSha256ChaCha20Poly1305),
            other => Err(CryptoError::UnsupportedSuite(other)),
        }
    }

    /// RFC 9180 ids (KEM, KDF, AEAD) of the suite's HPKE configuration.
    pub fn hpke_ids(self) -> (u16, u16, u16) {
        match self {
            CipherSuite::P256Sha256ChaCha20Poly1305 => (0x0010, 0x0001, 0x0003),
            CipherSuite::XWingSha256ChaCha20Poly1305 => (0x647a, 0x0001, 0x0003),
        }
    }

    /// Length of the suite's HPKE public key encoding.
    pub fn hpke_public_key_len(self) -> usize {
        match self {
            CipherSuite::P256Sha256ChaCha20Poly1305 => 65,
            CipherSuite::XWingSha256ChaCha20Poly1305 => 1216,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for s in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(s.id()).unwrap(), *s);
        }
        assert_eq!(
            CipherSuite::from_id(0),
            Err(CryptoError::UnsupportedSuite(0))
        );
        assert_eq!(
            CipherSuite::P256Sha256ChaCha20Poly1305.hpke_ids(),
            (0x0010, 0x0001, 0x0003)
        );
    }
}
