//! What a meeting reports and sends: events, removal reasons and transmits
//! (`spec/state-machine.md` sections 3.2 and 15).

use super::JoinRefusal;
#[cfg(doc)]
use super::{AdmissionPolicy, Meeting};
use conclave_protocol::v1::RemoveReason;
use std::time::Duration;

/// Where an outgoing message should go. Relays MAY broadcast everything; recipients ignore
/// what is not for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Every participant of the meeting (commits, heartbeats).
    All,
    /// The current leader (announcements, leaves, resync requests, liveness nonces).
    Leader,
    /// One participant (Welcomes).
    Participant(String),
}

/// An encoded `Envelope` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes.
    pub destination: Destination,
    /// The encoded envelope.
    pub payload: Vec<u8>,
}

/// Something that happened in the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This participant is in the meeting with keys for `epoch`.
    Joined {
        /// The epoch joined.
        epoch: u64,
        /// Our leaf (sender index for frames).
        leaf: u32,
    },
    /// A participant was added.
    ParticipantAdded {
        /// Its id.
        participant_id: String,
        /// Its leaf.
        leaf: u32,
        /// Its identity fingerprint, rendered.
        fingerprint: String,
    },
    /// A participant was removed.
    ParticipantRemoved {
        /// Its id.
        participant_id: String,
        /// Why.
        reason: RemovalReason,
    },
    /// A new epoch's keys are installed.
    EpochChanged {
        /// The epoch.
        epoch: u64,
        /// Its security code (6 groups of 5 digits).
        security_code: String,
    },
    /// Senders should now encrypt with `epoch` (the switch-over of `spec/state-machine.md`).
    SendEpoch {
        /// The epoch to send with.
        epoch: u64,
    },
    /// The leader changed.
    LeaderChanged {
        /// The new leader's id.
        participant_id: String,
        /// Its identity fingerprint, rendered.
        fingerprint: String,
    },
    /// The meeting was locked or unlocked.
    LockChanged {
        /// The new state.
        locked: bool,
    },
    /// Heartbeats from the leader stopped.
    HeartbeatMissed {
        /// The leader's id.
        leader: String,
        /// How many intervals passed without one.
        missed: u32,
    },
    /// Our keys are missing or stale; a resync request was sent.
    ResyncNeeded {
        /// Why.
        reason: String,
    },
    /// Our liveness nonce was not echoed in time: the view we get may be stale.
    StaleView {
        /// How long since our oldest unechoed nonce.
        since: Duration,
    },
    /// Stop sending media: the leader is silent or our view may be stale (removed members
    /// could otherwise keep reading what we send).
    SendingPaused {
        /// Why.
        reason: String,
    },
    /// Sending may resume with `epoch`.
    SendingResumed {
        /// The epoch to send with.
        epoch: u64,
    },
    /// The meeting's cipher suite changed (a member without post-quantum support joined or the
    /// last one left). Every app should show whether key distribution is post-quantum.
    SuiteChanged {
        /// The suite id.
        suite: u32,
        /// Whether its key distribution is post-quantum.
        post_quantum: bool,
    },
    /// We require post-quantum key distribution and the meeting uses `suite`: we leave.
    SuiteRefused {
        /// The suite id offered.
        suite: u32,
    },
    /// Leader, [`AdmissionPolicy::Manual`]: a participant asks to join. Answer with
    /// [`Meeting::admit`] or [`Meeting::deny`] within `JOIN_REQUEST_TIMEOUT`.
    JoinRequested {
        /// Its id.
        participant_id: String,
        /// Its identity fingerprint, rendered.
        fingerprint: String,
        /// The suite id the meeting would use with it (a classical-only joiner moves a
        /// post-quantum meeting to suite 1).
        suite: u32,
    },
    /// Leader: a participant's announcement was refused by the admission rules (not reported
    /// for replayed announcements, which are only rejected).
    JoinRefused {
        /// The id it asked for.
        participant_id: String,
        /// Why.
        reason: JoinRefusal,
    },
    /// This participant was removed, or left.
    Ended {
        /// Why.
        reason: RemovalReason,
    },
}

/// Why a participant left the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// It left.
    Left,
    /// The leader removed it.
    Removed,
    /// It timed out.
    TimedOut,
    /// It was the leader and failed.
    LeaderFailed,
    /// It requires post-quantum key distribution and the meeting moved to a classical suite.
    SuiteRefused,
}

impl RemovalReason {
    pub(super) fn from_wire(r: i32) -> Self {
        match RemoveReason::try_from(r) {
            Ok(RemoveReason::Left) => Self::Left,
            Ok(RemoveReason::TimedOut) => Self::TimedOut,
            Ok(RemoveReason::LeaderFailed) => Self::LeaderFailed,
            _ => Self::Removed,
        }
    }

    pub(super) fn to_wire(self) -> RemoveReason {
        match self {
            Self::Left => RemoveReason::Left,
            Self::Removed => RemoveReason::Removed,
            Self::TimedOut => RemoveReason::TimedOut,
            Self::LeaderFailed => RemoveReason::LeaderFailed,
            Self::SuiteRefused => RemoveReason::Left,
        }
    }
}

/// A read-only view of a present participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Its id.
    pub participant_id: String,
    /// Its leaf (frame sender index).
    pub leaf: u32,
    /// The epoch that admitted it.
    pub admitted_epoch: u64,
    /// Its identity fingerprint, rendered.
    pub fingerprint: String,
    /// Whether it is the leader.
    pub is_leader: bool,
}
