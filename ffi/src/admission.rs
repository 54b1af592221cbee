//! Admission under the application's control: the policy, join requests and refusals.

use conclave_core::meeting::{AdmissionPolicy as CorePolicy, JoinRefusal as CoreRefusal};

use crate::meeting::{Meeting, local};
use crate::{ConclaveError, ms};

/// Who the leader admits (`spec/state-machine.md` ANN-12). Set it in
/// [`crate::MeetingOptions::admission`]; only the leader's policy matters.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AdmissionPolicy {
    /// Admit everyone who passes the protocol's rules (identity pinning, lock, suites, removals).
    Automatic,
    /// Ask the application: each join becomes a [`crate::MeetingEvent::JoinRequested`]; answer
    /// with [`Meeting::admit`] or [`Meeting::deny`] within 120 s.
    Manual,
    /// Admit exactly these identities, by rendered fingerprint (8 groups of 5 digits, as in
    /// [`crate::Identity::fingerprint`] and the events); refuse everyone else.
    AllowList {
        /// The admitted fingerprints.
        fingerprints: Vec<String>,
    },
}

impl From<AdmissionPolicy> for CorePolicy {
    fn from(p: AdmissionPolicy) -> Self {
        match p {
            AdmissionPolicy::Automatic => Self::Automatic,
            AdmissionPolicy::Manual => Self::Manual,
            AdmissionPolicy::AllowList { fingerprints } => {
                Self::AllowList(fingerprints.into_iter().collect())
            }
        }
    }
}

/// Why the leader refused a join ([`crate::MeetingEvent::JoinRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JoinRefusal {
    /// The participant id is pinned to another identity.
    IdentityMismatch,
    /// The leader itself has this participant id.
    AlreadyPresent,
    /// The identity was removed; [`Meeting::admit`] lets it back.
    Removed,
    /// The application denied the identity; [`Meeting::admit`] lets it back.
    Denied,
    /// The meeting is locked and the identity is new.
    Locked,
    /// The identity is not on the allow-list.
    NotAllowed,
    /// The meeting requires post-quantum key distribution and the joiner offers none.
    SuiteTooWeak,
    /// The joiner shares no cipher suite with the members.
    NoCommonSuite,
    /// Another identity's request for this participant id is pending.
    RequestPending,
    /// Too many join requests await the application.
    TooManyRequests,
    /// The request was not decided in time (120 s).
    Expired,
    /// Too many announcements are queued for the next commit.
    TooManyPending,
    /// The meeting is full.
    MeetingFull,
}

impl From<CoreRefusal> for JoinRefusal {
    fn from(r: CoreRefusal) -> Self {
        match r {
            CoreRefusal::IdentityMismatch => Self::IdentityMismatch,
            CoreRefusal::AlreadyPresent => Self::AlreadyPresent,
            CoreRefusal::Removed => Self::Removed,
            CoreRefusal::Denied => Self::Denied,
            CoreRefusal::Locked => Self::Locked,
            CoreRefusal::NotAllowed => Self::NotAllowed,
            CoreRefusal::SuiteTooWeak => Self::SuiteTooWeak,
            CoreRefusal::NoCommonSuite => Self::NoCommonSuite,
            CoreRefusal::RequestPending => Self::RequestPending,
            CoreRefusal::TooManyRequests => Self::TooManyRequests,
            CoreRefusal::Expired => Self::Expired,
            CoreRefusal::TooManyPending => Self::TooManyPending,
            CoreRefusal::MeetingFull => Self::MeetingFull,
        }
    }
}

#[uniffi::export]
impl Meeting {
    /// Leader: admits `participant_id`: its pending join request (manual admission) joins in the
    /// next commit, and a removal or denial of its identity is lifted so that it can join again.
    /// `UnknownParticipant` if there is neither a request nor a refusal for it.
    pub fn admit(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?
            .admit(&participant_id, ms(now_ms)?)
            .map_err(local)
    }

    /// Leader: denies the pending join request of `participant_id`; its identity is refused
    /// until [`Meeting::admit`]. `UnknownParticipant` if no request is pending.
    pub fn deny(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?
            .deny(&participant_id, ms(now_ms)?)
            .map_err(local)
    }

    /// Leader: releases the identity pinned to `participant_id` (not present), so that another
    /// identity may take the id, for example after removing a participant that squatted it.
    pub fn release_pin(&self, participant_id: String) -> Result<(), ConclaveError> {
        self.state()?.release_pin(&participant_id).map_err(local)
    }
}
