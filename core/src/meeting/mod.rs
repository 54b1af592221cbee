//! The meeting engine: a sans-IO state machine for the whole meeting lifecycle
//! (`spec/state-machine.md`).
//!
//! Inputs are [`Meeting::handle_message`] (bytes from the relay), [`Meeting::handle_timeout`]
//! (the caller's clock) and the actions ([`Meeting::remove`], [`Meeting::lock`],
//! [`Meeting::rotate`], [`Meeting::leave`]). Outputs are polled: [`Meeting::poll_transmit`] for
//! bytes to send, [`Meeting::poll_event`] for what happened, [`Meeting::poll_timeout`] for when to
//! call `handle_timeout` next. Time is a [`Duration`] since any origin the caller chooses (it
//! must not go backwards); randomness is the caller's [`CryptoRng`].

mod actions;
mod admission;
mod commit;
mod config;
mod error;
mod event;
mod heartbeat;
mod inbox;
mod joiner;
mod keys;
mod leader;
mod pins;
mod proof;
mod quorum;
mod resync;
mod roster;
mod state;
mod succession;
mod timers;
mod trace;
mod welcome;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use conclave_protocol::encode;
use conclave_protocol::limits::{LIVENESS_NONCE_LEN, PROTOCOL_VERSION};
use conclave_protocol::v1::{self as pb, CommitReason, SignedMessage, envelope::Body};
use rand_core::CryptoRng;

pub use admission::{
    AdmissionPolicy, JOIN_REQUEST_TIMEOUT, JoinRefusal, MAX_JOIN_REQUEST_BYTES, MAX_JOIN_REQUESTS,
    REJOIN_FRESHNESS_HEARTBEATS,
};
pub use commit::commit_bundle_for_leaf;
pub use config::{
    HEARTBEAT_INTERVAL, HINT_CONFIRM_TIMEOUT, KEYLESS_TIMEOUTS, LIVENESS_ECHO_TIMEOUT,
    MAX_PATH_SECRETS_SIZE, MAX_PENDING_ANNOUNCEMENTS, MAX_PENDING_COMMIT_BYTES,
    MAX_PENDING_COMMITS, MAX_PENDING_WELCOMES, MAX_QUEUE, MEMBER_TIMEOUT_INTERVALS,
    MISSED_HEARTBEATS_LIMIT, MeetingConfig, PROBE_ANSWER_GAP, ROTATION_INTERVAL,
    STABILITY_TIMEOUT_INTERVALS, SWITCH_DELAY,
};
pub use error::{MeetingError, MeetingErrorKind};
pub use event::{Destination, Event, ParticipantInfo, RemovalReason, Transmit};
pub use leader::welcome::SealJob;
pub use pins::{MAX_PINNED_IDENTITIES, MAX_REMOVED_IDENTITIES, PinTable};
pub use proof::{echo_leaf, update_leaf};
pub use welcome::welcome_info;
pub use wire::{check_meeting_id, check_participant_id};

use crate::CipherSuite;
use crate::frame::FrameCrypto;
use crate::hpke::HpkeKeyPair;
use crate::identity::{IdentityKey, PublicIdentity};
use crate::merkle;
use crate::schedule::{EpochSecrets, labels, transcript_init, transcript_next};
use crate::tree::{LeaderTree, Occupancy};
use config::{SUITE, check_config};
use roster::{Member, Roster};
use state::{LeaderState, MemberState, Phase, Role};
use wire::parse_announcement;

/// One participant's view of one meeting.
///
/// Not `Clone` in normal builds: two copies of one participant would sign diverging commits and
/// heartbeats under one identity. Fuzz builds (`cfg(fuzzing)`) clone prepared meetings.
#[cfg_attr(fuzzing, derive(Clone))]
pub struct Meeting {
    config: MeetingConfig,
    meeting_id: Vec<u8>,
    participant_id: String,
    identity: Arc<IdentityKey>,
    hpke: BTreeMap<u32, HpkeKeyPair>,
    own_announcement: Vec<u8>,
    phase: Phase,
    own_leaf: u32,
    roster: Roster,
    occupancy: Occupancy,
    leader_leaf: u32,
    epoch: u64,
    transcript_hash: [u8; 32],
    /// Members present in `epoch - 1` (0 at epoch 1): the second majority of FO-2.
    previous_roster_len: usize,
    suite: CipherSuite,
    locked: bool,
    secrets: Option<EpochSecrets>,
    role: Role,
    nonces: VecDeque<([u8; LIVENESS_NONCE_LEN], Duration)>,
    last_echo: Duration,
    next_nonce: Duration,
    stale_reported: bool,
    send_epoch: u64,
    send_switch: Option<(u64, Duration)>,
    /// COM-2/COM-5: encoded commit envelopes by epoch, at most `MAX_PENDING_COMMITS` and
    /// `MAX_PENDING_COMMIT_BYTES`.
    pending_commits: BTreeMap<u64, Vec<u8>>,
    pending_welcomes: Vec<SignedMessage>,
    resync_requested_for: Option<u64>,
    resync_sent_at: Option<Duration>,
    join_sent_at: Duration,
    keyless_since: Option<Duration>,
    group_info_cache: Option<(u64, Vec<u8>)>,
    sending: bool,
    frames: Arc<FrameCrypto>,
    seal_jobs: VecDeque<SealJob>,
    outbox: VecDeque<Transmit>,
    events: VecDeque<Event>,
    admission: admission::Admission,
}

impl core::fmt::Debug for Meeting {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Meeting")
            .field("participant_id", &self.participant_id)
            .field("phase", &self.phase)
            .field("epoch", &self.epoch)
            .field("leaf", &self.own_leaf)
            .field("leader_leaf", &self.leader_leaf)
            .finish_non_exhaustive()
    }
}

impl Meeting {
    #[allow(clippy::too_many_arguments)]
    fn new_common<R: CryptoRng + ?Sized>(
        config: MeetingConfig,
        meeting_id: &[u8],
        participant_id: &str,
        identity: IdentityKey,
        now: Duration,
        rng: &mut R,
        role: Role,
        phase: Phase,
    ) -> Result<Self, MeetingError> {
        check_config(&config)?;
        check_meeting_id(meeting_id)?;
        check_participant_id(participant_id)?;
        let frames = Arc::new(FrameCrypto::new(config.frames.clone()).map_err(|e| {
            MeetingError::Invalid {
                message: "config",
                reason: e.to_string(),
            }
        })?);
        let mut suites = config.suites.clone();
        suites.sort_by_key(|s| s.id());
        let identity = identity.with_provider(config.provider);
        let hpke = suites
            .iter()
            .map(|s| {
                Ok((
                    s.id(),
                    HpkeKeyPair::generate_with(config.provider, *s, rng)?,
                ))
            })
            .collect::<Result<BTreeMap<u32, HpkeKeyPair>, crate::CryptoError>>()
            .map_err(|source| MeetingError::Crypto { epoch: 0, source })?;
        let own_suite = suites
            .iter()
            .copied()
            .max_by_key(|s| s.strength())
            .unwrap_or(SUITE);
        let mut nonce = [0u8; LIVENESS_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let ann = pb::Announcement {
            version: PROTOCOL_VERSION,
            meeting_id: meeting_id.to_vec(),
            participant_id: participant_id.to_string(),
            identity_key: identity.public().as_bytes().to_vec(),
            hpke_keys: hpke
                .iter()
                .map(|(id, kp)| pb::SuiteKey {
                    suite: *id,
                    public_key: kp.public_key().to_vec(),
                })
                .collect(),
            liveness_nonce: nonce.to_vec(),
            recent_heartbeat: vec![],
        };
        let signed = wire::sign(&identity, labels::ANNOUNCEMENT, encode(&ann));
        let own_announcement = encode(&signed);
        Ok(Self {
            next_nonce: now + config.heartbeat_interval,
            config,
            meeting_id: meeting_id.to_vec(),
            participant_id: participant_id.to_string(),
            identity: Arc::new(identity),
            hpke,
            own_announcement,
            phase,
            own_leaf: 0,
            roster: Roster::default(),
            occupancy: Occupancy::new_with_creator(),
            leader_leaf: 0,
            epoch: 0,
            transcript_hash: transcript_init(meeting_id),
            previous_roster_len: 0,
            suite: own_suite,
            locked: false,
            secrets: None,
            role,
            nonces: VecDeque::from([(nonce, now)]),
            last_echo: now,
            stale_reported: false,
            send_epoch: 0,
            send_switch: None,
            pending_commits: BTreeMap::new(),
            pending_welcomes: Vec::new(),
            resync_requested_for: None,
            resync_sent_at: None,
            join_sent_at: now,
            keyless_since: None,
            group_info_cache: None,
            sending: true,
            frames,
            seal_jobs: VecDeque::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            admission: admission::Admission::default(),
        })
    }

    /// Creates a meeting with this participant as its leader at leaf 0 and epoch 1.
    ///
    /// The creating commit is queued for the relay (it keeps the commit log).
    pub fn create<R: CryptoRng + ?Sized>(
        config: MeetingConfig,
        meeting_id: &[u8],
        participant_id: &str,
        identity: IdentityKey,
        now: Duration,
        rng: &mut R,
    ) -> Result<Self, MeetingError> {
        let leader = LeaderState::new(
            Some(LeaderTree::create(rng)),
            &config,
            now,
            quorum::Stability::settled(1, now),
        );
        let mut m = Self::new_common(
            config,
            meeting_id,
            participant_id,
            identity,
            now,
            rng,
            Role::Leader(Box::new(leader)),
            Phase::Active,
        )?;
        let ann = parse_announcement(&m.own_announcement, meeting_id, m.config.provider)?;
        let commit = pb::Commit {
            version: PROTOCOL_VERSION,
            suite: m.suite.id(),
            meeting_id: meeting_id.to_vec(),
            epoch: 1,
            prev_transcript_hash: m.transcript_hash.to_vec(),
            leader_leaf: 0,
            reason: CommitReason::Create as i32,
            removes: vec![],
            adds: vec![pb::Add {
                leaf: 0,
                announcement: m.own_announcement.clone(),
            }],
            locked: false,
            leaf_count: 1,
            updates_root: merkle::root(&[]).to_vec(),
            update_count: 0,
            rebuild: false,
            votes: vec![],
            stable_heartbeat: None,
        };
        let content = encode(&commit);
        let th = transcript_next(&m.transcript_hash, &content);
        let signed = wire::sign(&m.identity, labels::COMMIT, content);
        m.admission
            .pins
            .admit(&ann.participant_id, &ann.identity, 1);
        m.roster.members.insert(
            0,
            Member {
                newest_nonce: ann.nonce,
                announcement: ann,
                admitted_epoch: 1,
            },
        );
        m.epoch = 1;
        m.transcript_hash = th;
        m.install_secrets(now)?;
        m.send_now(1);
        m.push_transmit(
            Destination::All,
            wire::envelope(Body::Commit(pb::CommitBundle {
                commit: Some(signed),
                updates: vec![],
                proof: vec![],
            })),
        );
        m.push_event(Event::Joined { epoch: 1, leaf: 0 });
        Ok(m)
    }

    /// Starts joining a meeting: queues a signed announcement for the leader. The participant is
    /// in the meeting once a Welcome arrives ([`Event::Joined`]).
    pub fn join<R: CryptoRng + ?Sized>(
        config: MeetingConfig,
        meeting_id: &[u8],
        participant_id: &str,
        identity: IdentityKey,
        now: Duration,
        rng: &mut R,
    ) -> Result<Self, MeetingError> {
        let member = MemberState::new(None, now);
        let mut m = Self::new_common(
            config,
            meeting_id,
            participant_id,
            identity,
            now,
            rng,
            Role::Member(Box::new(member)),
            Phase::Joining,
        )?;
        let signed = m.announcement_to_send()?;
        m.push_transmit(
            Destination::Leader,
            wire::envelope(Body::Announcement(signed)),
        );
        Ok(m)
    }

    /// The meeting id.
    pub fn meeting_id(&self) -> &[u8] {
        &self.meeting_id
    }

    /// Our participant id.
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// Our leaf index (frame sender index). Meaningful once joined.
    pub fn own_leaf(&self) -> u32 {
        self.own_leaf
    }

    /// The current epoch (0 before joining).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether we hold the keys of the current epoch.
    pub fn has_keys(&self) -> bool {
        self.secrets.as_ref().is_some_and(|s| s.epoch == self.epoch)
    }

    /// The current epoch's security code, if we hold its keys.
    pub fn security_code(&self) -> Option<String> {
        self.secrets
            .as_ref()
            .filter(|s| s.epoch == self.epoch)
            .map(|s| s.security_code.clone())
    }

    /// The current epoch's secrets (for installing frame keys), if held.
    pub fn epoch_secrets(&self) -> Option<&EpochSecrets> {
        self.secrets.as_ref().filter(|s| s.epoch == self.epoch)
    }

    /// The frame encryptor/decryptor of this participant, shared with media threads. The engine
    /// installs each epoch's keys into it and moves sending to a new epoch at the switch-over
    /// (`spec/state-machine.md`); media threads call `encrypt`/`decrypt` at any time.
    pub fn frame_crypto(&self) -> Arc<FrameCrypto> {
        Arc::clone(&self.frames)
    }

    /// Bytes of unverified input this participant holds for later (buffered commits and
    /// Welcomes), at most `MAX_PENDING_COMMIT_BYTES` plus `MAX_PENDING_WELCOMES` envelopes
    /// (`spec/README.md`, memory bound).
    pub fn buffered_bytes(&self) -> usize {
        let commits: usize = self.pending_commits.values().map(Vec::len).sum();
        let welcomes: usize = self
            .pending_welcomes
            .iter()
            .map(|w| w.content.len().saturating_add(w.signature.len()))
            .sum();
        commits.saturating_add(welcomes)
    }

    /// The epoch senders should use now.
    pub fn send_epoch(&self) -> u64 {
        self.send_epoch
    }

    /// The transcript hash of the current epoch.
    pub fn transcript_hash(&self) -> [u8; 32] {
        self.transcript_hash
    }

    /// Whether we are the leader.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_)) && matches!(self.phase, Phase::Active)
    }

    /// Whether we are in the meeting.
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active)
    }

    /// Whether this participant has left or was removed.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// The meeting's current cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Whether the meeting is locked.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The leader's leaf.
    pub fn leader_leaf(&self) -> u32 {
        self.leader_leaf
    }

    /// Present participants, by leaf.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.roster
            .members
            .iter()
            .map(|(leaf, m)| ParticipantInfo {
                participant_id: m.announcement.participant_id.clone(),
                leaf: *leaf,
                admitted_epoch: m.admitted_epoch,
                fingerprint: m.announcement.identity.fingerprint_string(),
                is_leader: *leaf == self.leader_leaf,
            })
            .collect()
    }

    /// The epoch that admitted us (0 before joining).
    fn own_admitted_epoch(&self) -> u64 {
        self.roster
            .get(self.own_leaf)
            .map(|m| m.admitted_epoch)
            .unwrap_or(0)
    }

    /// Our identity's public key.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// The next sealing job of a rebuild, when [`MeetingConfig::offload_rebuild_sealing`] is set.
    /// Jobs are independent and `Send`: run them on any threads and send each resulting
    /// [`Transmit`].
    pub fn poll_seal_job(&mut self) -> Option<SealJob> {
        self.seal_jobs.pop_front()
    }

    /// Turns [`MeetingConfig::offload_rebuild_sealing`] on or off from now on (for example when
    /// the application attaches or detaches a thread pool). Jobs already queued stay queued:
    /// drain them with [`Meeting::poll_seal_job`].
    pub fn set_offload_rebuild_sealing(&mut self, offload: bool) {
        self.config.offload_rebuild_sealing = offload;
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn push_transmit(&mut self, destination: Destination, payload: Vec<u8>) {
        if self.outbox.len() >= MAX_QUEUE {
            self.outbox.pop_front();
        }
        self.outbox.push_back(Transmit {
            destination,
            payload,
        });
    }

    fn push_event(&mut self, e: Event) {
        self.trace_event(&e);
        if self.events.len() >= MAX_QUEUE {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn end(&mut self, reason: RemovalReason) {
        self.phase = Phase::Ended;
        self.secrets = None;
        self.frames.clear();
        if let Role::Member(m) = &mut self.role {
            m.path = None;
        }
        if let Role::Leader(l) = &mut self.role {
            l.tree = None;
        }
        self.push_event(Event::Ended { reason });
    }

    fn leader_mut(&mut self, what: &'static str) -> Result<&mut LeaderState, MeetingError> {
        if !matches!(self.phase, Phase::Active) {
            return Err(MeetingError::NotInMeeting);
        }
        match &mut self.role {
            Role::Leader(l) => Ok(l),
            Role::Member(_) => Err(MeetingError::NotTheLeader(what)),
        }
    }

    /// Handles an encoded envelope from the relay.
    ///
    /// Returns an error describing any rejection; rejected input never changes the state except
    /// for buffering a commit that arrived early.
    fn handle_message_inner<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if matches!(self.phase, Phase::Ended) {
            return Err(MeetingError::NotInMeeting);
        }
        match wire::decode_envelope(bytes)? {
            Body::Announcement(s) => self.on_announcement(s, now, rng),
            Body::Commit(b) => self.on_commit_bundle(b, bytes, now, rng),
            Body::Welcome(w) => self.on_welcome(w, now, rng),
            Body::Heartbeat(h) => self.on_heartbeat(h, now, rng),
            Body::Leave(s) => self.on_leave(s, now),
            Body::ResyncRequest(s) => self.on_resync_request(s, now, rng),
            Body::Liveness(s) => self.on_liveness(s, now, rng),
            Body::FailoverVote(s) => self.on_failover_vote(s, now, rng),
        }
    }

    /// Verifies a message signed by the present member at `leaf` (the leader, for the leader's
    /// messages); returns its admission epoch.
    fn verify_member(
        &self,
        leaf: u32,
        label: &'static str,
        signed: &SignedMessage,
        message: &'static str,
    ) -> Result<u64, MeetingError> {
        let member = self
            .roster
            .get(leaf)
            .ok_or_else(|| MeetingError::UnknownParticipant(format!("leaf {leaf}")))?;
        let id = member.announcement.participant_id.clone();
        wire::verify(&member.announcement.identity, label, signed, message, || id)?;
        Ok(member.admitted_epoch)
    }
}
