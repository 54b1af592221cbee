//! Byte budgets shared by all connections, and the forwarded message (`Payload`) that holds its
//! bytes of one of them until the last queue or commit log lets go of it.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// Bytes a `Payload` costs beyond its contents: its `Arc`, its fields and the allocator's rounding.
pub(super) const PAYLOAD_OVERHEAD: usize = 64;

/// A number of bytes that holders take from and give back to; never over its limit.
pub(super) struct Budget {
    limit: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// Bytes taken from a [`Budget`]; given back when dropped.
pub(super) struct Grant {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    fn used(&self) -> std::sync::MutexGuard<'_, usize> {
        self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fits(&self, used: usize, bytes: usize) -> bool {
        used.checked_add(bytes).is_some_and(|t| t <= self.limit)
    }

    /// Takes `bytes` now, or returns `None` if that would exceed the limit.
    pub(super) fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Grant> {
        let mut used = self.used();
        if !self.fits(*used, bytes) {
            return None;
        }
        *used = used.saturating_add(bytes);
        Some(Grant {
            budget: Arc::clone(self),
            bytes,
        })
    }

    /// Takes `bytes`, waiting for other holders to give bytes back until `deadline`.
    pub(super) fn take_by(self: &Arc<Self>, bytes: usize, deadline: Instant) -> Option<Grant> {
        let mut used = self.used();
        while !self.fits(*used, bytes) {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            used = self
                .freed
                .wait_timeout(used, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *used = used.saturating_add(bytes);
        Some(Grant {
            budget: Arc::clone(self),
            bytes,
        })
    }

    /// Bytes currently taken.
    #[cfg(test)]
    pub(super) fn in_use(&self) -> usize {
        *self.used()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let mut used = self.budget.used();
        *used = used.saturating_sub(self.bytes);
        drop(used);
        self.budget.freed.notify_all();
    }
}

/// One message as the relay sends it (length prefix included), with the bytes it holds of the
/// relay's buffer budget. Shared (`Arc`) by every queue and commit log that holds it, so it is
/// counted once in that budget however many peers it goes to.
pub(super) struct Payload {
    bytes: Vec<u8>,
    _grant: Grant,
}

impl Payload {
    /// Wraps `bytes` if the budget has room for them and [`PAYLOAD_OVERHEAD`].
    pub(super) fn new(bytes: Vec<u8>, budget: &Arc<Budget>) -> Option<Arc<Payload>> {
        let grant = budget.try_take(Self::cost_of(bytes.capacity()))?;
        Some(Arc::new(Payload {
            bytes,
            _grant: grant,
        }))
    }

    /// What a payload of `len` bytes costs in a budget.
    pub(super) fn cost_of(len: usize) -> usize {
        len.saturating_add(PAYLOAD_OVERHEAD)
    }

    /// The bytes to write.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What this payload costs in a budget.
    pub(super) fn cost(&self) -> usize {
        Self::cost_of(self.bytes.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grants_are_bounded_and_given_back() {
        let b = Budget::new(200);
        let g = b.try_take(60).unwrap();
        assert!(b.try_take(141).is_none());
        let p = Payload::new(vec![0; 30], &b);
        assert!(p.is_some());
        assert_eq!(b.in_use(), 60 + 30 + PAYLOAD_OVERHEAD);
        assert!(Payload::new(vec![0; 50], &b).is_none());
        assert!(
            b.take_by(47, Instant::now() + Duration::from_millis(20))
                .is_none()
        );
        drop(p);
        drop(g);
        assert_eq!(b.in_use(), 0);
        assert!(b.try_take(usize::MAX).is_none());
        assert!(b.take_by(200, Instant::now()).is_some());
    }

    #[test]
    fn a_waiter_gets_bytes_when_they_are_given_back() {
        let b = Budget::new(10);
        let g = b.try_take(10).unwrap();
        let b2 = Arc::clone(&b);
        let t = std::thread::spawn(move || {
            b2.take_by(5, Instant::now() + Duration::from_secs(10))
                .is_some()
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(g);
        assert!(t.join().unwrap());
    }
}
