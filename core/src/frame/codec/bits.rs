//! A bit reader over the RBSP of an H.26x NAL unit payload: it skips emulation prevention bytes
//! (`00 00 03`) and counts the raw bytes it consumed.

/// Reads bits MSB first from a NAL unit payload (after the NAL header).
pub(super) struct RbspReader<'a> {
    raw: &'a [u8],
    /// Index of the next raw byte to load.
    next: usize,
    /// Zero bytes seen in a row (for emulation prevention).
    zeros: u8,
    /// The current byte and how many of its bits are left.
    byte: u8,
    left: u8,
}

impl<'a> RbspReader<'a> {
    pub(super) fn new(raw: &'a [u8]) -> Self {
        RbspReader {
            raw,
            next: 0,
            zeros: 0,
            byte: 0,
            left: 0,
        }
    }

    /// Raw bytes loaded so far: the byte holding the last bit read is `raw[consumed() - 1]`.
    pub(super) fn consumed(&self) -> usize {
        self.next
    }

    fn load(&mut self) -> Option<()> {
        let mut b = *self.raw.get(self.next)?;
        self.next += 1;
        if self.zeros >= 2 && b == 3 {
            // An emulation prevention byte: skip it.
            self.zeros = 0;
            b = *self.raw.get(self.next)?;
            self.next += 1;
        }
        self.zeros = if b == 0 {
            self.zeros.saturating_add(1)
        } else {
            0
        };
        self.byte = b;
        self.left = 8;
        Some(())
    }

    /// One bit.
    pub(super) fn bit(&mut self) -> Option<u32> {
        if self.left == 0 {
            self.load()?;
        }
        self.left -= 1;
        Some(u32::from((self.byte >> self.left) & 1))
    }

    /// An unsigned Exp-Golomb code `ue(v)` of at most 32 bits of value.
    pub(super) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0u32;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut v: u64 = 1;
        for _ in 0..zeros {
            v = (v << 1) | u64::from(self.bit()?);
        }
        u32::try_from(v - 1).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exp_golomb_and_skips_emulation_prevention() {
        // 1 (ue 0), 010 (ue 1), 011 (ue 2), 00100 (ue 3) = 1010 0110 0100 ....
        let mut r = RbspReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.consumed(), 1);
        assert_eq!(r.ue(), Some(3));
        assert_eq!(r.consumed(), 2);
        // 00 00 03 01: the 03 is skipped; 23 zero bits then a 1: ue = 2^23 - 1 + next 23 bits.
        let mut r = RbspReader::new(&[0, 0, 3, 1, 0xFF, 0xFF, 0xFE]);
        assert_eq!(r.ue(), Some((1 << 23) - 1 + ((1 << 23) - 1)));
        assert_eq!(r.consumed(), 7);
        // Too long, truncated.
        assert_eq!(RbspReader::new(&[0, 0, 0, 0, 0]).ue(), None);
        assert_eq!(RbspReader::new(&[0]).ue(), None);
        assert_eq!(RbspReader::new(&[]).bit(), None);
    }
}
