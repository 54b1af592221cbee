//! Randomness from the operating system, without a panic path.
//!
//! The engine takes an infallible `rand_core::CryptoRng`. `rand_core::UnwrapErr(getrandom::SysRng)`
//! (the pattern `hpke` uses) panics if the OS source fails. Instead, each call that needs
//! randomness seeds a fresh ChaCha20 generator with 32 bytes from `getrandom::fill`, whose failure
//! is an ordinary error. The generator lives for one call and is dropped afterwards.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

use crate::ConclaveError;

/// A cryptographically secure generator seeded from the operating system.
pub(crate) fn os_rng() -> Result<ChaCha20Rng, ConclaveError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| {
        ConclaveError::internal(format!("the operating system's random source failed: {e}"))
    })?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

#[cfg(test)]
mod tests {
    use rand_core::Rng;

    #[test]
    fn os_rng_gives_distinct_streams() {
        let mut a = super::os_rng().expect("os rng");
        let mut b = super::os_rng().expect("os rng");
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
