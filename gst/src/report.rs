//! Failure reports on the bus: one element message per dropped frame, at most
//! [`MAX_FAILURE_MESSAGES_PER_SECOND`] per element (the relay can send garbage at any rate, and
//! a bus nobody reads queues every message).

use std::time::{Duration, Instant};

use conclave_core::frame::{FrameError, FrameErrorKind};

/// Name of the element message `conclavedec` posts for a frame it dropped. Fields: `reason`
/// (string, [`FrameErrorKind::as_str`]), `sender` (u32, the leaf index the frame claims, when
/// known), `stream` (u32, when known), `epoch` (u64, when known), `suppressed` (u64, failures
/// not reported since the previous message because of the rate limit).
pub const DECRYPT_FAILED_MESSAGE: &str = "conclave-decrypt-failed";

/// Name of the element message `conclaveenc` posts for a frame it dropped (no keys yet, or a
/// frame the codec processor refused). Fields as for [`DECRYPT_FAILED_MESSAGE`].
pub const ENCRYPT_FAILED_MESSAGE: &str = "conclave-encrypt-failed";

/// Most failure messages one element posts per second; further failures are counted (the
/// `rejected`/`dropped` properties, the next message's `suppressed` field) but not posted.
pub const MAX_FAILURE_MESSAGES_PER_SECOND: u32 = 10;

/// Why a frame was dropped, with what is known of its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub reason: FrameErrorKind,
    pub sender: Option<u32>,
    pub stream: Option<u32>,
    pub epoch: Option<u64>,
}

impl Failure {
    /// A frame dropped because the element has no keys (or cannot encrypt yet).
    pub fn no_keys() -> Self {
        Failure {
            reason: FrameErrorKind::NoKeys,
            sender: None,
            stream: None,
            epoch: None,
        }
    }

    /// The failure `e`, with the sender, stream and epoch it names.
    pub fn from_error(e: &FrameError) -> Self {
        let (sender, stream, epoch) = match *e {
            FrameError::TooOld { sender, stream, .. } => (Some(sender), Some(stream), None),
            FrameError::Replayed {
                sender,
                stream,
                epoch,
                ..
            }
            | FrameError::Tampered {
                sender,
                stream,
                epoch,
            } => (Some(sender), Some(stream), Some(epoch)),
            FrameError::UnknownSender { sender, .. } => (Some(sender), None, None),
            FrameError::OwnFrame { sender, stream }
            | FrameError::StreamLimit { sender, stream } => (Some(sender), Some(stream), None),
            FrameError::CounterExhausted { stream, epoch } => (None, Some(stream), Some(epoch)),
            FrameError::EpochRetired { epoch, .. } => (None, None, Some(epoch)),
            FrameError::StartCodeEmulation { stream, .. } => (None, Some(stream), None),
            _ => (None, None, None),
        };
        Failure {
            reason: e.kind(),
            sender,
            stream,
            epoch,
        }
    }

    /// The message structure `name` for this failure.
    pub fn structure(&self, name: &str, suppressed: u64) -> gst::Structure {
        let mut s = gst::Structure::builder(name)
            .field("reason", self.reason.as_str())
            .field("suppressed", suppressed)
            .build();
        if let Some(sender) = self.sender {
            s.set("sender", sender);
        }
        if let Some(stream) = self.stream {
            s.set("stream", stream);
        }
        if let Some(epoch) = self.epoch {
            s.set("epoch", epoch);
        }
        s
    }
}

/// Admits at most [`MAX_FAILURE_MESSAGES_PER_SECOND`] messages per one-second window.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    window: Option<Instant>,
    posted: u32,
    suppressed: u64,
}

impl Limiter {
    /// Whether a message may be posted at `now`: `Some(n)` with the number of failures
    /// suppressed since the last posted message, or `None` (counted as suppressed).
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        let fresh = match self.window {
            Some(start) => now.saturating_duration_since(start) >= Duration::from_secs(1),
            None => true,
        };
        if fresh {
            self.window = Some(now);
            self.posted = 0;
        }
        if self.posted >= MAX_FAILURE_MESSAGES_PER_SECOND {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.posted = self.posted.saturating_add(1);
        Some(core::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_admits_a_bounded_number_per_second() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let admitted = (0..100).filter(|_| l.admit(t0).is_some()).count();
        assert_eq!(admitted, MAX_FAILURE_MESSAGES_PER_SECOND as usize);
        // Half a second later: still the same window.
        assert_eq!(l.admit(t0 + Duration::from_millis(500)), None);
        // The next window reports what was suppressed.
        let suppressed = 100 - u64::from(MAX_FAILURE_MESSAGES_PER_SECOND) + 1;
        assert_eq!(l.admit(t0 + Duration::from_secs(1)), Some(suppressed));
        assert_eq!(l.admit(t0 + Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn failure_fields_from_errors() {
        let e = FrameError::Tampered {
            sender: 3,
            stream: 1,
            epoch: 9,
        };
        let f = Failure::from_error(&e);
        assert_eq!((f.sender, f.stream, f.epoch), (Some(3), Some(1), Some(9)));
        assert_eq!(f.reason.as_str(), "tampered");
        let f = Failure::from_error(&FrameError::UnknownEpoch { tag: 1, current: 0 });
        assert_eq!((f.sender, f.epoch), (None, None));
        assert_eq!(Failure::no_keys().reason.as_str(), "no_keys");
    }
}
