//! A random source that yields exactly the given bytes, then panics: pins the randomness a test
//! vector fixes (`ikmE` of RFC 9180, X-Wing encapsulation randomness, a key pair's `ikm`).
//!
//! Shared by the vector and provider tests (`#[path = "common/fixed_rng.rs"] mod fixed_rng;`)
//! and by the AWS-LC KEM's unit tests.

use std::convert::Infallible;

/// Yields the bytes of `.0` from position `.1` on; panics when they run out.
pub struct FixedRng(pub Vec<u8>, pub usize);

impl FixedRng {
    /// A source that yields `bytes`, from the first.
    #[allow(dead_code)]
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec(), 0)
    }
}

impl rand_core::TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.1 + dst.len();
        assert!(end <= self.0.len(), "FixedRng exhausted");
        dst.copy_from_slice(&self.0[self.1..end]);
        self.1 = end;
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRng {}
