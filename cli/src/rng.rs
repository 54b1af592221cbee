//! Randomness for the networked commands: the operating system's generator.

use getrandom::SysRng;
use rand_core::UnwrapErr;

/// The OS random generator as a [`rand_core::CryptoRng`] (panics only if the OS fails to
/// provide randomness, which `getrandom` treats as unrecoverable).
pub type OsRng = UnwrapErr<SysRng>;

/// The OS random generator.
pub fn os_rng() -> OsRng {
    UnwrapErr(SysRng)
}

#[cfg(test)]
mod tests {
    use rand_core::Rng;

    #[test]
    fn os_rng_gives_distinct_values() {
        let mut r = super::os_rng();
        let (a, b) = (r.next_u64(), r.next_u64());
        assert_ne!(a, b);
    }
}
