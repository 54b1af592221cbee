//! The sliding replay window of one (epoch, sender, stream) (`spec/frames.md` section 4).

/// Outcome of checking a counter against a [`ReplayWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCheck {
    /// The counter was not seen and is not below the window.
    Fresh,
    /// The counter was already accepted.
    Replayed,
    /// The counter is below the window; `highest` is the highest counter accepted so far.
    TooOld {
        /// The highest accepted counter.
        highest: u64,
    },
}

/// A sliding window of `size` counters ending at the highest counter accepted so far.
///
/// A counter `c` is inside the window when `highest - c < size`, so the window covers
/// `highest - size + 1 ..= highest`. Bits are kept in a ring indexed by `c mod bits`, with
/// `bits >= size` a multiple of 64.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    size: u64,
    highest: Option<u64>,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` counters (`size >= 1`); nothing accepted yet.
    pub fn new(size: u32) -> Self {
        let size = size.max(1);
        let words = size.div_ceil(64) as usize;
        ReplayWindow {
            size: u64::from(size),
            highest: None,
            bits: vec![0u64; words].into_boxed_slice(),
        }
    }

    /// The highest counter accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    fn ring_bits(&self) -> u64 {
        (self.bits.len() as u64) * 64
    }

    fn slot(&self, counter: u64) -> (usize, u64) {
        let i = counter % self.ring_bits();
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn get(&self, counter: u64) -> bool {
        let (w, m) = self.slot(counter);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }

    fn set(&mut self, counter: u64, value: bool) {
        let (w, m) = self.slot(counter);
        if let Some(word) = self.bits.get_mut(w) {
            if value {
                *word |= m;
            } else {
                *word &= !m;
            }
        }
    }

    /// Checks `counter` without changing the window.
    pub fn check(&self, counter: u64) -> ReplayCheck {
        let Some(highest) = self.highest else {
            return ReplayCheck::Fresh;
        };
        if counter > highest {
            return ReplayCheck::Fresh;
        }
        if highest - counter >= self.size {
            return ReplayCheck::TooOld { highest };
        }
        if self.get(counter) {
            ReplayCheck::Replayed
        } else {
            ReplayCheck::Fresh
        }
    }

    /// Checks `counter` and, if fresh, records it (moving the window when it is the new
    /// highest). Call only after the frame's tag verified.
    pub fn accept(&mut self, counter: u64) -> ReplayCheck {
        let result = self.check(counter);
        if result != ReplayCheck::Fresh {
            return result;
        }
        match self.highest {
            Some(highest) if counter <= highest => {}
            Some(highest) => {
                let advance = counter - highest;
                if advance >= self.ring_bits() {
                    self.bits.iter_mut().for_each(|w| *w = 0);
                } else {
                    // Clear the slots of the counters that enter the window unseen.
                    let mut c = highest;
                    for _ in 0..advance {
                        c += 1;
                        self.set(c, false);
                    }
                }
                self.highest = Some(counter);
            }
            None => {
                self.bits.iter_mut().for_each(|w| *w = 0);
                self.highest = Some(counter);
            }
        }
        self.set(counter, true);
        ReplayCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.accept(100), ReplayCheck::Fresh);
        assert_eq!(w.accept(100), ReplayCheck::Replayed);
        // 100 - 37 = 63 < 64: the oldest counter inside the window.
        assert_eq!(w.accept(37), ReplayCheck::Fresh);
        assert_eq!(w.accept(37), ReplayCheck::Replayed);
        assert_eq!(w.accept(36), ReplayCheck::TooOld { highest: 100 });
        assert_eq!(w.accept(0), ReplayCheck::TooOld { highest: 100 });
        assert_eq!(w.accept(99), ReplayCheck::Fresh);
        // Moving by one drops 37 out of the window.
        assert_eq!(w.accept(101), ReplayCheck::Fresh);
        assert_eq!(w.accept(37), ReplayCheck::TooOld { highest: 101 });
        assert_eq!(w.accept(38), ReplayCheck::Fresh);
        // Far jump clears everything.
        assert_eq!(w.accept(1_000_000), ReplayCheck::Fresh);
        assert_eq!(w.accept(101), ReplayCheck::TooOld { highest: 1_000_000 });
        assert_eq!(w.accept(999_999), ReplayCheck::Fresh);
        assert_eq!(w.accept(999_937), ReplayCheck::Fresh);
        assert_eq!(
            w.accept(999_936),
            ReplayCheck::TooOld { highest: 1_000_000 }
        );
    }

    #[test]
    fn slots_reused_after_wrap_are_cleared() {
        let mut w = ReplayWindow::new(100); // 128 ring bits
        for c in 0..100 {
            assert_eq!(w.accept(c), ReplayCheck::Fresh);
        }
        // Jump by less than the ring: slots of 100..=227 must be clear.
        assert_eq!(w.accept(227), ReplayCheck::Fresh);
        for c in 128..227 {
            assert_eq!(w.check(c), ReplayCheck::Fresh, "{c}");
        }
        assert_eq!(w.check(127), ReplayCheck::TooOld { highest: 227 });
    }

    #[test]
    fn first_counter_may_be_anything() {
        let mut w = ReplayWindow::new(1024);
        assert_eq!(w.accept(5_000), ReplayCheck::Fresh);
        assert_eq!(w.accept(3_977), ReplayCheck::Fresh);
        assert_eq!(w.accept(3_976), ReplayCheck::TooOld { highest: 5_000 });
        let mut w = ReplayWindow::new(1024);
        assert_eq!(w.accept(0), ReplayCheck::Fresh);
        assert_eq!(w.accept(0), ReplayCheck::Replayed);
    }
}
