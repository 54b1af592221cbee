//! The one error type of the bindings, mapped from the engine's errors.

use conclave_core::CryptoError;
use conclave_core::frame::FrameError;
use conclave_core::meeting::MeetingError;

use crate::{out32, out64};

/// Why a call failed. Each variant says what went wrong and, where known, with whom (participant
/// id, or the frame's sender leaf, stream and epoch). Messages never contain key material.
///
/// In Python these are exceptions (`except ConclaveError.Tampered as e: e.sender`), in Kotlin
/// `ConclaveException` subclasses, in Swift `ConclaveError` cases. `describe()` gives the full
/// sentence in every language (Python's `str(e)` too).
///
/// Every variant carries `kind`, a stable snake_case name for logs, metrics and programs: the
/// engine's `MeetingErrorKind::as_str` or `FrameErrorKind::as_str`, `"crypto"` for a refused
/// identity secret, `"invalid_argument"` and `"internal"` for the bindings' own checks. The
/// variant groups kinds by what the application does about them; the kind says exactly what
/// happened. Kinds never change once released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum ConclaveError {
    /// The bytes are not a valid protocol message or frame.
    #[error("{reason}")]
    Decode {
        /// The stable kind ("decode", "malformed", "invalid_media", ...).
        kind: String,
        /// What is malformed.
        reason: String,
    },
    /// A protocol message was refused: bad signature, another meeting, stale or forked epoch,
    /// not signed by the leader, refused admission, unexpected in this state, ... The reason
    /// names the message, the participant (id or leaf) and the epoch where known. Rejected input
    /// does not change the meeting; the application may log it and carry on.
    #[error("{reason}")]
    Rejected {
        /// The stable kind of the refusal ("bad_signature", "stale_epoch", "refused", ...).
        kind: String,
        /// What was refused and why.
        reason: String,
    },
    /// A frame does not authenticate: it was modified, relabelled with another sender or stream,
    /// or sealed under a key this participant does not have (e.g. after it was removed).
    #[error(
        "frame from sender {sender} stream {stream} epoch {epoch} does not authenticate (tampered, or sealed under another key)"
    )]
    Tampered {
        /// The stable kind: "tampered".
        kind: String,
        /// The sender leaf the frame claims.
        sender: i32,
        /// The stream the frame claims.
        stream: i32,
        /// The epoch the frame's tag maps to.
        epoch: i64,
    },
    /// A frame with this counter was already accepted (a replay by the relay or the network).
    #[error("replayed frame from sender {sender} stream {stream} epoch {epoch} counter {counter}")]
    Replayed {
        /// The stable kind: "replayed".
        kind: String,
        /// The sender leaf.
        sender: i32,
        /// The stream.
        stream: i32,
        /// The epoch.
        epoch: i64,
        /// The repeated counter.
        counter: i64,
    },
    /// A frame is from an epoch whose keys have not arrived yet (its commit is still in flight).
    /// The application may hold the frame briefly and retry.
    #[error("frame is from an epoch not yet installed (tag {tag}, current epoch {current})")]
    UnknownEpoch {
        /// The stable kind: "unknown_epoch".
        kind: String,
        /// The frame's epoch tag (epoch number modulo 256).
        tag: i32,
        /// The receiver's current epoch.
        current: i64,
    },
    /// A frame is too old: its epoch's keys were dropped or it is below the replay window.
    #[error("frame from sender {sender} stream {stream} counter {counter} is too old: {reason}")]
    TooOld {
        /// The stable kind: "too_old".
        kind: String,
        /// The sender leaf.
        sender: i32,
        /// The stream.
        stream: i32,
        /// The frame counter.
        counter: i64,
        /// Why it is too old.
        reason: String,
    },
    /// No frame keys are usable: not joined yet, left or removed, or the stream's counter is
    /// exhausted until the next epoch.
    #[error("{reason}")]
    NoKeys {
        /// The stable kind ("no_keys", "no_own_sender", "counter_exhausted", "epoch_retired").
        kind: String,
        /// What is missing.
        reason: String,
    },
    /// This participant has left or was removed from the meeting.
    #[error("this participant has left or was removed from the meeting")]
    NotInMeeting {
        /// The stable kind: "not_in_meeting".
        kind: String,
    },
    /// The action needs the leader role.
    #[error("only the leader can {action}")]
    NotLeader {
        /// The stable kind: "not_the_leader".
        kind: String,
        /// The refused action.
        action: String,
    },
    /// No participant with this id is in the meeting.
    #[error("no participant {participant_id} in the meeting")]
    UnknownParticipant {
        /// The stable kind: "unknown_participant".
        kind: String,
        /// The id asked for.
        participant_id: String,
    },
    /// An argument is out of range (meeting id, participant id, options, identity secret, frame
    /// or prefix length).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// The stable kind ("invalid_argument" for the bindings' own checks, else the engine's:
        /// "invalid", "too_large", "invalid_config", "crypto", ...).
        kind: String,
        /// What is wrong.
        reason: String,
    },
    /// An internal failure (the OS random source failed, or an earlier internal error left the
    /// meeting unusable). Not caused by the peers; recreate the meeting.
    #[error("internal error: {reason}")]
    Internal {
        /// The stable kind ("internal", or the engine's kind of the failure).
        kind: String,
        /// What failed.
        reason: String,
    },
}

#[uniffi::export]
impl ConclaveError {
    /// The full human-readable message (the same text as `toString()` in Kotlin and
    /// `description` in Swift and `str(e)` in Python).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

/// Where an engine error came from: the caller's own arguments or bytes from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Arguments of a local call (create, join, remove, ...).
    Local,
    /// A message received from the relay.
    Remote,
}

/// The kind of the bindings' own argument checks.
pub(crate) const KIND_INVALID_ARGUMENT: &str = "invalid_argument";
/// The kind of the bindings' own internal failures.
pub(crate) const KIND_INTERNAL: &str = "internal";

impl ConclaveError {
    /// The stable kind (every variant carries one).
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &str {
        match self {
            Self::Decode { kind, .. }
            | Self::Rejected { kind, .. }
            | Self::Tampered { kind, .. }
            | Self::Replayed { kind, .. }
            | Self::UnknownEpoch { kind, .. }
            | Self::TooOld { kind, .. }
            | Self::NoKeys { kind, .. }
            | Self::NotInMeeting { kind }
            | Self::NotLeader { kind, .. }
            | Self::UnknownParticipant { kind, .. }
            | Self::InvalidArgument { kind, .. }
            | Self::Internal { kind, .. } => kind,
        }
    }

    /// An argument of a local call failed the bindings' own checks.
    pub(crate) fn invalid(reason: String) -> Self {
        ConclaveError::InvalidArgument {
            kind: KIND_INVALID_ARGUMENT.into(),
            reason,
        }
    }

    /// An internal failure of the bindings.
    pub(crate) fn internal(reason: String) -> Self {
        ConclaveError::Internal {
            kind: KIND_INTERNAL.into(),
            reason,
        }
    }

    /// Maps an engine error. `Invalid` is the caller's fault for local calls and a rejection of
    /// the peer's message otherwise.
    pub(crate) fn from_meeting(e: MeetingError, origin: Origin) -> Self {
        let reason = e.to_string();
        let kind = e.kind().as_str().to_string();
        match e {
            MeetingError::Decode(_) => ConclaveError::Decode { kind, reason },
            MeetingError::Invalid { .. } if origin == Origin::Local => {
                ConclaveError::InvalidArgument { kind, reason }
            }
            MeetingError::NotTheLeader(action) => ConclaveError::NotLeader {
                kind,
                action: action.to_string(),
            },
            MeetingError::NotInMeeting => ConclaveError::NotInMeeting { kind },
            MeetingError::UnknownParticipant(participant_id) => ConclaveError::UnknownParticipant {
                kind,
                participant_id,
            },
            _ => ConclaveError::Rejected { kind, reason },
        }
    }

    /// Maps a frame error.
    pub(crate) fn from_frame(e: FrameError) -> Self {
        let reason = e.to_string();
        let kind = e.kind().as_str().to_string();
        match e {
            FrameError::Malformed { .. } | FrameError::InvalidMedia { .. } => {
                ConclaveError::Decode { kind, reason }
            }
            FrameError::UnknownEpoch { tag, current } => ConclaveError::UnknownEpoch {
                kind,
                tag: i32::from(tag),
                current: out64(current),
            },
            FrameError::TooOld {
                sender,
                stream,
                counter,
                cause,
            } => ConclaveError::TooOld {
                kind,
                sender: out32(sender),
                stream: out32(stream),
                counter: out64(counter),
                reason: cause.to_string(),
            },
            FrameError::Replayed {
                sender,
                stream,
                epoch,
                counter,
            } => ConclaveError::Replayed {
                kind,
                sender: out32(sender),
                stream: out32(stream),
                epoch: out64(epoch),
                counter: out64(counter),
            },
            FrameError::Tampered {
                sender,
                stream,
                epoch,
            } => ConclaveError::Tampered {
                kind,
                sender: out32(sender),
                stream: out32(stream),
                epoch: out64(epoch),
            },
            FrameError::UnknownSender { .. }
            | FrameError::OwnFrame { .. }
            | FrameError::StreamLimit { .. } => ConclaveError::Rejected { kind, reason },
            FrameError::NoKeys
            | FrameError::NoOwnSender
            | FrameError::CounterExhausted { .. }
            | FrameError::EpochRetired { .. } => ConclaveError::NoKeys { kind, reason },
            FrameError::TooLarge { .. } | FrameError::InvalidConfig { .. } => {
                ConclaveError::InvalidArgument { kind, reason }
            }
            _ => ConclaveError::Internal { kind, reason },
        }
    }

    /// Maps a cryptographic error of a local call (identity import).
    pub(crate) fn from_crypto(e: CryptoError) -> Self {
        ConclaveError::InvalidArgument {
            kind: "crypto".into(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_errors_keep_who_and_what() {
        let e = ConclaveError::from_frame(FrameError::Tampered {
            sender: 2,
            stream: 7,
            epoch: 3,
        });
        assert_eq!(
            e,
            ConclaveError::Tampered {
                kind: "tampered".into(),
                sender: 2,
                stream: 7,
                epoch: 3
            }
        );
        assert!(e.describe().contains("sender 2 stream 7 epoch 3"));
        let e = ConclaveError::from_frame(FrameError::NoKeys);
        assert!(matches!(e, ConclaveError::NoKeys { .. }), "{e:?}");
        assert_eq!(e.kind(), "no_keys");
    }

    #[test]
    fn every_variant_carries_the_engine_kind() {
        let e = ConclaveError::from_meeting(
            MeetingError::StaleEpoch {
                message: "commit",
                epoch: 1,
                current: 2,
            },
            Origin::Remote,
        );
        assert!(matches!(e, ConclaveError::Rejected { .. }), "{e:?}");
        assert_eq!(e.kind(), "stale_epoch");
        let e = ConclaveError::from_meeting(MeetingError::NotInMeeting, Origin::Local);
        assert_eq!(e.kind(), "not_in_meeting");
        let e = ConclaveError::from_frame(FrameError::UnknownEpoch { tag: 3, current: 2 });
        assert_eq!(e.kind(), "unknown_epoch");
        assert_eq!(
            ConclaveError::invalid("x".into()).kind(),
            "invalid_argument"
        );
        assert_eq!(ConclaveError::internal("x".into()).kind(), "internal");
    }

    #[test]
    fn meeting_errors_depend_on_origin() {
        let invalid = MeetingError::Invalid {
            message: "config",
            reason: "x".into(),
        };
        assert!(matches!(
            ConclaveError::from_meeting(invalid.clone(), Origin::Local),
            ConclaveError::InvalidArgument { .. }
        ));
        assert!(matches!(
            ConclaveError::from_meeting(invalid, Origin::Remote),
            ConclaveError::Rejected { .. }
        ));
        assert_eq!(
            ConclaveError::from_meeting(MeetingError::NotTheLeader("rotate keys"), Origin::Local)
                .describe(),
            "only the leader can rotate keys"
        );
        let e = ConclaveError::from_meeting(
            MeetingError::Refused {
                participant: "mallory".into(),
                reason: "locked".into(),
            },
            Origin::Remote,
        );
        assert!(e.describe().contains("mallory"), "{e}");
    }
}
