//! The send queue of one peer, bounded in bytes ([`PEER_QUEUE_BYTES`]) and messages
//! ([`PEER_QUEUE_LEN`]), and the writer thread that drains it to the peer's socket and cuts off a
//! peer that does not take at least [`MIN_DRAIN_BYTES_PER_SEC`] over each [`DRAIN_WINDOW`] while
//! something is queued for it.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::budget::Payload;
use super::{DRAIN_WINDOW, MIN_DRAIN_BYTES_PER_SEC, PEER_QUEUE_BYTES, PEER_QUEUE_LEN, WRITE_POLL};

/// Messages waiting for one peer. The message being written still counts until it is written.
pub(super) struct Outbox {
    state: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Arc<Payload>>,
    bytes: usize,
    closed: bool,
}

impl Outbox {
    pub(super) fn new() -> Arc<Outbox> {
        Arc::new(Outbox {
            state: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `payload`; `false` (dropped for this peer) if the queue is full or closed.
    pub(super) fn push(&self, payload: &Arc<Payload>) -> bool {
        let mut q = self.lock();
        let bytes = q.bytes.saturating_add(payload.cost());
        if q.closed || q.items.len() >= PEER_QUEUE_LEN || bytes > PEER_QUEUE_BYTES {
            return false;
        }
        q.bytes = bytes;
        q.items.push_back(Arc::clone(payload));
        drop(q);
        self.ready.notify_one();
        true
    }

    /// Waits for the next message; with it, whether the queue was empty when called (the peer had
    /// taken everything). `None` once closed.
    fn next(&self) -> Option<(Arc<Payload>, bool)> {
        let mut q = self.lock();
        let mut idle = false;
        loop {
            if q.closed {
                return None;
            }
            if let Some(p) = q.items.pop_front() {
                return Some((p, idle));
            }
            idle = true;
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The writer is done with a message of this cost.
    fn sent(&self, cost: usize) {
        let mut q = self.lock();
        q.bytes = q.bytes.saturating_sub(cost);
    }

    /// Drops everything queued and stops the writer (after its current write call).
    pub(super) fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        q.items.clear();
        q.bytes = 0;
        drop(q);
        self.ready.notify_all();
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Bytes queued (with the message being written).
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.lock().bytes
    }
}

/// Bytes a peer took since the start of the current window; the window starts again when the
/// peer has taken everything queued for it or when it passed a window at the minimum rate.
struct DrainMeter {
    since: Instant,
    bytes: u64,
}

impl DrainMeter {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            bytes: 0,
        }
    }

    fn add(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    /// Whether a full window passed in which the peer took less than the minimum rate.
    fn too_slow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < DRAIN_WINDOW {
            return false;
        }
        let need = (MIN_DRAIN_BYTES_PER_SEC as u128).saturating_mul(elapsed.as_millis()) / 1000;
        if u128::from(self.bytes) < need {
            return true;
        }
        *self = Self::new(now);
        false
    }
}

/// Why a writer stops.
enum Stop {
    /// The socket failed or the outbox was closed.
    Gone,
    /// The peer reads too slowly.
    TooSlow,
}

/// Writes what is queued for one peer until the outbox is closed or the peer fails or reads too
/// slowly; returns why the relay cut the peer off, if it did. Shuts the socket down when it stops
/// on its own, which ends the peer's reader too.
pub(super) fn write_loop(mut stream: TcpStream, outbox: &Outbox) -> Option<String> {
    // Every write call returns at least this often, so the drain rate is checked.
    if stream.set_write_timeout(Some(WRITE_POLL)).is_err() {
        outbox.close();
        let _ = stream.shutdown(Shutdown::Both);
        return None;
    }
    let mut meter = DrainMeter::new(Instant::now());
    while let Some((payload, idle)) = outbox.next() {
        if idle {
            meter = DrainMeter::new(Instant::now());
        }
        let result = write_one(&mut stream, payload.bytes(), outbox, &mut meter);
        outbox.sent(payload.cost());
        drop(payload);
        if let Err(stop) = result {
            outbox.close();
            let _ = stream.shutdown(Shutdown::Both);
            return match stop {
                Stop::Gone => None,
                Stop::TooSlow => Some(format!(
                    "too slow: took less than {MIN_DRAIN_BYTES_PER_SEC} bytes/s over {} s",
                    DRAIN_WINDOW.as_secs()
                )),
            };
        }
    }
    None
}

fn write_one(
    stream: &mut TcpStream,
    bytes: &[u8],
    outbox: &Outbox,
    meter: &mut DrainMeter,
) -> Result<(), Stop> {
    let mut rest = bytes;
    while !rest.is_empty() {
        if outbox.is_closed() {
            return Err(Stop::Gone);
        }
        match stream.write(rest) {
            Ok(0) => return Err(Stop::Gone),
            Ok(n) => {
                rest = rest.get(n..).unwrap_or_default();
                meter.add(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(Stop::Gone),
        }
        if meter.too_slow(Instant::now()) {
            return Err(Stop::TooSlow);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::budget::Budget;
    use super::*;
    use std::time::Duration;

    #[test]
    fn queue_is_bounded_in_bytes_and_closes() {
        let budget = Budget::new(usize::MAX);
        let big = Payload::new(vec![0; PEER_QUEUE_BYTES / 2], &budget).unwrap();
        let small = Payload::new(vec![0; 10], &budget).unwrap();
        let o = Outbox::new();
        assert!(o.push(&big));
        assert!(
            !o.push(&big),
            "a second half of the cap plus overhead is over it"
        );
        assert!(o.push(&small));
        assert_eq!(o.queued(), big.cost() + small.cost());
        let (first, idle) = o.next().unwrap();
        assert!(!idle);
        o.sent(first.cost());
        assert!(o.push(&big), "room again once written");
        o.close();
        assert!(!o.push(&small));
        assert!(o.next().is_none());
        assert_eq!(o.queued(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]

        /// Finding 9 as a property: whatever sizes arrive and however slowly the peer drains,
        /// one peer's queue never holds more than `PEER_QUEUE_BYTES` or `PEER_QUEUE_LEN`
        /// messages, the shared budget never exceeds its limit, and every byte is given back.
        #[test]
        fn queues_and_budget_stay_bounded(
            ops in proptest::collection::vec((0usize..(PEER_QUEUE_BYTES / 2), proptest::bool::ANY), 1..40),
        ) {
            let limit = 3 * PEER_QUEUE_BYTES;
            let budget = Budget::new(limit);
            let o = Outbox::new();
            for (len, drain) in ops {
                if drain {
                    if o.queued() > 0
                        && let Some((p, _)) = o.next()
                    {
                        o.sent(p.cost());
                    }
                } else if let Some(p) = Payload::new(vec![0; len % (PEER_QUEUE_BYTES + 1)], &budget) {
                    o.push(&p);
                }
                proptest::prop_assert!(o.queued() <= PEER_QUEUE_BYTES);
                proptest::prop_assert!(budget.in_use() <= limit);
            }
            drop(o);
            proptest::prop_assert_eq!(budget.in_use(), 0, "bytes not given back");
        }
    }

    #[test]
    fn queue_is_bounded_in_messages() {
        let budget = Budget::new(usize::MAX);
        let tiny = Payload::new(vec![1], &budget).unwrap();
        let o = Outbox::new();
        for _ in 0..PEER_QUEUE_LEN {
            assert!(o.push(&tiny));
        }
        assert!(!o.push(&tiny));
    }

    #[test]
    fn meter_cuts_off_a_slow_peer_after_a_window() {
        let t0 = Instant::now();
        let mut m = DrainMeter::new(t0);
        m.add(1);
        assert!(
            !m.too_slow(t0 + DRAIN_WINDOW - Duration::from_secs(1)),
            "not before a window"
        );
        assert!(m.too_slow(t0 + DRAIN_WINDOW));
        // At the minimum rate a window passes and a new one starts.
        let mut m = DrainMeter::new(t0);
        m.add(MIN_DRAIN_BYTES_PER_SEC * DRAIN_WINDOW.as_secs() as usize);
        assert!(!m.too_slow(t0 + DRAIN_WINDOW));
        m.add(MIN_DRAIN_BYTES_PER_SEC);
        assert!(m.too_slow(t0 + DRAIN_WINDOW * 2));
    }
}
