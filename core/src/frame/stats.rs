//! Per-sender counters of decrypted and rejected frames.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::FrameError;
use crate::protocol::limits::MAX_TREE_LEAVES;

/// Counts of rejected frames by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    /// Tag did not verify ([`FrameError::Tampered`]).
    pub tampered: u64,
    /// Counter already accepted ([`FrameError::Replayed`]).
    pub replayed: u64,
    /// Below the replay window or from a dropped epoch ([`FrameError::TooOld`]).
    pub too_old: u64,
    /// Epoch not installed yet, or no keys at all ([`FrameError::UnknownEpoch`],
    /// [`FrameError::NoKeys`]).
    pub unknown_epoch: u64,
    /// Malformed header, unknown sender or oversized frame ([`FrameError::Malformed`],
    /// [`FrameError::UnknownSender`], [`FrameError::TooLarge`]).
    pub malformed: u64,
    /// Our own sender index ([`FrameError::OwnFrame`]).
    pub own_frame: u64,
    /// Too many streams for the sender ([`FrameError::StreamLimit`]).
    pub stream_limit: u64,
}

impl RejectionCounts {
    /// The sum of all rejections.
    pub fn total(&self) -> u64 {
        self.tampered
            .saturating_add(self.replayed)
            .saturating_add(self.too_old)
            .saturating_add(self.unknown_epoch)
            .saturating_add(self.malformed)
            .saturating_add(self.own_frame)
            .saturating_add(self.stream_limit)
    }
}

/// What a receiver saw from one sender (across epochs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// The sender's leaf index.
    pub sender: u32,
    /// Frames decrypted and accepted.
    pub decrypted: u64,
    /// Frames rejected, by reason.
    pub rejected: RejectionCounts,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    decrypted: AtomicU64,
    tampered: AtomicU64,
    replayed: AtomicU64,
    too_old: AtomicU64,
    unknown_epoch: AtomicU64,
    malformed: AtomicU64,
    own_frame: AtomicU64,
    stream_limit: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn decrypted(&self) {
        Self::bump(&self.decrypted);
    }

    pub(crate) fn rejected(&self, e: &FrameError) {
        let c = match e {
            FrameError::Tampered { .. } => &self.tampered,
            FrameError::Replayed { .. } => &self.replayed,
            FrameError::TooOld { .. } => &self.too_old,
            FrameError::UnknownEpoch { .. } | FrameError::NoKeys => &self.unknown_epoch,
            FrameError::OwnFrame { .. } => &self.own_frame,
            FrameError::StreamLimit { .. } => &self.stream_limit,
            FrameError::Malformed { .. }
            | FrameError::UnknownSender { .. }
            | FrameError::TooLarge { .. } => &self.malformed,
            // Not a property of the frame (caller's buffer, configuration, sending side).
            _ => return,
        };
        Self::bump(c);
    }

    fn snapshot(&self) -> (u64, RejectionCounts) {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            l(&self.decrypted),
            RejectionCounts {
                tampered: l(&self.tampered),
                replayed: l(&self.replayed),
                too_old: l(&self.too_old),
                unknown_epoch: l(&self.unknown_epoch),
                malformed: l(&self.malformed),
                own_frame: l(&self.own_frame),
                stream_limit: l(&self.stream_limit),
            },
        )
    }
}

const CHUNK: usize = 128;
const CHUNKS: usize = (MAX_TREE_LEAVES as usize).div_ceil(CHUNK);

/// Counters for every sender index below `MAX_TREE_LEAVES`, allocated lazily in chunks of 128
/// senders (at most `MAX_TREE_LEAVES` entries), plus one set for frames whose sender could not
/// be read.
#[derive(Debug)]
pub(crate) struct Diagnostics {
    chunks: Box<[OnceLock<Box<[Counters]>>]>,
    unattributed: Counters,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            unattributed: Counters::default(),
        }
    }
}

impl Diagnostics {
    /// The counters of `sender`, or the unattributed ones.
    pub(crate) fn of(&self, sender: Option<u32>) -> &Counters {
        let Some(s) = sender.and_then(|s| usize::try_from(s).ok()) else {
            return &self.unattributed;
        };
        let Some(chunk) = self.chunks.get(s / CHUNK) else {
            return &self.unattributed;
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| Counters::default()).collect());
        chunk.get(s % CHUNK).unwrap_or(&self.unattributed)
    }

    pub(crate) fn senders(&self) -> Vec<SenderStats> {
        let mut out = Vec::new();
        for (ci, chunk) in self.chunks.iter().enumerate() {
            let Some(chunk) = chunk.get() else { continue };
            for (i, c) in chunk.iter().enumerate() {
                let (decrypted, rejected) = c.snapshot();
                if decrypted == 0 && rejected.total() == 0 {
                    continue;
                }
                let sender = u32::try_from(ci * CHUNK + i).unwrap_or(u32::MAX);
                out.push(SenderStats {
                    sender,
                    decrypted,
                    rejected,
                });
            }
        }
        out
    }

    pub(crate) fn unattributed(&self) -> RejectionCounts {
        self.unattributed.snapshot().1
    }
}
