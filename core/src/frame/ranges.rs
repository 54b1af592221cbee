//! [`ClearRanges`]: the bytes of a frame's body that stay in the clear (`spec/frames.md`
//! section 1).

use super::{FrameError, MAX_CLEAR_PREFIX, MAX_CLEAR_RANGES, MAX_FRAME_PLAINTEXT};

/// The clear ranges of a frame body: sorted, non-empty, non-overlapping and non-adjacent
/// `[start, end)` byte ranges, at most `MAX_CLEAR_RANGES`. Every other byte is encrypted.
///
/// A layout with a single range starting at 0 of at most `MAX_CLEAR_PREFIX` bytes is a clear
/// prefix (trailer mode `P`); no range at all is mode 0; anything else is mode `R`.
#[derive(Clone, Copy)]
pub struct ClearRanges {
    len: usize,
    ranges: [(u32, u32); MAX_CLEAR_RANGES],
}

impl Default for ClearRanges {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for ClearRanges {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ClearRanges {}

impl core::fmt::Debug for ClearRanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl ClearRanges {
    /// No clear range.
    pub const fn new() -> Self {
        ClearRanges {
            len: 0,
            ranges: [(0, 0); MAX_CLEAR_RANGES],
        }
    }

    /// A clear prefix of `len` bytes (`len <= MAX_CLEAR_PREFIX`); no range if `len` is 0.
    pub fn prefix(len: usize) -> Result<Self, FrameError> {
        if len > MAX_CLEAR_PREFIX {
            return Err(FrameError::TooLarge {
                what: "clear prefix",
                len,
                max: MAX_CLEAR_PREFIX,
            });
        }
        let mut r = Self::new();
        if len > 0 {
            r.push(0, len)?;
        }
        Ok(r)
    }

    fn as_slice(&self) -> &[(u32, u32)] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no range.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ranges as `(start, end)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.as_slice()
            .iter()
            .map(|&(s, e)| (s as usize, e as usize))
    }

    /// Total number of clear bytes.
    pub fn clear_len(&self) -> usize {
        self.iter().map(|(s, e)| e - s).sum()
    }

    /// End of the last range (0 if none).
    pub fn end(&self) -> usize {
        self.as_slice().last().map_or(0, |&(_, e)| e as usize)
    }

    /// The prefix length if this layout is a clear prefix (mode `P`).
    pub fn prefix_len(&self) -> Option<usize> {
        match self.as_slice() {
            [(0, e)] if *e as usize <= MAX_CLEAR_PREFIX => Some(*e as usize),
            _ => None,
        }
    }

    /// Appends `[start, end)`, which must be non-empty and start at or after the end of the last
    /// range; a range that starts where the last one ends is merged into it.
    pub fn push(&mut self, start: usize, end: usize) -> Result<(), FrameError> {
        let bad = FrameError::Malformed {
            reason: "clear ranges out of order",
        };
        if start >= end || start < self.end() {
            return Err(bad);
        }
        if end > MAX_FRAME_PLAINTEXT {
            return Err(FrameError::TooLarge {
                what: "frame plaintext",
                len: end,
                max: MAX_FRAME_PLAINTEXT,
            });
        }
        let (s, e) = (start as u32, end as u32);
        if let Some(last) = self.len.checked_sub(1).and_then(|i| self.ranges.get_mut(i))
            && last.1 == s
        {
            last.1 = e;
            return Ok(());
        }
        let slot = self.ranges.get_mut(self.len).ok_or(FrameError::TooLarge {
            what: "clear ranges",
            len: MAX_CLEAR_RANGES + 1,
            max: MAX_CLEAR_RANGES,
        })?;
        *slot = (s, e);
        self.len += 1;
        Ok(())
    }

    /// The encrypted segments of a body of `body_len` bytes: the complement of the ranges.
    pub(crate) fn encrypted(&self, body_len: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut prev = 0usize;
        self.iter()
            .map(Some)
            .chain(core::iter::once(None))
            .filter_map(move |r| {
                let (s, e) = r.unwrap_or((body_len, body_len));
                let seg = (prev, s.min(body_len));
                prev = e;
                (seg.0 < seg.1).then_some(seg)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_merges_and_orders() {
        let mut r = ClearRanges::new();
        r.push(0, 4).unwrap();
        r.push(4, 6).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r.prefix_len(), Some(6));
        r.push(10, 12).unwrap();
        assert_eq!(r.prefix_len(), None);
        assert!(r.push(11, 13).is_err());
        assert!(r.push(13, 13).is_err());
        assert_eq!(r.clear_len(), 8);
        assert_eq!(r.encrypted(20).collect::<Vec<_>>(), vec![(6, 10), (12, 20)]);
        assert_eq!(r.encrypted(12).collect::<Vec<_>>(), vec![(6, 10)]);
        let mut big = ClearRanges::new();
        big.push(0, 256).unwrap();
        assert_eq!(big.prefix_len(), None);
        assert_eq!(
            ClearRanges::new().encrypted(3).collect::<Vec<_>>(),
            vec![(0, 3)]
        );
        let mut full = ClearRanges::new();
        for i in 0..MAX_CLEAR_RANGES {
            full.push(2 * i, 2 * i + 1).unwrap();
        }
        assert!(matches!(
            full.push(10_000, 10_001),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
