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
