//! Errors of frame encryption and decryption.

/// Why a frame was rejected as too old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooOldCause {
    /// The frame's epoch is no longer retained (or its grace period has expired).
    EpochDropped {
        /// The frame's `epoch_tag` (epoch number modulo 256).
        epoch_tag: u8,
    },
    /// The frame's counter is below the replay window of its (epoch, sender, stream).
    BelowWindow {
        /// The frame's epoch.
        epoch: u64,
        /// The highest counter authenticated so far for this (epoch, sender, stream).
        highest: u64,
    },
}

impl core::fmt::Display for TooOldCause {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TooOldCause::EpochDropped { epoch_tag } => {
                write!(f, "its epoch (tag {epoch_tag}) is no longer kept")
            }
            TooOldCause::BelowWindow { epoch, highest } => write!(
                f,
                "it is below the replay window in epoch {epoch} (highest counter {highest})"
            ),
        }
    }
}

/// A frame could not be encrypted or decrypted.
///
/// Every variant names what is known (sender, stream, epoch, counter) and never key material.
/// Decryption failures other than [`FrameError::BufferTooSmall`] are also counted per sender in
/// [`FrameCrypto::diagnostics`](super::FrameCrypto::diagnostics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame does not follow `spec/frames.md` (flags, varints, lengths).
    #[error("malformed frame: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The frame's epoch tag is ahead of the current epoch (by 1..=127 modulo 256): the commit
    /// that installs its epoch has probably not arrived yet. The application may hold the frame
    /// briefly and retry.
    #[error("frame is from an epoch not yet installed (tag {tag}, current epoch {current})")]
    UnknownEpoch {
        /// The frame's `epoch_tag`.
        tag: u8,
        /// The current epoch number of this receiver.
        current: u64,
    },
    /// The frame is from an epoch that is no longer kept, or its counter is below the replay
    /// window.
    #[error("frame from sender {sender} stream {stream} counter {counter} is too old: {cause}")]
    TooOld {
        /// The frame's sender leaf index.
        sender: u32,
        /// The frame's stream id.
        stream: u32,
        /// The frame's counter.
        counter: u64,
        /// Why it is too old.
        cause: TooOldCause,
    },
    /// A frame with this counter was already accepted.
    #[error("replayed frame from sender {sender} stream {stream} epoch {epoch} counter {counter}")]
    Replayed {
        /// The frame's sender leaf index.
        sender: u32,
        /// The frame's stream id.
        stream: u32,
        /// The frame's epoch.
        epoch: u64,
        /// The repeated counter.
        counter: u64,
    },
    /// The frame's tag does not verify: it was modified (any header, prefix or ciphertext byte),
    /// re-labelled with another sender or stream, or sealed under another key.
    #[error("frame from sender {sender} stream {stream} epoch {epoch} does not authenticate")]
    Tampered {
        /// The sender leaf index the frame claims.
        sender: u32,
        /// The stream id the frame claims.
        stream: u32,
        /// The epoch the frame's tag was mapped to.
        epoch: u64,
    },
    /// The sender index is not below the sender bound (`MAX_TREE_LEAVES`, or the bound set with
    /// [`FrameCrypto::set_sender_bound`](super::FrameCrypto::set_sender_bound)).
    #[error("unknown sender {sender} (bound {bound})")]
    UnknownSender {
        /// The sender leaf index.
        sender: u32,
        /// The bound it is not below.
        bound: u32,
    },
    /// The frame carries this receiver's own sender index (a frame echoed back by a relay).
    #[error("frame carries our own sender index {sender} (stream {stream})")]
    OwnFrame {
        /// Our sender leaf index.
        sender: u32,
        /// The frame's stream id.
        stream: u32,
    },
    /// The stream's counter reached `MAX_FRAME_COUNTER`: no more frames until the next epoch.
    #[error("frame counter of stream {stream} exhausted in epoch {epoch}; wait for the next epoch")]
    CounterExhausted {
        /// The stream id.
        stream: u32,
        /// The current epoch.
        epoch: u64,
    },
    /// Sealing under this epoch could repeat a (key, nonce): this `FrameCrypto` already sealed
    /// under this epoch number with another key object (the epoch was dropped and installed
    /// again, for example after a resync) or under a later epoch. Sending resumes with the next
    /// epoch (`spec/frames.md` section 5, FR-SEND).
    #[error(
        "epoch {epoch} cannot be sent with again (this participant already sealed under epoch \
         {floor}; reusing it could repeat a nonce); sending resumes with the next epoch"
    )]
    EpochRetired {
        /// The epoch that was to be used for sending.
        epoch: u64,
        /// The newest epoch this `FrameCrypto` has sealed under.
        floor: u64,
    },
    /// A length is over its limit (plaintext over `MAX_FRAME_PLAINTEXT`, prefix over
    /// `MAX_CLEAR_PREFIX` or over the plaintext length).
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No epoch is installed yet.
    #[error("no frame keys: no epoch installed")]
    NoKeys,
    /// Encryption needs the own sender index, which was not set.
    #[error("own sender index not set")]
    NoOwnSender,
    /// The output buffer is too small.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// The number of bytes the output needs.
        needed: usize,
    },
    /// The sender already uses `MAX_STREAMS_PER_SENDER` other streams in this epoch.
    #[error("sender {sender} uses too many streams in this epoch (stream {stream} refused)")]
    StreamLimit {
        /// The sender leaf index.
        sender: u32,
        /// The refused stream id.
        stream: u32,
    },
    /// `install_epoch` was called with an epoch that is not newer than the current one (or the
    /// same epoch with a different secret).
    #[error("epoch {epoch} is not newer than the current epoch {current}")]
    EpochNotNewer {
        /// The epoch passed in.
        epoch: u64,
        /// The current epoch.
        current: u64,
    },
    /// A media frame given to [`FrameCrypto::encrypt_media`](super::FrameCrypto::encrypt_media)
    /// or [`FrameCrypto::decrypt_media`](super::FrameCrypto::decrypt_media) is not a valid
    /// bitstream of its codec (or of the shape this library supports).
    #[error("invalid {codec} frame: {reason}")]
    InvalidMedia {
        /// The codec the frame was given as.
        codec: super::Codec,
        /// What is wrong.
        reason: &'static str,
    },
    /// Every one of `MAX_SEAL_ATTEMPTS` seals of an H.26x frame emulated a start code (with
    /// random ciphertext this does not happen in practice; see `spec/frames.md` section 3).
    #[error("frame of stream {stream} emulated a start code in {attempts} seals")]
    StartCodeEmulation {
        /// The stream id.
        stream: u32,
        /// The number of seals tried.
        attempts: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid frame configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
}

/// The kind of a [`FrameError`]: its variant without the details, with a stable name for logs,
/// metrics, bindings and tools ([`FrameErrorKind::as_str`]).
///
/// Names never change once released; a new error variant gets a new kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// [`FrameError::Malformed`].
    Malformed,
    /// [`FrameError::UnknownEpoch`].
    UnknownEpoch,
    /// [`FrameError::TooOld`].
    TooOld,
    /// [`FrameError::Replayed`].
    Replayed,
    /// [`FrameError::Tampered`].
    Tampered,
    /// [`FrameError::UnknownSender`].
    UnknownSender,
    /// [`FrameError::OwnFrame`].
    OwnFrame,
    /// [`FrameError::CounterExhausted`].
    CounterExhausted,
    /// [`FrameError::EpochRetired`].
    EpochRetired,
    /// [`FrameError::TooLarge`].
    TooLarge,
    /// [`FrameError::NoKeys`].
    NoKeys,
    /// [`FrameError::NoOwnSender`].
    NoOwnSender,
    /// [`FrameError::BufferTooSmall`].
    BufferTooSmall,
    /// [`FrameError::StreamLimit`].
    StreamLimit,
    /// [`FrameError::EpochNotNewer`].
    EpochNotNewer,
    /// [`FrameError::InvalidMedia`].
    InvalidMedia,
    /// [`FrameError::StartCodeEmulation`].
    StartCodeEmulation,
    /// [`FrameError::InvalidConfig`].
    InvalidConfig,
}

impl FrameErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [FrameErrorKind] = &[
        FrameErrorKind::Malformed,
        FrameErrorKind::UnknownEpoch,
        FrameErrorKind::TooOld,
        FrameErrorKind::Replayed,
        FrameErrorKind::Tampered,
        FrameErrorKind::UnknownSender,
        FrameErrorKind::OwnFrame,
        FrameErrorKind::CounterExhausted,
        FrameErrorKind::EpochRetired,
        FrameErrorKind::TooLarge,
        FrameErrorKind::NoKeys,
        FrameErrorKind::NoOwnSender,
        FrameErrorKind::BufferTooSmall,
        FrameErrorKind::StreamLimit,
        FrameErrorKind::EpochNotNewer,
        FrameErrorKind::InvalidMedia,
        FrameErrorKind::StartCodeEmulation,
        FrameErrorKind::InvalidConfig,
    ];

    /// The stable snake_case name of the kind (`"tampered"`, `"too_old"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FrameErrorKind::Malformed => "malformed",
            FrameErrorKind::UnknownEpoch => "unknown_epoch",
            FrameErrorKind::TooOld => "too_old",
            FrameErrorKind::Replayed => "replayed",
            FrameErrorKind::Tampered => "tampered",
            FrameErrorKind::UnknownSender => "unknown_sender",
            FrameErrorKind::OwnFrame => "own_frame",
            FrameErrorKind::CounterExhausted => "counter_exhausted",
            FrameErrorKind::EpochRetired => "epoch_retired",
            FrameErrorKind::TooLarge => "too_large",
            FrameErrorKind::NoKeys => "no_keys",
            FrameErrorKind::NoOwnSender => "no_own_sender",
            FrameErrorKind::BufferTooSmall => "buffer_too_small",
            FrameErrorKind::StreamLimit => "stream_limit",
            FrameErrorKind::EpochNotNewer => "epoch_not_newer",
            FrameErrorKind::InvalidMedia => "invalid_media",
            FrameErrorKind::StartCodeEmulation => "start_code_emulation",
            FrameErrorKind::InvalidConfig => "invalid_config",
        }
    }
}

impl core::fmt::Display for FrameErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FrameError {
    /// The error's kind: its variant without the details.
    pub fn kind(&self) -> FrameErrorKind {
        match self {
            FrameError::Malformed { .. } => FrameErrorKind::Malformed,
            FrameError::UnknownEpoch { .. } => FrameErrorKind::UnknownEpoch,
            FrameError::TooOld { .. } => FrameErrorKind::TooOld,
            FrameError::Replayed { .. } => FrameErrorKind::Replayed,
            FrameError::Tampered { .. } => FrameErrorKind::Tampered,
            FrameError::UnknownSender { .. } => FrameErrorKind::UnknownSender,
            FrameError::OwnFrame { .. } => FrameErrorKind::OwnFrame,
            FrameError::CounterExhausted { .. } => FrameErrorKind::CounterExhausted,
            FrameError::EpochRetired { .. } => FrameErrorKind::EpochRetired,
            FrameError::TooLarge { .. } => FrameErrorKind::TooLarge,
            FrameError::NoKeys => FrameErrorKind::NoKeys,
            FrameError::NoOwnSender => FrameErrorKind::NoOwnSender,
            FrameError::BufferTooSmall { .. } => FrameErrorKind::BufferTooSmall,
            FrameError::StreamLimit { .. } => FrameErrorKind::StreamLimit,
            FrameError::EpochNotNewer { .. } => FrameErrorKind::EpochNotNewer,
            FrameError::InvalidMedia { .. } => FrameErrorKind::InvalidMedia,
            FrameError::StartCodeEmulation { .. } => FrameErrorKind::StartCodeEmulation,
            FrameError::InvalidConfig { .. } => FrameErrorKind::InvalidConfig,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every variant, with the kind name it must keep.
    fn table() -> Vec<(FrameError, &'static str)> {
        vec![
            (FrameError::Malformed { reason: "r" }, "malformed"),
            (
                FrameError::UnknownEpoch { tag: 1, current: 0 },
                "unknown_epoch",
            ),
            (
                FrameError::TooOld {
                    sender: 0,
                    stream: 0,
                    counter: 0,
                    cause: TooOldCause::EpochDropped { epoch_tag: 0 },
                },
                "too_old",
            ),
            (
                FrameError::Replayed {
                    sender: 0,
                    stream: 0,
                    epoch: 0,
                    counter: 0,
                },
                "replayed",
            ),
            (
                FrameError::Tampered {
                    sender: 0,
                    stream: 0,
                    epoch: 0,
                },
                "tampered",
            ),
            (
                FrameError::UnknownSender {
                    sender: 9,
                    bound: 8,
                },
                "unknown_sender",
            ),
            (
                FrameError::OwnFrame {
                    sender: 0,
                    stream: 0,
                },
                "own_frame",
            ),
            (
                FrameError::CounterExhausted {
                    stream: 0,
                    epoch: 0,
                },
                "counter_exhausted",
            ),
            (
                FrameError::EpochRetired { epoch: 1, floor: 2 },
                "epoch_retired",
            ),
            (
                FrameError::TooLarge {
                    what: "w",
                    len: 2,
                    max: 1,
                },
                "too_large",
            ),
            (FrameError::NoKeys, "no_keys"),
            (FrameError::NoOwnSender, "no_own_sender"),
            (FrameError::BufferTooSmall { needed: 1 }, "buffer_too_small"),
            (
                FrameError::StreamLimit {
                    sender: 0,
                    stream: 0,
                },
                "stream_limit",
            ),
            (
                FrameError::EpochNotNewer {
                    epoch: 1,
                    current: 1,
                },
                "epoch_not_newer",
            ),
            (
                FrameError::InvalidMedia {
                    codec: super::super::Codec::Opus,
                    reason: "r",
                },
                "invalid_media",
            ),
            (
                FrameError::StartCodeEmulation {
                    stream: 0,
                    attempts: 1,
                },
                "start_code_emulation",
            ),
            (FrameError::InvalidConfig { reason: "r" }, "invalid_config"),
        ]
    }

    #[test]
    fn every_variant_has_a_distinct_kind_with_a_stable_name() {
        let table = table();
        let mut kinds: Vec<FrameErrorKind> = table.iter().map(|(e, _)| e.kind()).collect();
        for (e, name) in &table {
            assert_eq!(e.kind().as_str(), *name, "{e:?}");
            assert_eq!(e.kind().to_string(), *name);
        }
        // One kind per variant, and every kind is some variant's.
        assert_eq!(kinds, FrameErrorKind::ALL);
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), table.len());
        let mut names: Vec<&str> = FrameErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FrameErrorKind::ALL.len());
    }
}
