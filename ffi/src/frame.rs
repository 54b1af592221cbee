//! The media hot path: frame encryption and decryption.

use std::collections::BTreeMap;
use std::sync::Arc;

use conclave_core::frame::FrameCrypto as CoreFrameCrypto;

use crate::{ConclaveError, Meeting, arg32, ms, out32, out64};

/// Encrypts this participant's media frames and decrypts everyone else's
/// (`spec/frames.md`: ChaCha20-Poly1305 per sender and stream, replay window, authenticated
/// clear prefix).
///
/// Obtained from [`Meeting::frame_crypto`](crate::Meeting::frame_crypto). Thread-safe and
/// lock-free for media threads: call it from audio/video threads while the meeting installs new
/// keys; a key change never blocks it for longer than a pointer swap. The meeting decides which
/// epoch frames are sent with; after the participant leaves or is removed, every call fails.
#[derive(Debug, uniffi::Object)]
pub struct FrameCrypto {
    inner: Arc<CoreFrameCrypto>,
}

/// A decrypted frame.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecryptedFrame {
    /// The sender's leaf (see [`Participant::leaf`](crate::Participant::leaf)).
    pub sender: i32,
    /// The stream id the sender chose (e.g. 0 audio, 1 video).
    pub stream: i32,
    /// The epoch the frame was sealed in.
    pub epoch: i64,
    /// The frame counter (per sender, stream and epoch).
    pub counter: i64,
    /// Length of the clear prefix at the start of `plaintext`.
    pub prefix_len: i32,
    /// The plaintext, clear prefix included.
    pub plaintext: Vec<u8>,
}

/// What this receiver saw from one sender (all epochs): accepted frames and rejections by
/// reason. A rising `tampered` count from one sender points at the relay or that sender's path.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SenderDiagnostics {
    /// The sender's leaf.
    pub sender: i32,
    /// The participant at that leaf now, from [`Meeting::sender_diagnostics`]
    /// (none from [`FrameCrypto::diagnostics`], which knows no ids, and for a leaf that is
    /// empty now). Counts cover every epoch: after a departure and a re-admission the leaf's
    /// earlier occupant's frames are counted too.
    pub participant_id: Option<String>,
    /// Frames decrypted and accepted.
    pub decrypted: i64,
    /// Frames whose tag did not verify.
    pub tampered: i64,
    /// Frames whose counter was already accepted.
    pub replayed: i64,
    /// Frames below the replay window or from a dropped epoch.
    pub too_old: i64,
    /// Frames from an epoch not installed yet, or received without keys.
    pub unknown_epoch: i64,
    /// Malformed frames, unknown senders, oversized frames.
    pub malformed: i64,
    /// Frames carrying our own sender index (echoed by the relay).
    pub own_frame: i64,
    /// Frames of a stream over the per-sender stream limit.
    pub stream_limit: i64,
}

impl FrameCrypto {
    pub(crate) fn new(inner: Arc<CoreFrameCrypto>) -> Self {
        Self { inner }
    }

    /// Wraps an engine frame crypto, for Rust callers and benchmarks (not exported to other
    /// languages, which get theirs from [`Meeting::frame_crypto`]).
    pub fn from_engine(engine: Arc<CoreFrameCrypto>) -> Self {
        Self::new(engine)
    }

    /// The engine's frame crypto behind this object, borrowed.
    pub(crate) fn engine_ref(&self) -> &CoreFrameCrypto {
        &self.inner
    }

    /// The engine's frame crypto behind this object, for Rust callers (not exported to other
    /// languages): its `encrypt_into`/`decrypt_into` avoid allocations.
    pub fn engine(&self) -> Arc<CoreFrameCrypto> {
        Arc::clone(&self.inner)
    }
}

#[uniffi::export]
impl FrameCrypto {
    /// Encrypts `plaintext` as a frame of `stream` with the current send epoch. Its first
    /// `prefix_len` bytes (0..=255, e.g. a codec header a packetizer needs) stay in the clear but
    /// are authenticated. Overhead: header plus a 16-byte tag (at most 24 bytes for audio).
    ///
    /// Fails with `NoKeys` before joining, after leaving, or when the stream's counter is
    /// exhausted; with `InvalidArgument` when a length is over its limit.
    pub fn encrypt(
        &self,
        stream: i32,
        plaintext: Vec<u8>,
        prefix_len: i32,
    ) -> Result<Vec<u8>, ConclaveError> {
        let prefix = usize::try_from(prefix_len).map_err(|_| {
            ConclaveError::invalid(format!(
                "prefix_len must not be negative (got {prefix_len})"
            ))
        })?;
        self.inner
            .encrypt(arg32("stream", stream)?, &plaintext, prefix)
            .map_err(ConclaveError::from_frame)
    }

    /// Decrypts and authenticates a frame from another participant at time `now_ms` (same
    /// monotonic clock as the meeting).
    ///
    /// Fails with `Tampered` (modified or foreign frame), `Replayed`, `TooOld`, `UnknownEpoch`
    /// (keys not arrived yet: hold and retry), `Decode` (malformed), `NoKeys` (not in the
    /// meeting) or `Rejected` (own frame echoed, unknown sender). Every failure is also counted in
    /// [`FrameCrypto::diagnostics`].
    pub fn decrypt(&self, frame: Vec<u8>, now_ms: i64) -> Result<DecryptedFrame, ConclaveError> {
        let d = self
            .inner
            .decrypt(&frame, ms(now_ms)?)
            .map_err(ConclaveError::from_frame)?;
        Ok(DecryptedFrame {
            sender: out32(d.sender),
            stream: out32(d.stream),
            epoch: out64(d.epoch),
            counter: out64(d.counter),
            // At most MAX_CLEAR_PREFIX (255).
            prefix_len: i32::try_from(d.prefix_len).unwrap_or(i32::MAX),
            plaintext: d.plaintext,
        })
    }

    /// Per-sender counts of decrypted and rejected frames, for senders with any count, in sender
    /// order.
    pub fn diagnostics(&self) -> Vec<SenderDiagnostics> {
        self.inner
            .diagnostics()
            .into_iter()
            .map(|s| SenderDiagnostics {
                sender: out32(s.sender),
                participant_id: None,
                decrypted: out64(s.decrypted),
                tampered: out64(s.rejected.tampered),
                replayed: out64(s.rejected.replayed),
                too_old: out64(s.rejected.too_old),
                unknown_epoch: out64(s.rejected.unknown_epoch),
                malformed: out64(s.rejected.malformed),
                own_frame: out64(s.rejected.own_frame),
                stream_limit: out64(s.rejected.stream_limit),
            })
            .collect()
    }

    /// The epoch frames are encrypted with now, if any.
    pub fn send_epoch(&self) -> Option<i64> {
        self.inner.send_epoch().map(out64)
    }

    /// The newest epoch whose keys are installed, if any.
    pub fn current_epoch(&self) -> Option<i64> {
        self.inner.current_epoch().map(out64)
    }

    /// This participant's sender index (its leaf), once joined.
    pub fn own_sender(&self) -> Option<i32> {
        self.inner.own_sender().map(out32)
    }
}

#[uniffi::export]
impl Meeting {
    /// [`FrameCrypto::diagnostics`] keyed by participant id as well as leaf: each entry names
    /// the participant at its leaf now.
    pub fn sender_diagnostics(&self) -> Vec<SenderDiagnostics> {
        let at: BTreeMap<i32, String> = self
            .participants()
            .into_iter()
            .map(|p| (p.leaf, p.participant_id))
            .collect();
        self.frame_crypto()
            .diagnostics()
            .into_iter()
            .map(|d| SenderDiagnostics {
                participant_id: at.get(&d.sender).cloned(),
                ..d
            })
            .collect()
    }
}
