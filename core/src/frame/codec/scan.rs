//! Fast scanning for the H.26x start-code patterns `00 00 x` (`x` small): the pairs of zero
//! bytes are found with `memchr`'s substring search, which tests many positions at once with
//! SIMD instructions where the CPU has them, and only those pairs are looked at further. In
//! ciphertext a `00 00` pair occurs once in 65,536 bytes, so a scan almost never stops.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// The searcher for `00 00`, built once.
static ZERO_ZERO: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(&[0, 0]));

/// The first position `i >= from` with `buf[i..i + 3] == 00 00 x` and `x <= max_third`.
pub(super) fn find_zero_zero(buf: &[u8], from: usize, max_third: u8) -> Option<usize> {
    let mut i = from;
    loop {
        let p = i.checked_add(ZERO_ZERO.find(buf.get(i..)?)?)?;
        if *buf.get(p.checked_add(2)?)? <= max_third {
            return Some(p);
        }
        // `buf[p + 2]` is not zero: no match starts at `p + 1` or `p + 2`.
        i = p + 3;
    }
}

/// Whether `buf` has more than `limit` positions `i` with `buf[i..i + 3] == 00 00 x`, `x <= 2`
/// (overlapping ones counted: `00 00 00 01` has two).
pub(super) fn more_zero_zero_than(buf: &[u8], limit: usize) -> bool {
    let mut found = 0usize;
    let mut from = 0usize;
    while let Some(p) = find_zero_zero(buf, from, 2) {
        found += 1;
        if found > limit {
            return true;
        }
        from = p + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, for comparison.
    fn naive(buf: &[u8], from: usize, max_third: u8) -> Option<usize> {
        (from..buf.len().saturating_sub(2))
            .find(|&i| buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] <= max_third)
    }

    #[test]
    fn finds_what_the_definition_finds() {
        assert_eq!(find_zero_zero(&[1, 2, 0, 0, 1], 0, 1), Some(2));
        assert_eq!(find_zero_zero(&[0, 0, 2], 0, 1), None);
        assert_eq!(find_zero_zero(&[0, 0], 0, 2), None);
        assert_eq!(find_zero_zero(&[0, 0, 0], 5, 2), None);
        // Every buffer of length 6 over {0, 1, 2, 3, 9}, from every start.
        let alphabet = [0u8, 1, 2, 3, 9];
        for code in 0..alphabet.len().pow(6) {
            let mut c = code;
            let buf: Vec<u8> = (0..6)
                .map(|_| {
                    let b = alphabet[c % alphabet.len()];
                    c /= alphabet.len();
                    b
                })
                .collect();
            for from in 0..=buf.len() {
                for max in [1, 2] {
                    assert_eq!(
                        find_zero_zero(&buf, from, max),
                        naive(&buf, from, max),
                        "{buf:?}"
                    );
                }
            }
            let count = (0..buf.len())
                .filter(|&i| naive(&buf, i, 2) == Some(i))
                .count();
            assert!(more_zero_zero_than(&buf, count.wrapping_sub(1)) || count == 0);
            assert!(!more_zero_zero_than(&buf, count), "{buf:?}");
        }
    }

    #[test]
    fn long_buffers() {
        let mut buf = vec![0x55u8; 4096];
        assert_eq!(find_zero_zero(&buf, 0, 2), None);
        buf[4000] = 0;
        buf[4001] = 0;
        assert_eq!(find_zero_zero(&buf, 0, 2), None, "00 00 55");
        buf[4002] = 2;
        assert_eq!(find_zero_zero(&buf, 0, 2), Some(4000));
        assert_eq!(find_zero_zero(&buf, 0, 1), None);
        assert!(more_zero_zero_than(&buf, 0) && !more_zero_zero_than(&buf, 1));
    }
}
