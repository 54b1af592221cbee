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
/// sentence in every language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum ConclaveError {
    /// The bytes are not a valid protocol message or frame.
    #[error("{reason}")]
    Decode {
        /// What is malformed.
        reason: String,
    },
    /// A protocol message was refused: bad signature, another meeting, stale or forked epoch,
    /// not signed by the leader, refused admission, unexpected in this state, ... The reason
    /// names the message, the participant (id or leaf) and the epoch where known. Rejected input
    /// does not change the meeting; the application may log it and carry on.
    #[error("{reason}")]
    Rejected {
        /// What was refused and why.
        reason: String,
    },
    /// A frame does not authenticate: it was modified, relabelled with another sender or stream,
    /// or sealed under a key this participant does not have (e.g. after it was removed).
    #[error(
        "frame from sender {sender} stream {stream} epoch {epoch} does not authenticate (tampered, or sealed under another key)"
    )]
    Tampered {
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
        /// The frame's epoch tag (epoch number modulo 256).
        tag: i32,
        /// The receiver's current epoch.
        current: i64,
    },
    /// A frame is too old: its epoch's keys were dropped or it is below the replay window.
    #[error("frame from sender {sender} stream {stream} counter {counter} is too old: {reason}")]
    TooOld {
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
        /// What is missing.
        reason: String,
    },
    /// This participant has left or was removed from the meeting.
    #[error("this participant has left or was removed from the meeting")]
    NotInMeeting,
    /// The action needs the leader role.
    #[error("only the leader can {action}")]
    NotLeader {
        /// The refused action.
        action: String,
    },
    /// No participant with this id is in the meeting.
    #[error("no participant {participant_id} in the meeting")]
    UnknownParticipant {
        /// The id asked for.
        participant_id: String,
    },
    /// An argument is out of range (meeting id, participant id, options, identity secret, frame
    /// or prefix length).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// An internal failure (the OS random source failed, or an earlier internal error left the
    /// meeting unusable). Not caused by the peers; recreate the meeting.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

#[uniffi::export]
impl ConclaveError {
    /// The full human-readable message (the same text as `toString()` in Kotlin and
    /// `description` in Swift; Python's `str(e)` only lists the fields).
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

impl ConclaveError {
    /// The variant's name, for logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Decode { .. } => "Decode",
            Self::Rejected { .. } => "Rejected",
            Self::Tampered { .. } => "Tampered",
            Self::Replayed { .. } => "Replayed",
            Self::UnknownEpoch { .. } => "UnknownEpoch",
            Self::TooOld { .. } => "TooOld",
            Self::NoKeys { .. } => "NoKeys",
            Self::NotInMeeting => "NotInMeeting",
            Self::NotLeader { .. } => "NotLeader",
            Self::UnknownParticipant { .. } => "UnknownParticipant",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::Internal { .. } => "Internal",
        }
    }

    /// Maps an engine error. `Invalid` is the caller's fault for local calls and a rejection of
    /// the peer's message otherwise.
    pub(crate) fn from_meeting(e: MeetingError, origin: Origin) -> Self {
        let reason = e.to_string();
        match e {
            MeetingError::Decode(_) => ConclaveError::Decode { reason },
            MeetingError::Invalid { .. } if origin == Origin::Local => {
                ConclaveError::InvalidArgument { reason }
            }
            MeetingError::NotTheLeader(action) => ConclaveError::NotLeader {
                action: action.to_string(),
            },
            MeetingError::NotInMeeting => ConclaveError::NotInMeeting,
            MeetingError::UnknownParticipant(participant_id) => {
                ConclaveError::UnknownParticipant { participant_id }
            }
            _ => ConclaveError::Rejected { reason },
        }
    }

    /// Maps a frame error.
    pub(crate) fn from_frame(e: FrameError) -> Self {
        let reason = e.to_string();
        match e {
            FrameError::Malformed { .. } | FrameError::InvalidMedia { .. } => {
                ConclaveError::Decode { reason }
            }
            FrameError::UnknownEpoch { tag, current } => ConclaveError::UnknownEpoch {
                tag: i32::from(tag),
                current: out64(current),
            },
            FrameError::TooOld {
                sender,
                stream,
                counter,
                cause,
            } => ConclaveError::TooOld {
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
                sender: out32(sender),
                stream: out32(stream),
                epoch: out64(epoch),
            },
            FrameError::UnknownSender { .. }
            | FrameError::OwnFrame { .. }
            | FrameError::StreamLimit { .. } => ConclaveError::Rejected { reason },
            FrameError::NoKeys
            | FrameError::NoOwnSender
            | FrameError::CounterExhausted { .. }
            | FrameError::EpochRetired { .. } => ConclaveError::NoKeys { reason },
            FrameError::TooLarge { .. } | FrameError::InvalidConfig { .. } => {
                ConclaveError::InvalidArgument { reason }
            }
            _ => ConclaveError::Internal { reason },
        }
    }

    /// Maps a cryptographic error of a local call (identity import).
    pub(crate) fn from_crypto(e: CryptoError) -> Self {
        ConclaveError::InvalidArgument {
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
                sender: 2,
                stream: 7,
                epoch: 3
            }
        );
        assert!(e.describe().contains("sender 2 stream 7 epoch 3"));
        let e = ConclaveError::from_frame(FrameError::NoKeys);
        assert!(matches!(e, ConclaveError::NoKeys { .. }), "{e:?}");
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
