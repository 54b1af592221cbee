//! What a meeting reports to the application: [`MeetingEvent`].

use conclave_core::CipherSuite as CoreCipherSuite;
use conclave_core::meeting::Event;

use crate::admission::JoinRefusal;
use crate::meeting::{CipherSuite, RemovalReason};
use crate::{out32, out64, to_ms};

/// Something that happened in the meeting, for the UI and the media pipeline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum MeetingEvent {
    /// This participant is in the meeting with keys for `epoch`.
    Joined {
        /// The epoch joined.
        epoch: i64,
        /// Our leaf (our frame sender index).
        leaf: i32,
    },
    /// A participant was added.
    ParticipantAdded {
        /// Its id.
        participant_id: String,
        /// Its leaf (frame sender index).
        leaf: i32,
        /// Its identity fingerprint (8 groups of 5 digits).
        fingerprint: String,
    },
    /// A participant was removed or left.
    ParticipantRemoved {
        /// Its id.
        participant_id: String,
        /// Why.
        reason: RemovalReason,
    },
    /// A new epoch's keys are installed. Show the new security code.
    EpochChanged {
        /// The epoch.
        epoch: i64,
        /// Its security code (6 groups of 5 digits) to compare out of band.
        security_code: String,
    },
    /// Frames are now encrypted with `epoch`.
    SendEpoch {
        /// The epoch frames are sent with.
        epoch: i64,
    },
    /// The leader changed.
    LeaderChanged {
        /// The new leader's id.
        participant_id: String,
        /// Its identity fingerprint.
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
        missed: i32,
    },
    /// Our keys are missing or stale; a resync request was sent.
    ResyncNeeded {
        /// Why.
        reason: String,
    },
    /// Our liveness nonce was not echoed in time: the view we get may be stale.
    StaleView {
        /// Milliseconds since our oldest unechoed nonce.
        since_ms: i64,
    },
    /// Stop sending media: the leader is silent or our view may be stale.
    SendingPaused {
        /// Why.
        reason: String,
    },
    /// Sending may resume with `epoch`.
    SendingResumed {
        /// The epoch to send with.
        epoch: i64,
    },
    /// The meeting now uses another cipher suite (negotiated: the strongest every member
    /// supports).
    SuiteChanged {
        /// The suite's wire id ([`crate::cipher_suite_id`]: 1 P-256, 2 X-Wing).
        suite_id: i32,
        /// The suite, when this build implements it (always, for suites a meeting negotiated).
        suite: Option<CipherSuite>,
        /// Whether its key distribution is post-quantum.
        post_quantum: bool,
    },
    /// We require post-quantum key distribution and the meeting uses `suite_id`: we leave.
    SuiteRefused {
        /// The refused suite's wire id.
        suite_id: i32,
        /// The suite, when this build implements it (always, for suites a meeting negotiated).
        suite: Option<CipherSuite>,
    },
    /// Leader with manual admission: a participant asks to join. Answer with
    /// [`crate::Meeting::admit`] or [`crate::Meeting::deny`] (within 120 s).
    JoinRequested {
        /// Its id.
        participant_id: String,
        /// Its identity fingerprint (8 groups of 5 digits).
        fingerprint: String,
        /// The suite's wire id the meeting would use with it (1 means a post-quantum meeting
        /// would drop to classical key distribution).
        suite_id: i32,
        /// The suite, when this build implements it (always, for suites a meeting negotiated).
        suite: Option<CipherSuite>,
    },
    /// Leader: a join was refused, and why.
    JoinRefused {
        /// The id it asked for.
        participant_id: String,
        /// Why.
        reason: JoinRefusal,
    },
    /// This participant left or was removed; the meeting object is finished.
    Ended {
        /// Why.
        reason: RemovalReason,
    },
}

/// The bindings' suite of a wire id, if this build implements it.
fn suite_of(id: u32) -> Option<CipherSuite> {
    CoreCipherSuite::from_id(id).ok().map(Into::into)
}

impl From<Event> for MeetingEvent {
    fn from(e: Event) -> Self {
        match e {
            Event::Joined { epoch, leaf } => Self::Joined {
                epoch: out64(epoch),
                leaf: out32(leaf),
            },
            Event::ParticipantAdded {
                participant_id,
                leaf,
                fingerprint,
            } => Self::ParticipantAdded {
                participant_id,
                leaf: out32(leaf),
                fingerprint,
            },
            Event::ParticipantRemoved {
                participant_id,
                reason,
            } => Self::ParticipantRemoved {
                participant_id,
                reason: reason.into(),
            },
            Event::EpochChanged {
                epoch,
                security_code,
            } => Self::EpochChanged {
                epoch: out64(epoch),
                security_code,
            },
            Event::SendEpoch { epoch } => Self::SendEpoch {
                epoch: out64(epoch),
            },
            Event::LeaderChanged {
                participant_id,
                fingerprint,
            } => Self::LeaderChanged {
                participant_id,
                fingerprint,
            },
            Event::LockChanged { locked } => Self::LockChanged { locked },
            Event::HeartbeatMissed { leader, missed } => Self::HeartbeatMissed {
                leader,
                missed: out32(missed),
            },
            Event::ResyncNeeded { reason } => Self::ResyncNeeded { reason },
            Event::StaleView { since } => Self::StaleView {
                since_ms: to_ms(since),
            },
            Event::SendingPaused { reason } => Self::SendingPaused { reason },
            Event::SendingResumed { epoch } => Self::SendingResumed {
                epoch: out64(epoch),
            },
            Event::SuiteChanged {
                suite,
                post_quantum,
            } => Self::SuiteChanged {
                suite_id: out32(suite),
                suite: suite_of(suite),
                post_quantum,
            },
            Event::SuiteRefused { suite } => Self::SuiteRefused {
                suite_id: out32(suite),
                suite: suite_of(suite),
            },
            Event::JoinRequested {
                participant_id,
                fingerprint,
                suite,
            } => Self::JoinRequested {
                participant_id,
                fingerprint,
                suite_id: out32(suite),
                suite: suite_of(suite),
            },
            Event::JoinRefused {
                participant_id,
                reason,
            } => Self::JoinRefused {
                participant_id,
                reason: reason.into(),
            },
            Event::Ended { reason } => Self::Ended {
                reason: reason.into(),
            },
        }
    }
}
