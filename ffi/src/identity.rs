//! The long-term identity key object.

use std::sync::Arc;

use conclave_core::IdentityKey;

use crate::ConclaveError;
use crate::rng::os_rng;

/// A device's long-term identity key (ECDSA P-256).
///
/// Generate it once per device, store [`Identity::export_secret`] in the platform keychain
/// (Keychain, Android Keystore-wrapped storage, ...) and re-import it with
/// [`Identity::from_secret`]. Other participants see it as its [`Identity::fingerprint`], which
/// people can compare out of band.
#[derive(Debug, uniffi::Object)]
#[uniffi::export(Display)]
pub struct Identity {
    key: IdentityKey,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.key.public().fingerprint_string())
    }
}

#[uniffi::export]
impl Identity {
    /// Generates a fresh identity key from the operating system's random source.
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<Self>, ConclaveError> {
        let mut rng = os_rng()?;
        Ok(Arc::new(Self {
            key: IdentityKey::generate(&mut rng),
        }))
    }

    /// Imports a secret exported by [`Identity::export_secret`] (32 bytes). Fails with
    /// `InvalidArgument` on a wrong length or an invalid scalar.
    #[uniffi::constructor]
    pub fn from_secret(secret: Vec<u8>) -> Result<Arc<Self>, ConclaveError> {
        let key = IdentityKey::from_secret_bytes(&secret).map_err(ConclaveError::from_crypto)?;
        Ok(Arc::new(Self { key }))
    }

    /// The 32-byte secret key, for the application's keychain. Treat it as a password: the
    /// returned copy is the caller's to protect and erase.
    pub fn export_secret(&self) -> Vec<u8> {
        self.key.secret_bytes().to_vec()
    }

    /// The public key fingerprint, rendered as 8 groups of 5 digits (shown to users).
    pub fn fingerprint(&self) -> String {
        self.key.public().fingerprint_string()
    }

    /// The 65-byte public key (SEC1 uncompressed P-256 point).
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public().as_bytes().to_vec()
    }
}

impl Identity {
    /// A copy of the key for one meeting (the engine takes ownership of its identity).
    pub(crate) fn key_copy(&self) -> Result<IdentityKey, ConclaveError> {
        IdentityKey::from_secret_bytes(self.key.secret_bytes().as_ref())
            .map_err(|e| ConclaveError::internal(format!("identity copy failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_import_round_trip() {
        let a = Identity::generate().expect("generate");
        let b = Identity::from_secret(a.export_secret()).expect("import");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.public_key().len(), 65);
        let e = Identity::from_secret(vec![1; 31]).expect_err("short secret");
        assert!(matches!(e, ConclaveError::InvalidArgument { .. }), "{e}");
        assert!(!format!("{a:?}{a}").contains(&format!("{:?}", a.export_secret())));
    }
}
