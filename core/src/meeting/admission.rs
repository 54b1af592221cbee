//! Admission: who the leader lets in (`spec/state-machine.md` section 5).
//!
//! The application's policy ([`AdmissionPolicy`]: automatic, manual with
//! [`Event::JoinRequested`] and [`Meeting::admit`]/[`Meeting::deny`], or an allow-list), the
//! identity pins and durable removals ([`PinTable`]), the bounded queue of join requests awaiting
//! the application, and the ring of the leader's recent heartbeats that a rejoin must reference
//! so that a replayed announcement cannot evict or impersonate a live member (ANN-10).

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use conclave_protocol::encode;
use conclave_protocol::limits::HASH_LEN;
use conclave_protocol::v1::SignedMessage;
use rand_core::CryptoRng;

use super::pins::{MAX_PINNED_IDENTITIES, PinTable};
use super::roster::negotiate_suite;
use super::wire::{ValidAnnouncement, parse_announcement};
use super::{Destination, Event, MAX_PENDING_ANNOUNCEMENTS, Meeting, MeetingError, RemovalReason};

/// How many of the leader's latest heartbeats a rejoin announcement may reference (ANN-10); the
/// referenced heartbeat must also be younger than this many heartbeat intervals.
pub const REJOIN_FRESHNESS_HEARTBEATS: usize = 8;
/// Most join requests awaiting the application's decision under [`AdmissionPolicy::Manual`].
pub const MAX_JOIN_REQUESTS: usize = 64;
/// Most bytes of announcements held by the awaiting join requests.
pub const MAX_JOIN_REQUEST_BYTES: usize = 65_536;
/// How long a join request waits for [`Meeting::admit`] or [`Meeting::deny`] before it is
/// dropped ([`JoinRefusal::Expired`]).
pub const JOIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Who a leader admits (ANN-12). Only the leader's policy matters; it applies to identities the
/// meeting has not pinned and to rejoins alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AdmissionPolicy {
    /// Admit every announcement that passes the protocol's rules (pinning, lock, suites,
    /// removals, limits).
    #[default]
    Automatic,
    /// Ask the application: each announcement that passes the rules becomes an
    /// [`Event::JoinRequested`] and waits (at most [`JOIN_REQUEST_TIMEOUT`]) for
    /// [`Meeting::admit`] or [`Meeting::deny`].
    Manual,
    /// Admit exactly the identities whose rendered fingerprints (as in
    /// [`Event::ParticipantAdded`], 8 groups of 5 digits) are listed; refuse the others
    /// ([`JoinRefusal::NotAllowed`]). At most `MAX_PINNED_IDENTITIES` entries.
    AllowList(BTreeSet<String>),
}

/// Why the leader refused a join ([`Event::JoinRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The participant id is pinned to another identity (ANN-5.2).
    IdentityMismatch,
    /// A present member, the leader itself, already has this participant id (ANN-5.1).
    AlreadyPresent,
    /// The identity was removed and the application has not admitted it since (ANN-11).
    Removed,
    /// The application denied this identity's request and has not admitted it since (ANN-11).
    Denied,
    /// The meeting is locked and the identity is not pinned (ANN-5.3).
    Locked,
    /// The identity is not on the allow-list (ANN-12).
    NotAllowed,
    /// The meeting requires post-quantum key distribution and the announcement has no
    /// post-quantum key: admitting it would downgrade the meeting's suite (ANN-5.5).
    SuiteTooWeak,
    /// The announcement shares no cipher suite with the members (ANN-5.5).
    NoCommonSuite,
    /// A request for this participant id by another identity awaits the application (ANN-12).
    RequestPending,
    /// `MAX_JOIN_REQUESTS` requests (or `MAX_JOIN_REQUEST_BYTES`) await the application.
    TooManyRequests,
    /// The request was not decided within `JOIN_REQUEST_TIMEOUT`.
    Expired,
    /// `MAX_PENDING_ANNOUNCEMENTS` announcements are queued for the next commit (ANN-7).
    TooManyPending,
    /// The meeting would exceed its participant limit (ANN-8).
    MeetingFull,
}

impl JoinRefusal {
    /// A sentence for logs and errors.
    pub fn describe(self) -> &'static str {
        match self {
            Self::IdentityMismatch => {
                "its identity differs from the identity this participant id joined with"
            }
            Self::AlreadyPresent => "a present member already has this participant id",
            Self::Removed => "this identity was removed from the meeting",
            Self::Denied => "the application denied this identity",
            Self::Locked => "the meeting is locked to new identities",
            Self::NotAllowed => "this identity is not on the meeting's allow-list",
            Self::SuiteTooWeak => {
                "it has no post-quantum key, which this meeting requires (no suite downgrade)"
            }
            Self::NoCommonSuite => "it shares no cipher suite with the meeting's members",
            Self::RequestPending => "another identity's request for this participant id is pending",
            Self::TooManyRequests => "too many join requests await the application",
            Self::Expired => "the application did not decide the request in time",
            Self::TooManyPending => "too many announcements are queued for the next commit",
            Self::MeetingFull => "the meeting is full",
        }
    }
}

impl core::fmt::Display for JoinRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Checks the admission policy of a configuration.
pub(crate) fn check_policy(policy: &AdmissionPolicy) -> Result<(), MeetingError> {
    let AdmissionPolicy::AllowList(list) = policy else {
        return Ok(());
    };
    let well_formed = |f: &str| {
        f.len() == 47
            && f.split(' ').count() == 8
            && f.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
    };
    if list.len() > MAX_PINNED_IDENTITIES || !list.iter().all(|f| well_formed(f)) {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: format!(
                "the allow-list must hold at most {MAX_PINNED_IDENTITIES} rendered fingerprints (8 groups of 5 digits)"
            ),
        });
    }
    Ok(())
}

#[derive(Clone)]
struct JoinRequest {
    ann: ValidAnnouncement,
    received: Duration,
}

#[derive(Clone, Copy)]
struct SentHeartbeat {
    hash: [u8; HASH_LEN],
    epoch: u64,
    sent_at: Duration,
}

/// The admission state of one participant.
#[derive(Clone, Default)]
pub(crate) struct Admission {
    /// Identity pins and durable refusals (every participant keeps them).
    pub pins: PinTable,
    /// Leader: requests awaiting the application, oldest first.
    requests: VecDeque<JoinRequest>,
    request_bytes: usize,
    /// Leader: its latest heartbeats (ANN-10).
    recent: VecDeque<SentHeartbeat>,
    /// Joiner: `HeartbeatHash` of the newest heartbeat received, and the one last announced.
    pub(super) heard: Option<[u8; HASH_LEN]>,
    pub(super) announced: Option<[u8; HASH_LEN]>,
}

impl Admission {
    /// Leader: records a heartbeat it sent (ANN-10).
    pub fn heartbeat_sent(&mut self, hash: [u8; HASH_LEN], epoch: u64, now: Duration) {
        if self.recent.len() >= REJOIN_FRESHNESS_HEARTBEATS {
            self.recent.pop_front();
        }
        self.recent.push_back(SentHeartbeat {
            hash,
            epoch,
            sent_at: now,
        });
    }

    fn take_request(&mut self, participant_id: &str) -> Option<JoinRequest> {
        let i = self
            .requests
            .iter()
            .position(|r| r.ann.participant_id == participant_id)?;
        let r = self.requests.remove(i)?;
        self.request_bytes = self.request_bytes.saturating_sub(r.ann.bytes.len());
        Some(r)
    }
}

/// What a verified announcement asks of the leader (ANN-1 to ANN-12).
enum AnnouncementCheck {
    /// Not for us (we do not lead), or already admitted and awaiting its commit (ANN-6).
    Ignore,
    /// The member at this leaf announced again: its Welcome was lost (ANN-3).
    ResendWelcome(u32, ValidAnnouncement),
    /// Refused by the admission rules ([`Event::JoinRefused`]).
    Refuse(ValidAnnouncement, JoinRefusal),
    /// Manual admission: ask the application (ANN-12), replacing the member at the leaf given.
    Request(ValidAnnouncement, Option<u32>),
    /// Admitted: queue for the next commit (ANN-6 to ANN-9), replacing the member at the leaf
    /// given.
    Queue(ValidAnnouncement, Option<u32>),
}

impl Meeting {
    /// ANN-1 to ANN-12: an announcement at the leader.
    pub(super) fn on_announcement<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let check = self.stage_announcement(&signed, now)?;
        self.expire_join_requests(now);
        match check {
            AnnouncementCheck::Ignore => Ok(()),
            AnnouncementCheck::ResendWelcome(leaf, ann) => {
                self.resend_welcome(leaf, &ann, now, rng)
            }
            AnnouncementCheck::Refuse(ann, reason) => Err(self.refuse(&ann, reason)),
            AnnouncementCheck::Request(ann, replaces) => self.request_admission(ann, replaces, now),
            AnnouncementCheck::Queue(ann, replaces) => self.queue_admission(ann, replaces, now),
        }
    }

    /// ANN-1 to ANN-12 without changing state: what to do with the announcement.
    fn stage_announcement(
        &self,
        signed: &SignedMessage,
        now: Duration,
    ) -> Result<AnnouncementCheck, MeetingError> {
        if !self.is_leader() {
            return Ok(AnnouncementCheck::Ignore); // ANN-1: not for us; relays may broadcast.
        }
        let ann = parse_announcement(&encode(signed), &self.meeting_id, self.config.provider)?;
        let present = self.roster.leaf_of(&ann.participant_id);
        let present_member = present.and_then(|leaf| self.roster.get(leaf));
        if let (Some(leaf), Some(m)) = (present, present_member)
            && m.announcement.bytes == ann.bytes
        {
            return Ok(AnnouncementCheck::ResendWelcome(leaf, ann)); // ANN-3
        }
        match self.admission.pins.pinned(&ann.participant_id) {
            Some(p) if *p != ann.identity => {
                return Ok(AnnouncementCheck::Refuse(
                    ann,
                    JoinRefusal::IdentityMismatch,
                ));
            }
            Some(_) if !self.is_fresh_rejoin(&ann, now) => {
                return Err(MeetingError::Replayed {
                    participant: ann.participant_id,
                });
            }
            _ => {}
        }
        if let Some(r) = self.admission.pins.refusal(&ann.identity) {
            return Ok(AnnouncementCheck::Refuse(ann, r)); // ANN-11
        }
        let mut replaces = None;
        if let (Some(leaf), Some(m)) = (present, present_member) {
            if leaf == self.own_leaf {
                return Ok(AnnouncementCheck::Refuse(ann, JoinRefusal::AlreadyPresent));
            }
            if m.announcement.hpke_keys == ann.hpke_keys {
                // The same device object re-announced (a lost Welcome): ANN-3.
                return Ok(AnnouncementCheck::ResendWelcome(leaf, ann));
            }
            replaces = Some(leaf); // ANN-4: the same identity rejoined with fresh keys
        }
        if let Err(r) = self.check_admission(&ann, replaces.as_slice()) {
            return Ok(AnnouncementCheck::Refuse(ann, r));
        }
        let allowed = match &self.config.admission {
            AdmissionPolicy::AllowList(list) => list.contains(&ann.identity.fingerprint_string()),
            _ => true,
        };
        if !allowed {
            return Ok(AnnouncementCheck::Refuse(ann, JoinRefusal::NotAllowed));
        }
        if self.config.admission != AdmissionPolicy::Manual {
            return Ok(AnnouncementCheck::Queue(ann, replaces));
        }
        let queued = match &self.role {
            super::Role::Leader(l) => l
                .pending_adds
                .iter()
                .any(|p| p.participant_id == ann.participant_id),
            super::Role::Member(_) => false,
        };
        if queued {
            return Ok(AnnouncementCheck::Ignore); // ANN-6: admitted already, awaiting its commit
        }
        Ok(AnnouncementCheck::Request(ann, replaces))
    }

    /// ANN-10: a rejoin must reference one of the leader's latest heartbeats, sent since the
    /// identity's last admission or departure.
    fn is_fresh_rejoin(&self, ann: &ValidAnnouncement, now: Duration) -> bool {
        let Some(reference) = ann.recent_heartbeat else {
            return false;
        };
        let since = self
            .admission
            .pins
            .since_epoch(&ann.participant_id)
            .unwrap_or(0);
        let window = self
            .config
            .heartbeat_interval
            .saturating_mul(u32::try_from(REJOIN_FRESHNESS_HEARTBEATS).unwrap_or(u32::MAX));
        self.admission.recent.iter().any(|h| {
            h.hash == reference && h.epoch >= since && now.saturating_sub(h.sent_at) < window
        })
    }

    fn resend_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        ann: &ValidAnnouncement,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if leaf == self.own_leaf || !self.answer_allowed(leaf, now) {
            return Ok(());
        }
        let w = self.make_welcome(leaf, ann.nonce, true, rng)?;
        self.push_transmit(Destination::Participant(ann.participant_id.clone()), w);
        Ok(())
    }

    /// Reports a refusal ([`Event::JoinRefused`]) and returns its error.
    fn refuse(&mut self, ann: &ValidAnnouncement, reason: JoinRefusal) -> MeetingError {
        self.push_event(Event::JoinRefused {
            participant_id: ann.participant_id.clone(),
            reason,
        });
        match reason {
            JoinRefusal::MeetingFull => MeetingError::Full(self.config.max_participants),
            JoinRefusal::IdentityMismatch => MeetingError::Refused {
                participant: ann.participant_id.clone(),
                reason: format!(
                    "identity {} differs from the identity {} this id joined with",
                    ann.identity.fingerprint_string(),
                    self.admission
                        .pins
                        .pinned(&ann.participant_id)
                        .map(|p| p.fingerprint_string())
                        .unwrap_or_default()
                ),
            },
            _ => MeetingError::Refused {
                participant: ann.participant_id.clone(),
                reason: reason.describe().into(),
            },
        }
    }

    /// The rules of ANN-5 and ANN-11 that the leader checks again when it builds the commit
    /// (section 10.2): unique participant id among present members (after `removed`), identity
    /// pinning, durable refusals, the lock, and a common suite (post-quantum if required).
    pub(super) fn check_admission(
        &self,
        ann: &ValidAnnouncement,
        removed: &[u32],
    ) -> Result<(), JoinRefusal> {
        if let Some(leaf) = self.roster.leaf_of(&ann.participant_id)
            && !removed.contains(&leaf)
        {
            return Err(JoinRefusal::AlreadyPresent);
        }
        match self.admission.pins.pinned(&ann.participant_id) {
            Some(pinned) if pinned != &ann.identity => return Err(JoinRefusal::IdentityMismatch),
            Some(_) => {}
            None if self.locked => return Err(JoinRefusal::Locked),
            None => {}
        }
        if let Some(r) = self.admission.pins.refusal(&ann.identity) {
            return Err(r);
        }
        let members = self
            .roster
            .members
            .iter()
            .filter(|(l, _)| !removed.contains(l))
            .map(|(_, m)| &m.announcement);
        match negotiate_suite(members.chain(std::iter::once(ann))) {
            None => Err(JoinRefusal::NoCommonSuite),
            Some(s) if self.config.require_post_quantum && !s.is_post_quantum() => {
                Err(JoinRefusal::SuiteTooWeak)
            }
            Some(_) => Ok(()),
        }
    }

    /// ANN-6 to ANN-9: queue an admitted announcement (with the replacement's remove) for the
    /// next commit.
    fn queue_admission(
        &mut self,
        ann: ValidAnnouncement,
        replaces: Option<u32>,
        now: Duration,
    ) -> Result<(), MeetingError> {
        let delay = self.config.commit_delay;
        let max = self.config.max_participants;
        let present = self.roster.members.len();
        let super::Role::Leader(l) = &mut self.role else {
            return Err(MeetingError::NotTheLeader("admit participants"));
        };
        if l.pending_adds
            .iter()
            .any(|p| p.participant_id == ann.participant_id)
        {
            return Ok(()); // ANN-6: the first queued wins
        }
        let refusal = if l.pending_adds.len() >= MAX_PENDING_ANNOUNCEMENTS {
            Some(JoinRefusal::TooManyPending)
        } else if present + l.pending_adds.len() >= max + usize::from(replaces.is_some()) {
            Some(JoinRefusal::MeetingFull)
        } else {
            if let Some(old) = replaces {
                l.pending_removes.insert(old, RemovalReason::Left);
            }
            l.pending_adds.push(ann.clone());
            l.commit_due.get_or_insert(now + delay);
            None
        };
        match refusal {
            Some(r) => Err(self.refuse(&ann, r)),
            None => Ok(()),
        }
    }

    /// ANN-12, manual admission: hold the request for the application.
    fn request_admission(
        &mut self,
        ann: ValidAnnouncement,
        replaces: Option<u32>,
        now: Duration,
    ) -> Result<(), MeetingError> {
        let a = &mut self.admission;
        if let Some(r) = a
            .requests
            .iter_mut()
            .find(|r| r.ann.participant_id == ann.participant_id)
        {
            if r.ann.identity == ann.identity {
                // The joiner's retry: keep its newest announcement (within the byte bound), ask
                // nothing new.
                let bytes = a
                    .request_bytes
                    .saturating_sub(r.ann.bytes.len())
                    .saturating_add(ann.bytes.len());
                if bytes <= MAX_JOIN_REQUEST_BYTES {
                    a.request_bytes = bytes;
                    r.ann = ann;
                }
                return Ok(());
            }
            return Err(self.refuse(&ann, JoinRefusal::RequestPending));
        }
        if a.requests.len() >= MAX_JOIN_REQUESTS
            || a.request_bytes.saturating_add(ann.bytes.len()) > MAX_JOIN_REQUEST_BYTES
        {
            return Err(self.refuse(&ann, JoinRefusal::TooManyRequests));
        }
        let suite = negotiate_suite(
            self.roster
                .members
                .iter()
                .filter(|(l, _)| Some(**l) != replaces)
                .map(|(_, m)| &m.announcement)
                .chain(std::iter::once(&ann)),
        )
        .unwrap_or(self.suite);
        self.push_event(Event::JoinRequested {
            participant_id: ann.participant_id.clone(),
            fingerprint: ann.identity.fingerprint_string(),
            suite: suite.id(),
        });
        self.admission.request_bytes = self.admission.request_bytes.saturating_add(ann.bytes.len());
        self.admission
            .requests
            .push_back(JoinRequest { ann, received: now });
        Ok(())
    }

    /// Drops the join requests older than `JOIN_REQUEST_TIMEOUT` ([`JoinRefusal::Expired`]).
    pub(super) fn expire_join_requests(&mut self, now: Duration) {
        while let Some(r) = self.admission.requests.front()
            && now.saturating_sub(r.received) >= JOIN_REQUEST_TIMEOUT
        {
            let id = r.ann.participant_id.clone();
            if let Some(r) = self.admission.take_request(&id) {
                self.push_event(Event::JoinRefused {
                    participant_id: r.ann.participant_id,
                    reason: JoinRefusal::Expired,
                });
            }
        }
    }

    /// Leader: admits `participant_id`. Admits its pending join request
    /// ([`AdmissionPolicy::Manual`]), subject to the protocol's rules again, in the next commit;
    /// and lifts a durable removal or denial of the identity (ANN-11), so that its next
    /// announcement is admitted (or, under `Manual`, requested again).
    ///
    /// Fails with `UnknownParticipant` when there is neither a request nor a refusal for it,
    /// and with `Refused` when the request no longer passes the rules (for example the meeting
    /// was locked meanwhile).
    pub fn admit(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        self.leader_mut("admit participants")?;
        self.expire_join_requests(now);
        let lifted = self.admission.pins.lift(participant_id);
        let Some(request) = self.admission.take_request(participant_id) else {
            return if lifted {
                Ok(())
            } else {
                Err(MeetingError::UnknownParticipant(participant_id.to_string()))
            };
        };
        let ann = request.ann;
        let mut replaces = None;
        if let Some(leaf) = self.roster.leaf_of(&ann.participant_id) {
            let same = self
                .roster
                .get(leaf)
                .is_some_and(|m| m.announcement.hpke_keys == ann.hpke_keys);
            if same || leaf == self.own_leaf {
                return Ok(()); // already in with these keys
            }
            replaces = Some(leaf);
        }
        if let Err(r) = self.check_admission(&ann, replaces.as_slice()) {
            return Err(self.refuse(&ann, r));
        }
        self.queue_admission(ann, replaces, now)
    }

    /// Leader: denies the pending join request of `participant_id`
    /// ([`AdmissionPolicy::Manual`]). The identity is then refused ([`JoinRefusal::Denied`])
    /// until [`Meeting::admit`] lifts it. Fails with `UnknownParticipant` without a request.
    pub fn deny(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        self.leader_mut("deny participants")?;
        self.expire_join_requests(now);
        let request = self
            .admission
            .take_request(participant_id)
            .ok_or_else(|| MeetingError::UnknownParticipant(participant_id.to_string()))?;
        self.admission
            .pins
            .refuse(participant_id, &request.ann.identity, JoinRefusal::Denied);
        Ok(())
    }

    /// Leader: releases the pin of `participant_id`, so that another identity may take the id
    /// (for example after removing a participant that squatted an id the application expects).
    /// A removed identity stays refused. Present members keep their pins (`Invalid`); an id
    /// without a pin is `UnknownParticipant`.
    pub fn release_pin(&mut self, participant_id: &str) -> Result<(), MeetingError> {
        self.leader_mut("release identity pins")?;
        if self.roster.leaf_of(participant_id).is_some() {
            return Err(MeetingError::Invalid {
                message: "release pin",
                reason: format!("{participant_id} is present; remove it first"),
            });
        }
        if !self.admission.pins.release(participant_id) {
            return Err(MeetingError::UnknownParticipant(participant_id.to_string()));
        }
        Ok(())
    }
}
