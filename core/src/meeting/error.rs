//! Errors of the meeting engine: each says what was wrong and with whom.

use conclave_protocol::DecodeError;

use crate::CryptoError;
use crate::merkle::MerkleError;
use crate::tree::TreeError;

/// Why the engine rejected an input or refused an action.
///
/// Messages name the participant (id or leaf) and epoch where known, and never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingError {
    /// The bytes are not a valid protocol message.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A field is out of its allowed range.
    #[error("invalid {message}: {reason}")]
    Invalid {
        /// Which message.
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The message belongs to another meeting.
    #[error("{message} is for another meeting")]
    WrongMeeting {
        /// Which message.
        message: &'static str,
    },
    /// A signature did not verify.
    #[error("{message} from {from}: {source}")]
    BadSignature {
        /// Which message.
        message: &'static str,
        /// Who it claims to come from.
        from: String,
        /// The verification failure.
        source: CryptoError,
    },
    /// A commit or heartbeat was signed by someone who is not the leader by the rules.
    #[error(
        "{message} for epoch {epoch} signed by leaf {signer}, who is not the leader (leader is leaf {leader})"
    )]
    NotLeader {
        /// Which message.
        message: &'static str,
        /// The epoch.
        epoch: u64,
        /// Claimed signer leaf.
        signer: u32,
        /// The leader by the rules.
        leader: u32,
    },
    /// A message for an epoch already processed (a replay or a stale copy).
    #[error("{message} for epoch {epoch} is stale: current epoch is {current}")]
    StaleEpoch {
        /// Which message.
        message: &'static str,
        /// Its epoch.
        epoch: u64,
        /// The receiver's epoch.
        current: u64,
    },
    /// A commit chains to a transcript other than ours (a fork or split view).
    #[error("commit for epoch {epoch} does not chain to our transcript (fork or split view)")]
    TranscriptMismatch {
        /// The commit's epoch.
        epoch: u64,
    },
    /// A commit arrived ahead of one we are missing; it is buffered (COM-5), nothing else.
    #[error(
        "commit for epoch {epoch} arrived before epoch {expected}: buffered until the missing epoch arrives"
    )]
    Gap {
        /// Its epoch.
        epoch: u64,
        /// The epoch we need next.
        expected: u64,
    },
    /// The roster change contradicts the transcript or the rules.
    #[error("commit for epoch {epoch} has an invalid roster change: {reason}")]
    BadRoster {
        /// The commit's epoch.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
    /// A Merkle proof did not match the signed root.
    #[error("{message} for epoch {epoch}: entries do not match the signed root ({source})")]
    BadProof {
        /// Which message.
        message: &'static str,
        /// Its epoch.
        epoch: u64,
        /// The proof failure.
        source: MerkleError,
    },
    /// Entries do not match the signed root.
    #[error("{message} for epoch {epoch}: entries do not match the signed Merkle root")]
    RootMismatch {
        /// Which message.
        message: &'static str,
        /// Its epoch.
        epoch: u64,
    },
    /// The key tree could not be updated (missing or undecryptable entries).
    #[error("epoch {epoch}: {source}")]
    Tree {
        /// The epoch being entered.
        epoch: u64,
        /// What failed.
        source: TreeError,
    },
    /// A cryptographic operation failed.
    #[error("epoch {epoch}: {source}")]
    Crypto {
        /// The epoch.
        epoch: u64,
        /// What failed.
        source: CryptoError,
    },
    /// The heartbeat's key confirmation differs from ours: our keys differ from the leader's.
    #[error(
        "heartbeat for epoch {epoch}: key confirmation differs from ours (our keys are wrong or the heartbeat is forged); resync requested"
    )]
    ConfirmationMismatch {
        /// The epoch.
        epoch: u64,
    },
    /// A heartbeat repeats or precedes one already accepted.
    #[error("heartbeat {sequence} for epoch {epoch} replays or precedes heartbeat {last}")]
    ReplayedHeartbeat {
        /// Its epoch.
        epoch: u64,
        /// Its sequence number.
        sequence: u64,
        /// The last accepted sequence number.
        last: u64,
    },
    /// A participant id or identity was refused admission.
    #[error("announcement from {participant}: {reason}")]
    Refused {
        /// The participant id.
        participant: String,
        /// Why.
        reason: String,
    },
    /// A rejoin announcement (an identity the leader has pinned) that does not reference one of
    /// the leader's recent heartbeats sent since the identity's last admission or departure:
    /// a replay, or a rejoiner that has not heard a heartbeat yet (it retries with one).
    #[error(
        "announcement from {participant} is a replayed or stale rejoin: it does not reference a recent heartbeat"
    )]
    Replayed {
        /// The participant id.
        participant: String,
    },
    /// The message is not expected in the current state.
    #[error("unexpected {message}: {reason}")]
    Unexpected {
        /// Which message.
        message: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// An action needs the leader role.
    #[error("only the leader can {0}")]
    NotTheLeader(&'static str),
    /// The meeting is over for this participant.
    #[error("this participant has left or was removed from the meeting")]
    NotInMeeting,
    /// A participant is unknown.
    #[error("no participant {0} in the meeting")]
    UnknownParticipant(String),
    /// The meeting is full.
    #[error("the meeting is full ({0} participants)")]
    Full(usize),
}

/// The kind of a [`MeetingError`]: its variant without the details, with a stable name for
/// logs, metrics, bindings and tools ([`MeetingErrorKind::as_str`]).
///
/// Names never change once released; a new error variant gets a new kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MeetingErrorKind {
    /// [`MeetingError::Decode`].
    Decode,
    /// [`MeetingError::Invalid`].
    Invalid,
    /// [`MeetingError::WrongMeeting`].
    WrongMeeting,
    /// [`MeetingError::BadSignature`].
    BadSignature,
    /// [`MeetingError::NotLeader`].
    NotLeader,
    /// [`MeetingError::StaleEpoch`].
    StaleEpoch,
    /// [`MeetingError::TranscriptMismatch`].
    TranscriptMismatch,
    /// [`MeetingError::Gap`].
    Gap,
    /// [`MeetingError::BadRoster`].
    BadRoster,
    /// [`MeetingError::BadProof`].
    BadProof,
    /// [`MeetingError::RootMismatch`].
    RootMismatch,
    /// [`MeetingError::Tree`].
    Tree,
    /// [`MeetingError::Crypto`].
    Crypto,
    /// [`MeetingError::ConfirmationMismatch`].
    ConfirmationMismatch,
    /// [`MeetingError::ReplayedHeartbeat`].
    ReplayedHeartbeat,
    /// [`MeetingError::Refused`].
    Refused,
    /// [`MeetingError::Replayed`].
    Replayed,
    /// [`MeetingError::Unexpected`].
    Unexpected,
    /// [`MeetingError::NotTheLeader`].
    NotTheLeader,
    /// [`MeetingError::NotInMeeting`].
    NotInMeeting,
    /// [`MeetingError::UnknownParticipant`].
    UnknownParticipant,
    /// [`MeetingError::Full`].
    Full,
}

impl MeetingErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [MeetingErrorKind] = &[
        MeetingErrorKind::Decode,
        MeetingErrorKind::Invalid,
        MeetingErrorKind::WrongMeeting,
        MeetingErrorKind::BadSignature,
        MeetingErrorKind::NotLeader,
        MeetingErrorKind::StaleEpoch,
        MeetingErrorKind::TranscriptMismatch,
        MeetingErrorKind::Gap,
        MeetingErrorKind::BadRoster,
        MeetingErrorKind::BadProof,
        MeetingErrorKind::RootMismatch,
        MeetingErrorKind::Tree,
        MeetingErrorKind::Crypto,
        MeetingErrorKind::ConfirmationMismatch,
        MeetingErrorKind::ReplayedHeartbeat,
        MeetingErrorKind::Refused,
        MeetingErrorKind::Replayed,
        MeetingErrorKind::Unexpected,
        MeetingErrorKind::NotTheLeader,
        MeetingErrorKind::NotInMeeting,
        MeetingErrorKind::UnknownParticipant,
        MeetingErrorKind::Full,
    ];

    /// The stable snake_case name of the kind (`"bad_signature"`, `"stale_epoch"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingErrorKind::Decode => "decode",
            MeetingErrorKind::Invalid => "invalid",
            MeetingErrorKind::WrongMeeting => "wrong_meeting",
            MeetingErrorKind::BadSignature => "bad_signature",
            MeetingErrorKind::NotLeader => "not_leader",
            MeetingErrorKind::StaleEpoch => "stale_epoch",
            MeetingErrorKind::TranscriptMismatch => "transcript_mismatch",
            MeetingErrorKind::Gap => "gap",
            MeetingErrorKind::BadRoster => "bad_roster",
            MeetingErrorKind::BadProof => "bad_proof",
            MeetingErrorKind::RootMismatch => "root_mismatch",
            MeetingErrorKind::Tree => "tree",
            MeetingErrorKind::Crypto => "crypto",
            MeetingErrorKind::ConfirmationMismatch => "confirmation_mismatch",
            MeetingErrorKind::ReplayedHeartbeat => "replayed_heartbeat",
            MeetingErrorKind::Refused => "refused",
            MeetingErrorKind::Replayed => "replayed",
            MeetingErrorKind::Unexpected => "unexpected",
            MeetingErrorKind::NotTheLeader => "not_the_leader",
            MeetingErrorKind::NotInMeeting => "not_in_meeting",
            MeetingErrorKind::UnknownParticipant => "unknown_participant",
            MeetingErrorKind::Full => "full",
        }
    }
}

impl core::fmt::Display for MeetingErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MeetingError {
    /// The error's kind: its variant without the details.
    pub fn kind(&self) -> MeetingErrorKind {
        match self {
            MeetingError::Decode(_) => MeetingErrorKind::Decode,
            MeetingError::Invalid { .. } => MeetingErrorKind::Invalid,
            MeetingError::WrongMeeting { .. } => MeetingErrorKind::WrongMeeting,
            MeetingError::BadSignature { .. } => MeetingErrorKind::BadSignature,
            MeetingError::NotLeader { .. } => MeetingErrorKind::NotLeader,
            MeetingError::StaleEpoch { .. } => MeetingErrorKind::StaleEpoch,
            MeetingError::TranscriptMismatch { .. } => MeetingErrorKind::TranscriptMismatch,
            MeetingError::Gap { .. } => MeetingErrorKind::Gap,
            MeetingError::BadRoster { .. } => MeetingErrorKind::BadRoster,
            MeetingError::BadProof { .. } => MeetingErrorKind::BadProof,
            MeetingError::RootMismatch { .. } => MeetingErrorKind::RootMismatch,
            MeetingError::Tree { .. } => MeetingErrorKind::Tree,
            MeetingError::Crypto { .. } => MeetingErrorKind::Crypto,
            MeetingError::ConfirmationMismatch { .. } => MeetingErrorKind::ConfirmationMismatch,
            MeetingError::ReplayedHeartbeat { .. } => MeetingErrorKind::ReplayedHeartbeat,
            MeetingError::Refused { .. } => MeetingErrorKind::Refused,
            MeetingError::Replayed { .. } => MeetingErrorKind::Replayed,
            MeetingError::Unexpected { .. } => MeetingErrorKind::Unexpected,
            MeetingError::NotTheLeader(_) => MeetingErrorKind::NotTheLeader,
            MeetingError::NotInMeeting => MeetingErrorKind::NotInMeeting,
            MeetingError::UnknownParticipant(_) => MeetingErrorKind::UnknownParticipant,
            MeetingError::Full(_) => MeetingErrorKind::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_protocol::MessageKind;

    /// One error of every variant, with the kind name it must keep.
    #[allow(clippy::too_many_lines)] // one row per variant: a table, not logic
    fn table() -> Vec<(MeetingError, &'static str)> {
        let crypto = || CryptoError::SealFailed("test");
        let m = "commit";
        vec![
            (
                MeetingError::Decode(DecodeError::NoSchema {
                    kind: MessageKind::Commit,
                }),
                "decode",
            ),
            (
                MeetingError::Invalid {
                    message: m,
                    reason: "r".into(),
                },
                "invalid",
            ),
            (MeetingError::WrongMeeting { message: m }, "wrong_meeting"),
            (
                MeetingError::BadSignature {
                    message: m,
                    from: "bob".into(),
                    source: crypto(),
                },
                "bad_signature",
            ),
            (
                MeetingError::NotLeader {
                    message: m,
                    epoch: 1,
                    signer: 2,
                    leader: 0,
                },
                "not_leader",
            ),
            (
                MeetingError::StaleEpoch {
                    message: m,
                    epoch: 1,
                    current: 2,
                },
                "stale_epoch",
            ),
            (
                MeetingError::TranscriptMismatch { epoch: 1 },
                "transcript_mismatch",
            ),
            (
                MeetingError::Gap {
                    epoch: 3,
                    expected: 2,
                },
                "gap",
            ),
            (
                MeetingError::BadRoster {
                    epoch: 1,
                    reason: "r".into(),
                },
                "bad_roster",
            ),
            (
                MeetingError::BadProof {
                    message: m,
                    epoch: 1,
                    source: MerkleError::ProofTooShort,
                },
                "bad_proof",
            ),
            (
                MeetingError::RootMismatch {
                    message: m,
                    epoch: 1,
                },
                "root_mismatch",
            ),
            (
                MeetingError::Tree {
                    epoch: 1,
                    source: TreeError::Full,
                },
                "tree",
            ),
            (
                MeetingError::Crypto {
                    epoch: 1,
                    source: crypto(),
                },
                "crypto",
            ),
            (
                MeetingError::ConfirmationMismatch { epoch: 1 },
                "confirmation_mismatch",
            ),
            (
                MeetingError::ReplayedHeartbeat {
                    epoch: 1,
                    sequence: 1,
                    last: 2,
                },
                "replayed_heartbeat",
            ),
            (
                MeetingError::Refused {
                    participant: "p".into(),
                    reason: "r".into(),
                },
                "refused",
            ),
            (
                MeetingError::Replayed {
                    participant: "p".into(),
                },
                "replayed",
            ),
            (
                MeetingError::Unexpected {
                    message: m,
                    reason: "r",
                },
                "unexpected",
            ),
            (MeetingError::NotTheLeader("rotate"), "not_the_leader"),
            (MeetingError::NotInMeeting, "not_in_meeting"),
            (
                MeetingError::UnknownParticipant("p".into()),
                "unknown_participant",
            ),
            (MeetingError::Full(64), "full"),
        ]
    }

    #[test]
    fn every_variant_has_a_distinct_kind_with_a_stable_name() {
        let table = table();
        let mut kinds: Vec<MeetingErrorKind> = table.iter().map(|(e, _)| e.kind()).collect();
        for (e, name) in &table {
            assert_eq!(e.kind().as_str(), *name, "{e:?}");
            assert_eq!(e.kind().to_string(), *name);
        }
        // One kind per variant, and every kind is some variant's.
        assert_eq!(kinds, MeetingErrorKind::ALL);
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), table.len());
        let mut names: Vec<&str> = MeetingErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MeetingErrorKind::ALL.len());
    }
}
