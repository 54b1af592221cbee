//! The meeting engine: a sans-IO state machine for the whole meeting lifecycle
//! (`spec/state-machine.md`).
//!
//! Inputs are [`Meeting::handle_message`] (bytes from the relay), [`Meeting::handle_timeout`]
//! (the caller's clock) and the actions ([`Meeting::remove`], [`Meeting::lock`],
//! [`Meeting::rotate`], [`Meeting::leave`]). Outputs are polled: [`Meeting::poll_transmit`] for
//! bytes to send, [`Meeting::poll_event`] for what happened, [`Meeting::poll_timeout`] for when to
//! call `handle_timeout` next. Time is a [`Duration`] since any origin the caller chooses (it
//! must not go backwards); randomness is the caller's [`CryptoRng`].

mod error;
mod roster;
mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use conclave_protocol::limits::{
    DEFAULT_MAX_PARTICIPANTS, LIVENESS_NONCE_LEN, MAX_GROUP_INFO_SIZE, MAX_NODE_UPDATES,
    MAX_PARTICIPANTS, MAX_PATH_NODES, MAX_PROOF_HASHES, PROTOCOL_VERSION, WRAPPED_KEY_LEN,
};
use conclave_protocol::v1::{
    self as pb, CommitReason, RemoveReason, SignedMessage, envelope::Body,
};
use conclave_protocol::{MessageKind, decode_bounded, encode};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

pub use error::MeetingError;
pub use wire::{check_meeting_id, check_participant_id};

use crate::frame::{FrameConfig, FrameCrypto};
use crate::hpke::{self, HpkeKeyPair};
use crate::identity::{IdentityKey, PublicIdentity};
use crate::merkle;
use crate::schedule::{
    EpochSecrets, labeled_content, labeled_hash, labels, put_vec, transcript_init, transcript_next,
};
use crate::tree::{self, LeaderTree, MemberPath, Occupancy, Plan};
use crate::{CipherSuite, Secret};
use roster::{Member, Roster};
use wire::{ValidAnnouncement, parse_announcement};

/// Interval between leader heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Heartbeat intervals without a heartbeat after which a member declares the leader failed.
pub const MISSED_HEARTBEATS_LIMIT: u32 = 3;
/// How long a member waits for its liveness nonce to be echoed before reporting a stale view.
pub const LIVENESS_ECHO_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest time senders keep using the previous epoch after processing a commit.
pub const SWITCH_DELAY: Duration = Duration::from_secs(2);
/// Default interval of periodic key rotation.
pub const ROTATION_INTERVAL: Duration = Duration::from_secs(300);
/// Most commits buffered ahead of a gap.
pub const MAX_PENDING_COMMITS: usize = 8;
/// Most announcements a leader queues for its next commit.
pub const MAX_PENDING_ANNOUNCEMENTS: usize = 256;
/// Most Welcomes buffered while their commit is missing.
pub const MAX_PENDING_WELCOMES: usize = 2;
/// Most distinct identities a meeting pins over its lifetime.
pub const MAX_PINNED_IDENTITIES: usize = 4 * MAX_PARTICIPANTS;
/// Most queued outgoing messages and events before the oldest are dropped.
pub const MAX_QUEUE: usize = 65_536;
/// Largest decrypted `PathSecrets` (a leaf and 15 path keys need about 600 bytes).
pub const MAX_PATH_SECRETS_SIZE: usize = 4096;
/// Heartbeat intervals without any signed message from a member (liveness nonces come every
/// interval) after which the leader removes it as timed out.
pub const MEMBER_TIMEOUT_INTERVALS: u32 = 6;
/// Liveness timeouts without keys for the current epoch after which a member gives up and ends
/// with [`RemovalReason::TimedOut`] (it was removed without seeing it, or is cut off).
pub const KEYLESS_TIMEOUTS: u32 = 2;

/// Tunable behaviour of a meeting. Defaults follow `spec/README.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingConfig {
    /// Largest number of participants (`1..=MAX_PARTICIPANTS`).
    pub max_participants: usize,
    /// Interval between leader heartbeats.
    pub heartbeat_interval: Duration,
    /// Missed heartbeat intervals before the leader is considered failed.
    pub missed_heartbeats_limit: u32,
    /// Periodic rotation interval (`None` disables it).
    pub rotation_interval: Option<Duration>,
    /// How long to wait for a liveness echo before reporting a stale view.
    pub liveness_timeout: Duration,
    /// How long a leader waits to batch changes into one commit.
    pub commit_delay: Duration,
    /// Longest time senders keep the previous epoch after a commit.
    pub switch_delay: Duration,
    /// Frame encryption settings (replay window, epoch grace).
    pub frames: FrameConfig,
    /// Cipher suites this participant supports and announces (`spec/suites.md`); the meeting
    /// uses the strongest suite every member supports.
    pub suites: Vec<CipherSuite>,
    /// Refuse any epoch whose key distribution is not post-quantum (suite 2): the participant
    /// leaves (or does not join) rather than accept classical-only key distribution.
    pub require_post_quantum: bool,
    /// Hand the Welcomes of a rebuild (failover, handover: one HPKE seal per member) to the
    /// application as [`SealJob`]s ([`Meeting::poll_seal_job`]) instead of sealing them inline,
    /// so it can spread them over its threads. The engine itself never starts threads.
    pub offload_rebuild_sealing: bool,
}

impl Default for MeetingConfig {
    fn default() -> Self {
        Self {
            max_participants: DEFAULT_MAX_PARTICIPANTS,
            heartbeat_interval: HEARTBEAT_INTERVAL,
            missed_heartbeats_limit: MISSED_HEARTBEATS_LIMIT,
            rotation_interval: Some(ROTATION_INTERVAL),
            liveness_timeout: LIVENESS_ECHO_TIMEOUT,
            commit_delay: Duration::ZERO,
            switch_delay: SWITCH_DELAY,
            frames: FrameConfig::default(),
            suites: CipherSuite::ALL.to_vec(),
            require_post_quantum: false,
            offload_rebuild_sealing: false,
        }
    }
}

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
    fn from_wire(r: i32) -> Self {
        match RemoveReason::try_from(r) {
            Ok(RemoveReason::Left) => Self::Left,
            Ok(RemoveReason::TimedOut) => Self::TimedOut,
            Ok(RemoveReason::LeaderFailed) => Self::LeaderFailed,
            _ => Self::Removed,
        }
    }

    fn to_wire(self) -> RemoveReason {
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

#[derive(Debug)]
enum Phase {
    Joining,
    Active,
    Ended,
}

struct LeaderState {
    tree: Option<LeaderTree>,
    pending_adds: Vec<ValidAnnouncement>,
    pending_removes: BTreeMap<u32, RemovalReason>,
    commit_due: Option<Duration>,
    rotate_pending: bool,
    lock_pending: Option<bool>,
    handover_to: Option<u32>,
    rebuild_pending: bool,
    hb_seq: u64,
    prev_hb_hash: [u8; 32],
    next_heartbeat: Duration,
    next_rotation: Option<Duration>,
    /// Set when we took over by failover: the state we forked from, so we can return to it if
    /// the old leader turns out to be alive.
    fork: Option<Box<ForkInfo>>,
    /// When each member last sent us a verified message.
    last_seen: BTreeMap<u32, Duration>,
    /// When we last sent each member a Welcome on request (rate limit).
    last_answer: BTreeMap<u32, Duration>,
}

struct ForkInfo {
    taken_at: Duration,
    leader_leaf: u32,
    leader_identity: PublicIdentity,
    roster: Roster,
    occupancy: Occupancy,
    epoch: u64,
    transcript_hash: [u8; 32],
    locked: bool,
    hb_seq: u64,
}

struct MemberState {
    path: Option<MemberPath>,
    last_heartbeat: Duration,
    hb_seq: u64,
    prev_hb_hash: [u8; 32],
    missed_reported: u32,
    suspected: BTreeSet<u32>,
}

enum Role {
    Leader(Box<LeaderState>),
    Member(Box<MemberState>),
}

/// One participant's view of one meeting.
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
    pending_commits: BTreeMap<u64, pb::CommitBundle>,
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

const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

fn check_config(config: &MeetingConfig) -> Result<(), MeetingError> {
    if config.max_participants == 0 || config.max_participants > MAX_PARTICIPANTS {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: format!(
                "max_participants {} must be 1..={MAX_PARTICIPANTS}",
                config.max_participants
            ),
        });
    }
    let mut ids: Vec<u32> = config.suites.iter().map(|s| s.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() != config.suites.len() {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "suites must list at least one suite, each once".into(),
        });
    }
    if config.require_post_quantum && !config.suites.iter().any(|s| s.is_post_quantum()) {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "require_post_quantum needs a post-quantum suite in suites".into(),
        });
    }
    if config.heartbeat_interval.is_zero() || config.missed_heartbeats_limit == 0 {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "heartbeat interval and missed heartbeat limit must be positive".into(),
        });
    }
    Ok(())
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
        let hpke: BTreeMap<u32, HpkeKeyPair> = suites
            .iter()
            .map(|s| (s.id(), HpkeKeyPair::generate(*s, rng)))
            .collect();
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
        let leader = LeaderState {
            tree: Some(LeaderTree::create(rng)),
            pending_adds: Vec::new(),
            pending_removes: BTreeMap::new(),
            commit_due: None,
            rotate_pending: false,
            lock_pending: None,
            handover_to: None,
            rebuild_pending: false,
            hb_seq: 0,
            prev_hb_hash: [0u8; 32],
            next_heartbeat: now,
            next_rotation: config.rotation_interval.map(|r| now + r),
            fork: None,
            last_seen: BTreeMap::new(),
            last_answer: BTreeMap::new(),
        };
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
        let ann = parse_announcement(&m.own_announcement, meeting_id)?;
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
        };
        let content = encode(&commit);
        let th = transcript_next(&m.transcript_hash, &content);
        let signed = wire::sign(&m.identity, labels::COMMIT, content);
        m.roster
            .pins
            .insert(ann.participant_id.clone(), ann.identity.clone());
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
        let member = MemberState {
            path: None,
            last_heartbeat: now,
            hb_seq: 0,
            prev_hb_hash: [0u8; 32],
            missed_reported: 0,
            suspected: BTreeSet::new(),
        };
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
        let signed: SignedMessage = decode_bounded(
            MessageKind::SignedMessage,
            &m.own_announcement,
            conclave_protocol::limits::MAX_ANNOUNCEMENT_SIZE,
        )?;
        m.push_transmit(
            Destination::Leader,
            wire::envelope(Body::Announcement(signed)),
        );
        Ok(m)
    }

    // ----- accessors -----

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

    /// Our identity's public key.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }

    // ----- outputs -----

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

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Meeting::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Ended => return None,
            Phase::Joining => return Some(self.join_sent_at + self.config.heartbeat_interval),
            Phase::Active => {}
        }
        let mut t = vec![self.next_nonce];
        if let Some(sent) = self.resync_sent_at
            && (!self.has_keys() || self.resync_requested_for.is_some())
        {
            t.push(sent + self.config.heartbeat_interval);
        }
        if let Some((_, due)) = self.send_switch {
            t.push(due);
        }
        match &self.role {
            Role::Leader(l) => {
                t.push(l.next_heartbeat);
                if let Some(d) = l.commit_due {
                    t.push(d);
                }
                if let Some(r) = l.next_rotation {
                    t.push(r);
                }
            }
            Role::Member(m) => {
                let interval = self.config.heartbeat_interval;
                t.push(m.last_heartbeat + interval * (m.missed_reported + 1) + interval / 2);
                if !self.stale_reported {
                    t.push(self.last_echo + self.config.liveness_timeout);
                }
            }
        }
        t.into_iter().min()
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
        if self.events.len() >= MAX_QUEUE {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    // ----- actions -----

    /// Leader: removes a participant in the next commit.
    pub fn remove(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        let leaf = self
            .roster
            .leaf_of(participant_id)
            .ok_or_else(|| MeetingError::UnknownParticipant(participant_id.to_string()))?;
        if leaf == self.own_leaf {
            return Err(MeetingError::Invalid {
                message: "remove",
                reason: "the leader cannot remove itself; use leave".into(),
            });
        }
        let delay = self.config.commit_delay;
        let l = self.leader_mut("remove participants")?;
        l.pending_removes.insert(leaf, RemovalReason::Removed);
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Leader: locks or unlocks the meeting in the next commit.
    pub fn lock(&mut self, locked: bool, now: Duration) -> Result<(), MeetingError> {
        let delay = self.config.commit_delay;
        let l = self.leader_mut("lock the meeting")?;
        l.lock_pending = Some(locked);
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Leader: refreshes every key of the tree in the next commit.
    pub fn rotate(&mut self, now: Duration) -> Result<(), MeetingError> {
        let delay = self.config.commit_delay;
        let l = self.leader_mut("rotate keys")?;
        l.rotate_pending = true;
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Leader: hands leadership to `participant_id`, which then rebuilds the tree.
    pub fn hand_over(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        let leaf = self
            .roster
            .leaf_of(participant_id)
            .ok_or_else(|| MeetingError::UnknownParticipant(participant_id.to_string()))?;
        if leaf == self.own_leaf {
            return Err(MeetingError::Invalid {
                message: "handover",
                reason: "already the leader".into(),
            });
        }
        let l = self.leader_mut("hand over")?;
        l.handover_to = Some(leaf);
        l.commit_due = Some(now);
        Ok(())
    }

    /// Leaves the meeting. A leader first hands over to its successor (if anyone remains).
    pub fn leave<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !matches!(self.phase, Phase::Active) {
            return Err(MeetingError::NotInMeeting);
        }
        if self.is_leader()
            && let Some(succ) = self.roster.successor(&[self.own_leaf])
        {
            if let Role::Leader(l) = &mut self.role {
                l.handover_to = Some(succ);
            }
            self.leader_commit(now, rng)?;
        }
        let leave = pb::Leave {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            leaf: self.own_leaf,
        };
        let signed = wire::sign(&self.identity, labels::LEAVE, encode(&leave));
        self.push_transmit(Destination::Leader, wire::envelope(Body::Leave(signed)));
        self.end(RemovalReason::Left);
        Ok(())
    }

    /// We require post-quantum key distribution and the meeting moved to `suite`: report it,
    /// send a signed Leave and end.
    fn refuse_suite(&mut self, suite: CipherSuite, _now: Duration) -> Result<(), MeetingError> {
        self.push_event(Event::SuiteRefused { suite: suite.id() });
        let leave = pb::Leave {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            leaf: self.own_leaf,
        };
        let signed = wire::sign(&self.identity, labels::LEAVE, encode(&leave));
        self.push_transmit(Destination::Leader, wire::envelope(Body::Leave(signed)));
        self.end(RemovalReason::SuiteRefused);
        Err(MeetingError::Refused {
            participant: self.participant_id.clone(),
            reason: format!(
                "the meeting moved to suite {}, but post-quantum key distribution is required",
                suite.id()
            ),
        })
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

    // ----- time -----

    /// Runs timers: heartbeats, batched commits, rotation, liveness, failover, switch-over.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        match self.phase {
            Phase::Ended => return Ok(()),
            Phase::Joining => {
                if now >= self.join_sent_at + self.config.heartbeat_interval {
                    // No Welcome yet: announce again (same bytes; the leader resends the
                    // Welcome if it already admitted us).
                    self.join_sent_at = now;
                    let signed: SignedMessage = decode_bounded(
                        MessageKind::SignedMessage,
                        &self.own_announcement,
                        conclave_protocol::limits::MAX_ANNOUNCEMENT_SIZE,
                    )?;
                    self.push_transmit(
                        Destination::Leader,
                        wire::envelope(Body::Announcement(signed)),
                    );
                }
                return Ok(());
            }
            Phase::Active => {}
        }
        // Out of date: no keys for the current epoch, or our liveness nonces go unechoed (we
        // may have been removed without seeing it). After KEYLESS_TIMEOUTS liveness timeouts
        // of that, give up so the application can rejoin.
        let unechoed = now.saturating_sub(self.last_echo) >= self.config.liveness_timeout;
        if self.is_leader() || (self.has_keys() && !unechoed) {
            self.keyless_since = None;
        } else {
            let since = *self.keyless_since.get_or_insert(now);
            if now.saturating_sub(since) >= self.config.liveness_timeout * KEYLESS_TIMEOUTS {
                self.end(RemovalReason::TimedOut);
                return Ok(());
            }
        }
        self.expire_silent_members(now);
        // Retry an unanswered resync (lost request or answer) every heartbeat interval.
        if (!self.has_keys() || self.resync_requested_for.is_some())
            && !self.is_leader()
            && self
                .resync_sent_at
                .is_some_and(|t| now >= t + self.config.heartbeat_interval)
        {
            self.resync_requested_for = None;
            self.request_resync_at(now, rng, "the last resync was not answered".into());
        }
        if let Some((epoch, due)) = self.send_switch
            && now >= due
        {
            self.send_now(epoch);
        }
        if now >= self.next_nonce {
            self.post_nonce(now, rng);
        }
        let interval = self.config.heartbeat_interval;
        let mut failover = false;
        let mut missed_event = None;
        let mut stale_event = None;
        let mut commit_now = false;
        let mut heartbeat_now = false;
        let leader_id = self.roster.id_of(self.leader_leaf);
        match &mut self.role {
            Role::Leader(l) => {
                // A fork record is kept while a deposed leader could still be heard from.
                let keep = self.config.heartbeat_interval * MEMBER_TIMEOUT_INTERVALS;
                if l.fork
                    .as_ref()
                    .is_some_and(|f| now.saturating_sub(f.taken_at) > keep)
                {
                    l.fork = None;
                }
                if let Some(r) = l.next_rotation
                    && now >= r
                {
                    l.rotate_pending = true;
                    l.commit_due.get_or_insert(now);
                }
                if l.commit_due.is_some_and(|d| now >= d) {
                    commit_now = true;
                }
                if now >= l.next_heartbeat {
                    heartbeat_now = true;
                }
            }
            Role::Member(m) => {
                // Half an interval of slack for transit, so an on-time heartbeat is not "missed".
                let elapsed = now
                    .saturating_sub(m.last_heartbeat)
                    .saturating_sub(interval / 2);
                let missed = u32::try_from(elapsed.as_millis() / interval.as_millis().max(1))
                    .unwrap_or(u32::MAX);
                if missed > m.missed_reported && missed >= 1 {
                    m.missed_reported = missed;
                    missed_event = Some(Event::HeartbeatMissed {
                        leader: leader_id,
                        missed,
                    });
                    if missed >= self.config.missed_heartbeats_limit {
                        failover = true;
                    }
                }
                // 5: stale when our nonce has not been echoed for the liveness timeout.
                let waiting = now.saturating_sub(self.last_echo);
                if !self.stale_reported && waiting >= self.config.liveness_timeout {
                    self.stale_reported = true;
                    stale_event = Some(Event::StaleView { since: waiting });
                }
            }
        }
        if let Some(e) = missed_event {
            self.push_event(e);
        }
        if let Some(e) = stale_event {
            self.push_event(e);
            self.pause_sending("our liveness nonces are not echoed: our view may be stale");
        }
        if failover {
            self.pause_sending("the leader's heartbeats stopped");
            self.on_leader_timeout(now, rng)?;
        }
        if commit_now {
            self.leader_commit(now, rng)?;
        }
        if heartbeat_now {
            self.leader_heartbeat(now)?;
        }
        Ok(())
    }

    /// Leader: removes members from which nothing verified arrived for
    /// `MEMBER_TIMEOUT_INTERVALS` heartbeat intervals.
    fn expire_silent_members(&mut self, now: Duration) {
        let timeout = self.config.heartbeat_interval * MEMBER_TIMEOUT_INTERVALS;
        let delay = self.config.commit_delay;
        let own = self.own_leaf;
        let leaves: Vec<u32> = self.roster.members.keys().copied().collect();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.last_seen.retain(|leaf, _| leaves.contains(leaf));
        for leaf in leaves {
            if leaf == own {
                continue;
            }
            let seen = *l.last_seen.entry(leaf).or_insert(now);
            if now.saturating_sub(seen) >= timeout && !l.pending_removes.contains_key(&leaf) {
                l.pending_removes.insert(leaf, RemovalReason::TimedOut);
                l.commit_due.get_or_insert(now + delay);
            }
        }
    }

    /// At most one Welcome on request per member per half heartbeat interval: replayed
    /// requests cannot make the leader seal and sign without bound.
    fn answer_allowed(&mut self, leaf: u32, now: Duration) -> bool {
        let gap = self.config.heartbeat_interval / 2;
        let Role::Leader(l) = &mut self.role else {
            return false;
        };
        if l.last_answer.get(&leaf).is_some_and(|t| now < *t + gap) {
            return false;
        }
        l.last_answer.insert(leaf, now);
        if l.last_answer.len() > MAX_PARTICIPANTS {
            let oldest = l
                .last_answer
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                l.last_answer.remove(&k);
            }
        }
        true
    }

    fn mark_seen(&mut self, leaf: u32, now: Duration) {
        if let Role::Leader(l) = &mut self.role {
            l.last_seen.insert(leaf, now);
        }
    }

    fn post_nonce<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) {
        self.next_nonce = now + self.config.heartbeat_interval;
        if self.is_leader() {
            return;
        }
        let nonce = self.fresh_nonce(now, rng);
        let msg = pb::LivenessNonce {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            leaf: self.own_leaf,
            epoch: self.epoch,
            nonce: nonce.to_vec(),
        };
        let signed = wire::sign(&self.identity, labels::LIVENESS, encode(&msg));
        self.push_transmit(Destination::Leader, wire::envelope(Body::Liveness(signed)));
    }

    fn on_leader_timeout<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let Role::Member(m) = &mut self.role else {
            return Ok(());
        };
        m.suspected.insert(self.leader_leaf);
        let mut exclude: Vec<u32> = m.suspected.iter().copied().collect();
        exclude.push(self.leader_leaf);
        // Each further limit without a failover commit suspects the next successor too.
        let limit = self.config.missed_heartbeats_limit.max(1);
        let rounds = (m.missed_reported / limit).saturating_sub(1);
        for _ in 0..rounds {
            if let Some(s) = self.roster.successor(&exclude) {
                if s == self.own_leaf {
                    break;
                }
                exclude.push(s);
            }
        }
        if self.roster.successor(&exclude) == Some(self.own_leaf) {
            self.become_failover_leader(&exclude, now, rng)?;
        } else {
            self.resync_requested_for = None;
            self.request_resync_at(now, rng, "the leader's heartbeats stopped".into());
        }
        Ok(())
    }

    fn become_failover_leader<R: CryptoRng + ?Sized>(
        &mut self,
        failed: &[u32],
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let mut removes = BTreeMap::new();
        for &f in failed {
            if f != self.own_leaf && self.roster.members.contains_key(&f) {
                removes.insert(f, RemovalReason::LeaderFailed);
            }
        }
        let fork = self.roster.get(self.leader_leaf).map(|l| {
            Box::new(ForkInfo {
                taken_at: now,
                leader_leaf: self.leader_leaf,
                leader_identity: l.announcement.identity.clone(),
                roster: self.roster.clone(),
                occupancy: self.occupancy.clone(),
                epoch: self.epoch,
                transcript_hash: self.transcript_hash,
                locked: self.locked,
                hb_seq: match &self.role {
                    Role::Member(m) => m.hb_seq,
                    Role::Leader(_) => 0,
                },
            })
        });
        let leader = LeaderState {
            tree: None,
            pending_adds: Vec::new(),
            pending_removes: removes,
            commit_due: Some(now),
            rotate_pending: false,
            lock_pending: None,
            handover_to: None,
            rebuild_pending: true,
            hb_seq: 0,
            prev_hb_hash: [0u8; 32],
            next_heartbeat: now,
            next_rotation: self.config.rotation_interval.map(|r| now + r),
            fork,
            last_seen: BTreeMap::new(),
            last_answer: BTreeMap::new(),
        };
        self.role = Role::Leader(Box::new(leader));
        self.resume_sending();
        self.leader_commit(now, rng)
    }

    /// SW-4: stop sending media until a heartbeat certifies our epoch again.
    fn pause_sending(&mut self, reason: &str) {
        if self.sending {
            self.sending = false;
            self.push_event(Event::SendingPaused {
                reason: reason.to_string(),
            });
        }
    }

    fn resume_sending(&mut self) {
        if !self.sending {
            self.sending = true;
            self.push_event(Event::SendingResumed {
                epoch: self.send_epoch,
            });
        }
    }

    /// Whether media may be sent now (false while the leader is silent or our view is stale).
    pub fn can_send(&self) -> bool {
        self.sending
            && matches!(self.phase, Phase::Active)
            && self.send_epoch > 0
            && self.frames.can_encrypt()
    }

    fn send_now(&mut self, epoch: u64) {
        if epoch > self.send_epoch || self.send_epoch == 0 {
            self.send_epoch = epoch;
            self.frames.activate_send_epoch(epoch);
            self.push_event(Event::SendEpoch { epoch });
        }
        if self.send_switch.is_some_and(|(e, _)| e <= epoch) {
            self.send_switch = None;
        }
    }

    fn install_secrets(&mut self, now: Duration) -> Result<(), MeetingError> {
        let root = match &self.role {
            Role::Leader(l) => l
                .tree
                .as_ref()
                .map(|t| t.root_key().cloned())
                .transpose()
                .map_err(|source| MeetingError::Tree {
                    epoch: self.epoch,
                    source,
                })?,
            Role::Member(m) => m
                .path
                .as_ref()
                .map(|p| p.root_key().cloned())
                .transpose()
                .map_err(|source| MeetingError::Tree {
                    epoch: self.epoch,
                    source,
                })?,
        };
        let Some(root) = root else {
            return Ok(());
        };
        let s = EpochSecrets::derive(&self.meeting_id, self.epoch, &self.transcript_hash, &root);
        self.push_event(Event::EpochChanged {
            epoch: self.epoch,
            security_code: s.security_code.clone(),
        });
        // Receivers accept the new epoch at once; sending moves at the switch-over.
        let _ = self.frames.set_own_sender(self.own_leaf);
        self.frames.set_sender_bound(self.occupancy.width());
        if self
            .frames
            .install_epoch_deferred(s.epoch, &s.frame_secret, now)
            .is_err()
        {
            // Keys of this epoch number from another branch (a fork we left): start afresh.
            self.frames.clear();
            let _ = self
                .frames
                .install_epoch_deferred(s.epoch, &s.frame_secret, now);
            self.send_epoch = s.epoch;
            self.send_switch = None;
        }
        self.secrets = Some(s);
        self.resync_requested_for = None;
        if self.send_epoch == 0 {
            self.send_now(self.epoch);
        } else {
            // SW-2: a later commit never postpones a pending switch.
            let due = self
                .send_switch
                .map(|(_, d)| d)
                .unwrap_or(now + self.config.switch_delay);
            self.send_switch = Some((self.epoch, due));
            if self.config.switch_delay.is_zero() {
                self.send_now(self.epoch);
            }
        }
        Ok(())
    }

    // ----- inputs -----

    /// Handles an encoded envelope from the relay.
    ///
    /// Returns an error describing any rejection; rejected input never changes the state except
    /// for buffering a commit that arrived early.
    pub fn handle_message<R: CryptoRng + ?Sized>(
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
            Body::Commit(b) => self.on_commit_bundle(b, now, rng),
            Body::Welcome(w) => self.on_welcome(w, now, rng),
            Body::Heartbeat(h) => self.on_heartbeat(h, now, rng),
            Body::Leave(s) => self.on_leave(s, now),
            Body::ResyncRequest(s) => self.on_resync_request(s, now, rng),
            Body::Liveness(s) => self.on_liveness(s, now),
        }
    }

    fn on_announcement<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(()); // Not for us; relays may broadcast.
        }
        let bytes = encode(&signed);
        let ann = parse_announcement(&bytes, &self.meeting_id)?;
        let mut replaces = None;
        if let Some(leaf) = self.roster.leaf_of(&ann.participant_id) {
            let same_bytes = self
                .roster
                .get(leaf)
                .is_some_and(|m| m.announcement.bytes == ann.bytes);
            if same_bytes {
                // Admitted already but the joiner did not get its Welcome: send it again.
                if !self.answer_allowed(leaf, now) {
                    return Ok(());
                }
                let w = self.make_welcome(leaf, ann.nonce, true, rng)?;
                self.push_transmit(Destination::Participant(ann.participant_id), w);
                return Ok(());
            }
            let same_identity = self
                .roster
                .pins
                .get(&ann.participant_id)
                .is_some_and(|p| *p == ann.identity);
            if same_identity && leaf != self.own_leaf {
                // The same device rejoined with fresh keys: replace its old leaf.
                replaces = Some(leaf);
            }
        }
        self.check_admission(&ann, replaces.as_slice())?;
        let delay = self.config.commit_delay;
        let max = self.config.max_participants;
        let present = self.roster.members.len();
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        if l.pending_adds
            .iter()
            .any(|p| p.participant_id == ann.participant_id)
        {
            return Ok(()); // duplicate delivery of a queued announcement
        }
        if l.pending_adds.len() >= MAX_PENDING_ANNOUNCEMENTS {
            return Err(MeetingError::Refused {
                participant: ann.participant_id,
                reason: format!("{MAX_PENDING_ANNOUNCEMENTS} announcements already queued"),
            });
        }
        if present + l.pending_adds.len() >= max + usize::from(replaces.is_some()) {
            return Err(MeetingError::Full(max));
        }
        if let Some(old) = replaces {
            l.pending_removes.insert(old, RemovalReason::Left);
        }
        l.pending_adds.push(ann);
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Admission rules for a new member: unique participant id among present members (after
    /// `removed`), identity pinning, lock state.
    fn check_admission(
        &self,
        ann: &ValidAnnouncement,
        removed: &[u32],
    ) -> Result<(), MeetingError> {
        let refuse = |reason: String| MeetingError::Refused {
            participant: ann.participant_id.clone(),
            reason,
        };
        if let Some(leaf) = self.roster.leaf_of(&ann.participant_id)
            && !removed.contains(&leaf)
        {
            return Err(refuse(
                "a participant with this id is already present".into(),
            ));
        }
        match self.roster.pins.get(&ann.participant_id) {
            Some(pinned) if pinned != &ann.identity => {
                return Err(refuse(format!(
                    "identity {} differs from the identity {} this id joined with",
                    ann.identity.fingerprint_string(),
                    pinned.fingerprint_string()
                )));
            }
            Some(_) => {}
            None => {
                if self.locked {
                    return Err(refuse("the meeting is locked to new identities".into()));
                }
                if self.roster.pins.len() >= MAX_PINNED_IDENTITIES {
                    return Err(refuse(
                        "the meeting has admitted too many identities".into(),
                    ));
                }
            }
        }
        let members = self
            .roster
            .members
            .iter()
            .filter(|(l, _)| !removed.contains(l))
            .map(|(_, m)| &m.announcement);
        match negotiate_suite(members.chain(std::iter::once(ann))) {
            None => Err(refuse(
                "shares no cipher suite with the meeting's members".into(),
            )),
            Some(s) if self.config.require_post_quantum && !s.is_post_quantum() => {
                Err(refuse(format!(
                    "supports no post-quantum suite, which this meeting requires (suite {})",
                    s.id()
                )))
            }
            Some(_) => Ok(()),
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

    fn on_leave(&mut self, signed: SignedMessage, now: Duration) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(());
        }
        let leave: pb::Leave = wire::decode_content(MessageKind::Leave, &signed)?;
        wire::check_version("leave", leave.version)?;
        wire::check_meeting("leave", &leave.meeting_id, &self.meeting_id)?;
        let admitted = self.verify_member(leave.leaf, labels::LEAVE, &signed, "leave")?;
        // LEA-1: a Leave from an earlier membership of the same identity is a replay.
        if leave.epoch < admitted || leave.epoch > self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "leave",
                epoch: leave.epoch,
                current: self.epoch,
            });
        }
        if leave.leaf == self.own_leaf {
            return Ok(());
        }
        let delay = self.config.commit_delay;
        if let Role::Leader(l) = &mut self.role {
            l.pending_removes.insert(leave.leaf, RemovalReason::Left);
            l.commit_due.get_or_insert(now + delay);
        }
        Ok(())
    }

    fn on_liveness(&mut self, signed: SignedMessage, now: Duration) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(());
        }
        let msg: pb::LivenessNonce = wire::decode_content(MessageKind::LivenessNonce, &signed)?;
        wire::check_version("liveness nonce", msg.version)?;
        wire::check_meeting("liveness nonce", &msg.meeting_id, &self.meeting_id)?;
        let nonce = wire::nonce24("liveness nonce", &msg.nonce)?;
        let admitted = self.verify_member(msg.leaf, labels::LIVENESS, &signed, "liveness nonce")?;
        if msg.epoch < admitted || msg.epoch > self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "liveness nonce",
                epoch: msg.epoch,
                current: self.epoch,
            });
        }
        if let Some(m) = self.roster.members.get_mut(&msg.leaf) {
            m.newest_nonce = nonce;
        }
        self.mark_seen(msg.leaf, now);
        Ok(())
    }

    fn on_resync_request<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(());
        }
        let req: pb::ResyncRequest = wire::decode_content(MessageKind::ResyncRequest, &signed)?;
        wire::check_version("resync request", req.version)?;
        wire::check_meeting("resync request", &req.meeting_id, &self.meeting_id)?;
        let nonce = wire::nonce24("resync request", &req.liveness_nonce)?;
        self.verify_member(req.leaf, labels::RESYNC_REQUEST, &signed, "resync request")?;
        if let Some(m) = self.roster.members.get_mut(&req.leaf) {
            m.newest_nonce = nonce;
        }
        self.mark_seen(req.leaf, now);
        if !self.answer_allowed(req.leaf, now) {
            return Ok(());
        }
        let welcome = self.make_welcome(req.leaf, nonce, true, rng)?;
        let to = self.roster.id_of(req.leaf);
        self.push_transmit(Destination::Participant(to), welcome);
        Ok(())
    }

    fn fresh_nonce<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) -> [u8; 24] {
        let mut nonce = [0u8; LIVENESS_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.nonces.push_back((nonce, now));
        while self.nonces.len() > 2 {
            self.nonces.pop_front();
        }
        nonce
    }

    fn request_resync_at<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
        reason: String,
    ) {
        if self.resync_requested_for == Some(self.epoch) {
            return;
        }
        self.resync_requested_for = Some(self.epoch);
        self.resync_sent_at = Some(now);
        let nonce = self.fresh_nonce(now, rng);
        let req = pb::ResyncRequest {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            leaf: self.own_leaf,
            have_epoch: self.secrets.as_ref().map(|s| s.epoch).unwrap_or(0),
            liveness_nonce: nonce.to_vec(),
        };
        let signed = wire::sign(&self.identity, labels::RESYNC_REQUEST, encode(&req));
        self.push_transmit(
            Destination::Leader,
            wire::envelope(Body::ResyncRequest(signed)),
        );
        self.push_event(Event::ResyncNeeded { reason });
    }

    // ----- leader: commits, welcomes, heartbeats -----

    fn leader_commit<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let epoch = self.epoch.saturating_add(1);
        let Role::Leader(l) = &mut self.role else {
            return Err(MeetingError::NotTheLeader("commit"));
        };
        l.commit_due = None;
        let rebuild = l.rebuild_pending || l.tree.is_none();
        let handover_to = l.handover_to.take();
        let mut removes: Vec<(u32, RemovalReason)> =
            l.pending_removes.iter().map(|(a, b)| (*a, *b)).collect();
        removes.retain(|(leaf, _)| self.roster.members.contains_key(leaf));
        let mut adds = if rebuild || handover_to.is_some() {
            Vec::new()
        } else {
            std::mem::take(&mut l.pending_adds)
        };
        let rotate = !rebuild && handover_to.is_none() && std::mem::take(&mut l.rotate_pending);
        if rebuild {
            l.rotate_pending = false; // a rebuild refreshes every key anyway
        }
        let lock = if handover_to.is_some() {
            None
        } else {
            l.lock_pending.take()
        };
        if handover_to.is_some() {
            removes.clear();
        } else {
            l.pending_removes.clear();
        }
        let removed_leaves: Vec<u32> = removes.iter().map(|(l, _)| *l).collect();
        // Re-check admissions against the roster as it will be.
        let mut admitted: Vec<ValidAnnouncement> = Vec::new();
        for a in adds.drain(..) {
            let dup = admitted
                .iter()
                .any(|x| x.participant_id == a.participant_id);
            if !dup && self.check_admission(&a, &removed_leaves).is_ok() {
                admitted.push(a);
            }
        }
        let reason = if handover_to.is_some() {
            CommitReason::Handover
        } else if rebuild {
            if self.roster.members.contains_key(&self.leader_leaf)
                && self.leader_leaf != self.own_leaf
                && !removed_leaves.contains(&self.leader_leaf)
            {
                CommitReason::Handover
            } else if removed_leaves.contains(&self.leader_leaf)
                && self.leader_leaf != self.own_leaf
            {
                CommitReason::Failover
            } else {
                CommitReason::Handover
            }
        } else if rotate {
            CommitReason::Rotation
        } else if removed_leaves.is_empty() && admitted.is_empty() && lock.is_some() {
            CommitReason::Lock
        } else {
            CommitReason::Membership
        };
        let plan = tree::plan(&self.occupancy, &removed_leaves, admitted.len(), rotate)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let Role::Leader(l) = &mut self.role else {
            return Err(MeetingError::NotTheLeader("commit"));
        };
        let updates = if rebuild {
            l.tree = Some(LeaderTree::rebuild(plan.after.clone(), rng));
            Vec::new()
        } else {
            let t = l
                .tree
                .as_mut()
                .ok_or(MeetingError::NotTheLeader("commit"))?;
            t.apply(&plan, &self.meeting_id, epoch, rng)
                .map_err(|source| MeetingError::Tree { epoch, source })?
        };
        let leaf_hashes: Vec<[u8; 32]> = updates
            .iter()
            .map(|(n, c, ct)| update_leaf(*n, *c, ct))
            .collect();
        let new_leader = handover_to.unwrap_or(self.own_leaf);
        let locked = lock.unwrap_or(self.locked);
        let suite = negotiate_suite(
            self.roster
                .members
                .iter()
                .filter(|(l, _)| !removed_leaves.contains(l))
                .map(|(_, m)| &m.announcement)
                .chain(admitted.iter()),
        )
        .unwrap_or(self.suite);
        let commit = pb::Commit {
            version: PROTOCOL_VERSION,
            suite: suite.id(),
            meeting_id: self.meeting_id.clone(),
            epoch,
            prev_transcript_hash: self.transcript_hash.to_vec(),
            leader_leaf: new_leader,
            reason: reason as i32,
            removes: removes
                .iter()
                .map(|(leaf, r)| pb::Remove {
                    leaf: *leaf,
                    reason: r.to_wire() as i32,
                })
                .collect(),
            adds: admitted
                .iter()
                .zip(&plan.added_leaves)
                .map(|(a, leaf)| pb::Add {
                    leaf: *leaf,
                    announcement: a.bytes.clone(),
                })
                .collect(),
            locked,
            leaf_count: plan.after.width(),
            updates_root: merkle::root(&leaf_hashes).to_vec(),
            update_count: u32::try_from(updates.len()).unwrap_or(u32::MAX),
            rebuild,
        };
        let content = encode(&commit);
        let signed = wire::sign(&self.identity, labels::COMMIT, content.clone());
        // Apply to our own state exactly as a member would.
        let bundle = pb::CommitBundle {
            commit: Some(signed),
            updates: updates
                .into_iter()
                .enumerate()
                .map(|(i, (node, child, ciphertext))| pb::IndexedUpdate {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    update: Some(pb::NodeUpdate {
                        node,
                        child,
                        ciphertext,
                    }),
                })
                .collect(),
            proof: vec![],
        };
        let th = transcript_next(&self.transcript_hash, &content);
        self.apply_roster(&commit, &plan, &admitted, epoch, th)?;
        if suite != self.suite {
            self.suite = suite;
            self.push_event(Event::SuiteChanged {
                suite: suite.id(),
                post_quantum: suite.is_post_quantum(),
            });
        }
        if let Role::Leader(l) = &mut self.role {
            l.hb_seq = 0;
            l.prev_hb_hash = [0u8; 32];
            l.next_heartbeat = now;
            if rotate || rebuild {
                l.next_rotation = self.config.rotation_interval.map(|r| now + r);
            }
        }
        self.push_transmit(Destination::All, wire::envelope(Body::Commit(bundle)));
        if let Some(to) = handover_to {
            // We are a member now: keep our own path from the full tree.
            let path = match &self.role {
                Role::Leader(l) => l
                    .tree
                    .as_ref()
                    .map(|t| t.path_secrets(self.own_leaf))
                    .transpose()
                    .map_err(|source| MeetingError::Tree { epoch, source })?,
                Role::Member(_) => None,
            };
            self.install_secrets(now)?;
            let path = path
                .map(|p| MemberPath::from_secrets(self.own_leaf, self.occupancy.width(), p))
                .transpose()
                .map_err(|source| MeetingError::Tree { epoch, source })?;
            self.role = Role::Member(Box::new(MemberState {
                path,
                last_heartbeat: now,
                hb_seq: 0,
                prev_hb_hash: [0u8; 32],
                missed_reported: 0,
                suspected: BTreeSet::new(),
            }));
            // apply_roster already reported the LeaderChanged event for `to`.
            let _ = to;
            return Ok(());
        }
        self.install_secrets(now)?;
        // Welcomes: joiners get group info; on a rebuild every other member gets its new path.
        for leaf in &plan.added_leaves {
            let nonce = self
                .roster
                .get(*leaf)
                .map(|m| m.newest_nonce)
                .unwrap_or([0; 24]);
            let w = self.make_welcome(*leaf, nonce, true, rng)?;
            self.push_transmit(Destination::Participant(self.roster.id_of(*leaf)), w);
        }
        if rebuild {
            let leaves: Vec<u32> = self
                .roster
                .members
                .keys()
                .copied()
                .filter(|l| *l != self.own_leaf && !plan.added_leaves.contains(l))
                .collect();
            for leaf in leaves {
                let nonce = self
                    .roster
                    .get(leaf)
                    .map(|m| m.newest_nonce)
                    .unwrap_or([0; 24]);
                let defer = self.config.offload_rebuild_sealing;
                let w = self.welcome_or_job(leaf, nonce, false, defer, rng)?;
                if defer {
                    continue;
                }
                self.push_transmit(Destination::Participant(self.roster.id_of(leaf)), w);
            }
        }
        if let Role::Leader(l) = &mut self.role {
            l.rebuild_pending = false;
            if !l.pending_adds.is_empty() || !l.pending_removes.is_empty() {
                l.commit_due = Some(now);
            }
        }
        Ok(())
    }

    fn make_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        echoed_nonce: [u8; 24],
        with_group_info: bool,
        rng: &mut R,
    ) -> Result<Vec<u8>, MeetingError> {
        self.welcome_or_job(leaf, echoed_nonce, with_group_info, false, rng)
    }

    /// Builds a Welcome for `leaf`; with `defer`, queues its sealing as a [`SealJob`] and
    /// returns an empty payload.
    fn welcome_or_job<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        echoed_nonce: [u8; 24],
        with_group_info: bool,
        defer: bool,
        rng: &mut R,
    ) -> Result<Vec<u8>, MeetingError> {
        let epoch = self.epoch;
        let Role::Leader(l) = &self.role else {
            return Err(MeetingError::NotTheLeader("send a Welcome"));
        };
        let t = l
            .tree
            .as_ref()
            .ok_or(MeetingError::NotTheLeader("send a Welcome"))?;
        let path = t
            .path_secrets(leaf)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let member = self
            .roster
            .get(leaf)
            .ok_or_else(|| MeetingError::UnknownParticipant(format!("leaf {leaf}")))?;
        let pk = member
            .announcement
            .hpke_key(self.suite)
            .ok_or_else(|| MeetingError::Refused {
                participant: member.announcement.participant_id.clone(),
                reason: "no HPKE key for the meeting's suite".into(),
            })?
            .to_vec();
        let secrets = pb::PathSecrets {
            leaf,
            nodes: path
                .iter()
                .map(|(node, key)| pb::NodeSecret {
                    node: *node,
                    key: key.expose().to_vec(),
                })
                .collect(),
            echoed_nonce: echoed_nonce.to_vec(),
        };
        let plaintext = zeroize::Zeroizing::new(encode(&secrets));
        let cached = self
            .group_info_cache
            .as_ref()
            .filter(|(e, _)| *e == epoch)
            .map(|(_, b)| b.clone());
        let group_info = if !with_group_info {
            Vec::new()
        } else if let Some(bytes) = cached {
            bytes
        } else {
            let gi = pb::GroupInfo {
                version: PROTOCOL_VERSION,
                suite: self.suite.id(),
                meeting_id: self.meeting_id.clone(),
                epoch,
                transcript_hash: self.transcript_hash.to_vec(),
                leader_leaf: self.leader_leaf,
                locked: self.locked,
                leaf_count: self.occupancy.width(),
                roster: self
                    .roster
                    .members
                    .iter()
                    .map(|(leaf, m)| pb::RosterEntry {
                        leaf: *leaf,
                        admitted_epoch: m.admitted_epoch,
                        announcement: m.announcement.bytes.clone(),
                    })
                    .collect(),
            };
            let bytes = encode(&wire::sign(&self.identity, labels::GROUP_INFO, encode(&gi)));
            // Signed once per epoch and reused for every joiner and resync of that epoch.
            self.group_info_cache = Some((epoch, bytes.clone()));
            bytes
        };
        let job = SealJob {
            recipient: member.announcement.participant_id.clone(),
            suite: self.suite,
            public_key: pk,
            plaintext,
            welcome: pb::Welcome {
                version: PROTOCOL_VERSION,
                suite: self.suite.id(),
                meeting_id: self.meeting_id.clone(),
                epoch,
                leaf,
                transcript_hash: self.transcript_hash.to_vec(),
                enc: Vec::new(),
                ciphertext: Vec::new(),
                group_info,
            },
            identity: Arc::clone(&self.identity),
        };
        if defer {
            if self.seal_jobs.len() >= MAX_PARTICIPANTS {
                self.seal_jobs.pop_front();
            }
            self.seal_jobs.push_back(job);
            return Ok(Vec::new());
        }
        Ok(job.run(rng)?.payload)
    }

    fn leader_heartbeat(&mut self, now: Duration) -> Result<(), MeetingError> {
        let Some(secrets) = self.secrets.as_ref() else {
            return Ok(());
        };
        let confirmation = secrets.confirmation;
        let echoes: Vec<pb::LivenessEcho> = self
            .roster
            .members
            .iter()
            .filter(|(l, _)| **l != self.own_leaf)
            .map(|(leaf, m)| pb::LivenessEcho {
                leaf: *leaf,
                nonce: m.newest_nonce.to_vec(),
            })
            .collect();
        let hashes: Vec<[u8; 32]> = echoes.iter().map(|e| echo_leaf(e.leaf, &e.nonce)).collect();
        let interval = self.config.heartbeat_interval;
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        l.hb_seq += 1;
        l.next_heartbeat = now + interval;
        let hb = pb::Heartbeat {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            transcript_hash: self.transcript_hash.to_vec(),
            leader_leaf: self.own_leaf,
            sequence: l.hb_seq,
            prev_heartbeat_hash: l.prev_hb_hash.to_vec(),
            confirmation: confirmation.to_vec(),
            liveness_root: merkle::root(&hashes).to_vec(),
            liveness_count: u32::try_from(echoes.len()).unwrap_or(u32::MAX),
        };
        let content = encode(&hb);
        l.prev_hb_hash = crate::schedule::heartbeat_hash(&content);
        let signed = wire::sign(&self.identity, labels::HEARTBEAT, content);
        let bundle = pb::HeartbeatBundle {
            heartbeat: Some(signed),
            echoes: echoes
                .into_iter()
                .enumerate()
                .map(|(i, echo)| pb::IndexedEcho {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    echo: Some(echo),
                })
                .collect(),
            proof: vec![],
        };
        self.push_transmit(Destination::All, wire::envelope(Body::Heartbeat(bundle)));
        Ok(())
    }

    // ----- member: commits -----

    fn on_commit_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::CommitBundle,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let signed = bundle.commit.as_ref().ok_or(MeetingError::Invalid {
            message: "commit bundle",
            reason: "no commit".into(),
        })?;
        let commit: pb::Commit = wire::decode_content(MessageKind::Commit, signed)?;
        wire::check_version("commit", commit.version)?;
        wire::check_meeting("commit", &commit.meeting_id, &self.meeting_id)?;
        if matches!(self.phase, Phase::Joining) {
            // Commits after the one that admits us are applied once the Welcome arrives.
            self.buffer_commit(commit.epoch, bundle)?;
            return Ok(());
        }
        if matches!(self.role, Role::Leader(_)) {
            return self.leader_on_commit(&bundle, &commit);
        }
        if commit.epoch <= self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "commit",
                epoch: commit.epoch,
                current: self.epoch,
            });
        }
        if commit.epoch > self.epoch.saturating_add(1) {
            let expected = self.epoch.saturating_add(1);
            self.buffer_commit(commit.epoch, bundle)?;
            self.request_resync_at(
                now,
                rng,
                format!(
                    "commit for epoch {} arrived before epoch {expected}",
                    commit.epoch
                ),
            );
            return Err(MeetingError::Gap {
                epoch: commit.epoch,
                expected,
            });
        }
        self.apply_commit(bundle, commit, now, rng)?;
        self.drain_pending(now, rng);
        Ok(())
    }

    /// COM-3: a leader applies only its own commits; it rejects every other commit, including
    /// a failover commit that deposes it (a leader that runs is not failed; the failover leader
    /// returns by the fork rule when it hears this leader's heartbeats).
    fn leader_on_commit(
        &mut self,
        _bundle: &pb::CommitBundle,
        commit: &pb::Commit,
    ) -> Result<(), MeetingError> {
        let _ = commit;
        Err(MeetingError::Unexpected {
            message: "commit",
            reason: "the leader applies only its own commits",
        })
    }

    fn buffer_commit(&mut self, epoch: u64, bundle: pb::CommitBundle) -> Result<(), MeetingError> {
        if !self.pending_commits.contains_key(&epoch)
            && self.pending_commits.len() >= MAX_PENDING_COMMITS
        {
            // Keep the earliest: they are needed first.
            let last = self.pending_commits.keys().next_back().copied();
            match last {
                Some(l) if l > epoch => {
                    self.pending_commits.remove(&l);
                }
                _ => {
                    return Err(MeetingError::Invalid {
                        message: "commit",
                        reason: format!("{MAX_PENDING_COMMITS} commits already buffered"),
                    });
                }
            }
        }
        self.pending_commits.insert(epoch, bundle);
        Ok(())
    }

    fn drain_pending<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) {
        loop {
            self.pending_commits.retain(|e, _| *e > self.epoch);
            let next = self.epoch.saturating_add(1);
            let Some(bundle) = self.pending_commits.remove(&next) else {
                break;
            };
            let Some(signed) = bundle.commit.as_ref() else {
                continue;
            };
            let Ok(commit) = wire::decode_content::<pb::Commit>(MessageKind::Commit, signed) else {
                continue;
            };
            if self.apply_commit(bundle, commit, now, rng).is_err() {
                break;
            }
        }
        // Welcomes waiting for their commit.
        let waiting = std::mem::take(&mut self.pending_welcomes);
        for w in waiting {
            let _ = self.on_welcome(w, now, rng);
        }
    }

    /// Who may sign a commit for the next epoch: the leader, or on failover the successor.
    fn expected_signer(&self, commit: &pb::Commit, now: Duration) -> Result<u32, MeetingError> {
        let failover = commit.reason == CommitReason::Failover as i32;
        if failover {
            // Accept a failover only if we too have missed the leader's heartbeats for all but
            // one interval of the limit: a relay that starves only the successor cannot depose a
            // live leader.
            if let Role::Member(m) = &self.role {
                // FO-3: each further failed leader named in the commit needs another full limit.
                let extra = commit
                    .removes
                    .iter()
                    .filter(|r| {
                        r.reason == RemoveReason::LeaderFailed as i32 && r.leaf != self.leader_leaf
                    })
                    .count();
                let limit = self.config.missed_heartbeats_limit;
                let intervals = (u32::try_from(extra).unwrap_or(u32::MAX).saturating_add(1))
                    .saturating_mul(limit)
                    .saturating_sub(1);
                let quiet = now.saturating_sub(m.last_heartbeat);
                let needed = self.config.heartbeat_interval * intervals;
                if quiet < needed {
                    return Err(MeetingError::Unexpected {
                        message: "failover commit",
                        reason: "the leader's heartbeats still reach us",
                    });
                }
            }
            let removes_leader = commit.removes.iter().any(|r| {
                r.leaf == self.leader_leaf && r.reason == RemoveReason::LeaderFailed as i32
            });
            if !removes_leader || !commit.rebuild {
                return Err(MeetingError::BadRoster {
                    epoch: commit.epoch,
                    reason: "a failover commit must remove the failed leader and rebuild".into(),
                });
            }
            let mut exclude: Vec<u32> = commit
                .removes
                .iter()
                .filter(|r| r.reason == RemoveReason::LeaderFailed as i32)
                .map(|r| r.leaf)
                .collect();
            exclude.push(self.leader_leaf);
            let succ = self.roster.successor(&exclude).unwrap_or(u32::MAX);
            if commit.leader_leaf != succ {
                return Err(MeetingError::NotLeader {
                    message: "failover commit",
                    epoch: commit.epoch,
                    signer: commit.leader_leaf,
                    leader: succ,
                });
            }
            Ok(succ)
        } else {
            Ok(self.leader_leaf)
        }
    }

    fn apply_commit<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::CommitBundle,
        commit: pb::Commit,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let epoch = commit.epoch;
        let signed = bundle.commit.as_ref().ok_or(MeetingError::Invalid {
            message: "commit bundle",
            reason: "no commit".into(),
        })?;
        // 1. Signer.
        let signer = self.expected_signer(&commit, now)?;
        let signer_member = self.roster.get(signer).ok_or(MeetingError::NotLeader {
            message: "commit",
            epoch,
            signer,
            leader: self.leader_leaf,
        })?;
        let signer_id = signer_member.announcement.participant_id.clone();
        wire::verify(
            &signer_member.announcement.identity,
            labels::COMMIT,
            signed,
            "commit",
            || signer_id,
        )
        .map_err(|e| match e {
            MeetingError::BadSignature { source, .. } => MeetingError::BadSignature {
                message: "commit",
                from: format!("the leader (leaf {signer}) for epoch {epoch}"),
                source,
            },
            other => other,
        })?;
        // 2. Chain.
        let prev = wire::hash32(
            "commit",
            "prev_transcript_hash",
            &commit.prev_transcript_hash,
        )?;
        if !bool::from(prev.ct_eq(&self.transcript_hash)) {
            return Err(MeetingError::TranscriptMismatch { epoch });
        }
        // 3. Roster change.
        let bad = |reason: String| MeetingError::BadRoster { epoch, reason };
        if CommitReason::try_from(commit.reason).is_err()
            || commit.reason == CommitReason::Unspecified as i32
        {
            return Err(bad(format!("undefined commit reason {}", commit.reason)));
        }
        if let Some(r) = commit.removes.iter().find(|r| {
            RemoveReason::try_from(r.reason).is_err()
                || r.reason == RemoveReason::Unspecified as i32
        }) {
            return Err(bad(format!("undefined remove reason {}", r.reason)));
        }
        let mut removed: Vec<u32> = Vec::with_capacity(commit.removes.len());
        for r in &commit.removes {
            if removed.last().is_some_and(|l| *l >= r.leaf) {
                return Err(bad("removes are not in ascending leaf order".into()));
            }
            if !self.roster.members.contains_key(&r.leaf) {
                return Err(bad(format!(
                    "removes leaf {}, which is not present",
                    r.leaf
                )));
            }
            removed.push(r.leaf);
        }
        if commit.adds.len() > MAX_PENDING_ANNOUNCEMENTS.max(self.config.max_participants) {
            return Err(bad(format!("{} adds", commit.adds.len())));
        }
        let rotate = commit.reason == CommitReason::Rotation as i32;
        let handover =
            commit.leader_leaf != signer && commit.reason != CommitReason::Failover as i32;
        if handover
            && (commit.reason != CommitReason::Handover as i32
                || !commit.adds.is_empty()
                || !commit.removes.is_empty()
                || commit.rebuild
                || !self.roster.members.contains_key(&commit.leader_leaf))
        {
            return Err(bad(
                "a commit naming another leader must be a plain handover to a present member"
                    .into(),
            ));
        }
        if commit.rebuild && (!commit.adds.is_empty() || rotate) {
            return Err(bad("a rebuild commit cannot add members or rotate".into()));
        }
        let plan = tree::plan(&self.occupancy, &removed, commit.adds.len(), rotate)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let mut admitted = Vec::with_capacity(commit.adds.len());
        for (add, leaf) in commit.adds.iter().zip(&plan.added_leaves) {
            if add.leaf != *leaf {
                return Err(bad(format!(
                    "add places a member at leaf {} but the rules give leaf {leaf}",
                    add.leaf
                )));
            }
            let ann = parse_announcement(&add.announcement, &self.meeting_id)?;
            // Pins, the lock and the participant limit are the leader's policy; receivers check
            // what the protocol fixes: unique ids and a key for the suite.
            if let Some(leaf) = self.roster.leaf_of(&ann.participant_id)
                && !removed.contains(&leaf)
            {
                return Err(bad(format!("{} is already present", ann.participant_id)));
            }
            if admitted
                .iter()
                .any(|a: &ValidAnnouncement| a.participant_id == ann.participant_id)
            {
                return Err(bad(format!("{} is added twice", ann.participant_id)));
            }
            admitted.push(ann);
        }
        // Suite negotiation (`spec/suites.md`): the strongest suite every member after this
        // commit supports. A weaker one is a downgrade and is rejected.
        let negotiated = negotiate_suite(
            self.roster
                .members
                .iter()
                .filter(|(l, _)| !removed.contains(l))
                .map(|(_, m)| &m.announcement)
                .chain(admitted.iter()),
        );
        let commit_suite = CipherSuite::from_id(commit.suite).ok();
        if commit_suite.is_none() || commit_suite != negotiated {
            return Err(bad(format!(
                "suite {} is not the strongest suite all members support ({}): a downgrade",
                commit.suite,
                negotiated.map(|s| s.id()).unwrap_or(0)
            )));
        }
        let commit_suite = negotiated.unwrap_or(self.suite);
        if self.roster.members.len() - removed.len() + admitted.len() > MAX_PARTICIPANTS {
            return Err(MeetingError::Full(MAX_PARTICIPANTS));
        }
        let after_has_leader = commit.leader_leaf == signer && !removed.contains(&signer)
            || (self.roster.members.contains_key(&commit.leader_leaf)
                && !removed.contains(&commit.leader_leaf));
        if !after_has_leader {
            return Err(bad(format!(
                "leader leaf {} is not present after the commit",
                commit.leader_leaf
            )));
        }
        if commit.leaf_count != plan.after.width() {
            return Err(bad(format!(
                "leaf_count {} but the tree has {} leaves",
                commit.leaf_count,
                plan.after.width()
            )));
        }
        let expected_updates = if commit.rebuild { 0 } else { plan.wraps.len() };
        if commit.update_count as usize != expected_updates {
            return Err(bad(format!(
                "update_count {} but the plan needs {expected_updates}",
                commit.update_count
            )));
        }
        // 4. Merkle proof of the delivered updates.
        let root = wire::hash32("commit", "updates_root", &commit.updates_root)?;
        let mut lookup: BTreeMap<(u32, u32), Vec<u8>> = BTreeMap::new();
        let mut entries = Vec::with_capacity(bundle.updates.len());
        if bundle.updates.len() > MAX_NODE_UPDATES || bundle.proof.len() > MAX_PROOF_HASHES {
            return Err(bad("too many updates or proof hashes".into()));
        }
        for iu in &bundle.updates {
            let u = iu
                .update
                .as_ref()
                .ok_or_else(|| bad("empty update entry".into()))?;
            let idx = iu.index as usize;
            if plan.wraps.get(idx) != Some(&(u.node, u.child)) {
                return Err(bad(format!(
                    "update {idx} is for node {} under {}, not what the plan requires",
                    u.node, u.child
                )));
            }
            if u.ciphertext.len() != WRAPPED_KEY_LEN {
                return Err(bad(format!("update {idx} ciphertext has the wrong length")));
            }
            entries.push((idx, update_leaf(u.node, u.child, &u.ciphertext)));
            lookup.insert((u.node, u.child), u.ciphertext.clone());
        }
        let mut proof = Vec::with_capacity(bundle.proof.len());
        for p in &bundle.proof {
            proof.push(wire::hash32("commit", "proof hash", p)?);
        }
        if expected_updates > 0 || !entries.is_empty() {
            let computed =
                merkle::compute_root(expected_updates, &entries, &proof).map_err(|source| {
                    MeetingError::BadProof {
                        message: "commit",
                        epoch,
                        source,
                    }
                })?;
            if computed != root {
                return Err(MeetingError::RootMismatch {
                    message: "commit",
                    epoch,
                });
            }
        } else if root != merkle::root(&[]) {
            return Err(MeetingError::RootMismatch {
                message: "commit",
                epoch,
            });
        }
        // 5. Accept: roster, transcript, keys.
        let th = transcript_next(&self.transcript_hash, &signed.content);
        let we_are_removed = removed.contains(&self.own_leaf);
        let path_result = if we_are_removed || commit.rebuild {
            Ok(None)
        } else {
            match &self.role {
                Role::Member(m) => match &m.path {
                    Some(p) => {
                        let mut p = p.clone();
                        p.apply(&plan, &self.meeting_id, epoch, |n, c| {
                            lookup.get(&(n, c)).map(|v| v.as_slice())
                        })
                        .map(|()| Some(p))
                    }
                    None => Err(tree::TreeError::MissingKey(tree::leaf_node(self.own_leaf))),
                },
                Role::Leader(_) => Ok(None),
            }
        };
        let old_leader = self.leader_leaf;
        self.apply_roster(&commit, &plan, &admitted, epoch, th)?;
        if commit_suite != self.suite {
            self.suite = commit_suite;
            self.push_event(Event::SuiteChanged {
                suite: commit_suite.id(),
                post_quantum: commit_suite.is_post_quantum(),
            });
        }
        if self.config.require_post_quantum && !commit_suite.is_post_quantum() && !we_are_removed {
            return self.refuse_suite(commit_suite, now);
        }
        if we_are_removed {
            let reason = commit
                .removes
                .iter()
                .find(|r| r.leaf == self.own_leaf)
                .map(|r| RemovalReason::from_wire(r.reason))
                .unwrap_or(RemovalReason::Removed);
            self.end(reason);
            return Ok(());
        }
        if let Role::Member(m) = &mut self.role {
            m.hb_seq = 0;
            m.prev_hb_hash = [0u8; 32];
            m.last_heartbeat = now;
            m.missed_reported = 0;
            if self.leader_leaf != old_leader {
                m.suspected.clear();
            }
            match path_result {
                Ok(Some(p)) => {
                    m.path = Some(p);
                }
                Ok(None) => {
                    m.path = None; // rebuild: the Welcome brings the new path
                }
                Err(source) => {
                    m.path = None;
                    self.secrets = None;
                    self.request_resync_at(now, rng, format!("epoch {epoch}: {source}"));
                    return Ok(());
                }
            }
        }
        if self.leader_leaf == self.own_leaf && !matches!(self.role, Role::Leader(_)) {
            // Handed over to us: rebuild the tree in our first commit.
            let leader = LeaderState {
                tree: None,
                pending_adds: Vec::new(),
                pending_removes: BTreeMap::new(),
                commit_due: Some(now),
                rotate_pending: false,
                lock_pending: None,
                handover_to: None,
                rebuild_pending: true,
                hb_seq: 0,
                prev_hb_hash: [0u8; 32],
                next_heartbeat: now,
                next_rotation: self.config.rotation_interval.map(|r| now + r),
                fork: None,
                last_seen: BTreeMap::new(),
                last_answer: BTreeMap::new(),
            };
            self.role = Role::Leader(Box::new(leader));
            self.secrets = None;
            self.resume_sending();
            return Ok(());
        }
        if commit.rebuild {
            self.secrets = None;
        } else {
            self.install_secrets(now)?;
        }
        Ok(())
    }

    /// Applies a verified commit's roster, lock, leader and transcript changes.
    fn apply_roster(
        &mut self,
        commit: &pb::Commit,
        plan: &Plan,
        admitted: &[ValidAnnouncement],
        epoch: u64,
        th: [u8; 32],
    ) -> Result<(), MeetingError> {
        for r in &commit.removes {
            if let Some(m) = self.roster.members.remove(&r.leaf) {
                self.push_event(Event::ParticipantRemoved {
                    participant_id: m.announcement.participant_id,
                    reason: RemovalReason::from_wire(r.reason),
                });
            }
        }
        for (ann, leaf) in admitted.iter().zip(&plan.added_leaves) {
            self.roster
                .pins
                .insert(ann.participant_id.clone(), ann.identity.clone());
            self.push_event(Event::ParticipantAdded {
                participant_id: ann.participant_id.clone(),
                leaf: *leaf,
                fingerprint: ann.identity.fingerprint_string(),
            });
            self.roster.members.insert(
                *leaf,
                Member {
                    announcement: ann.clone(),
                    admitted_epoch: epoch,
                    newest_nonce: ann.nonce,
                },
            );
        }
        if commit.locked != self.locked {
            self.locked = commit.locked;
            self.push_event(Event::LockChanged {
                locked: commit.locked,
            });
        }
        if commit.leader_leaf != self.leader_leaf {
            self.leader_leaf = commit.leader_leaf;
            let (pid, fp) = self.roster.describe(commit.leader_leaf);
            self.push_event(Event::LeaderChanged {
                participant_id: pid,
                fingerprint: fp,
            });
        }
        self.occupancy = plan.after.clone();
        self.epoch = epoch;
        self.transcript_hash = th;
        Ok(())
    }

    // ----- member: welcomes -----

    fn on_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let w: pb::Welcome = wire::decode_content(MessageKind::Welcome, &signed)?;
        wire::check_version("welcome", w.version)?;
        wire::check_meeting("welcome", &w.meeting_id, &self.meeting_id)?;
        let th = wire::hash32("welcome", "transcript_hash", &w.transcript_hash)?;
        let w_suite = match CipherSuite::from_id(w.suite) {
            Ok(s) if self.hpke.contains_key(&s.id()) => s,
            _ => {
                return Err(MeetingError::Invalid {
                    message: "welcome",
                    reason: format!("suite {} is not one we announced", w.suite),
                });
            }
        };
        if !matches!(self.phase, Phase::Joining) && w_suite != self.suite {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: format!(
                    "suite {} is not the meeting's suite {}",
                    w.suite,
                    self.suite.id()
                ),
            });
        }
        if matches!(self.role, Role::Leader(_)) {
            return Ok(()); // leaders hold every key
        }
        let joining = matches!(self.phase, Phase::Joining);
        if !joining && w.leaf != self.own_leaf {
            return Ok(()); // someone else's
        }
        if !joining && w.epoch <= self.epoch && self.has_keys() {
            return Err(MeetingError::StaleEpoch {
                message: "welcome",
                epoch: w.epoch,
                current: self.epoch,
            });
        }
        if w.group_info.is_empty() {
            if joining {
                return Err(MeetingError::Invalid {
                    message: "welcome",
                    reason: "a joiner's Welcome must carry group info".into(),
                });
            }
            if w.epoch > self.epoch {
                // Buffer only what our leader (or, after a failover, its successor) signed.
                let candidates = [
                    Some(self.leader_leaf),
                    self.roster.successor(&[self.leader_leaf]),
                ];
                let signed_ok = candidates.iter().flatten().any(|leaf| {
                    self.roster.get(*leaf).is_some_and(|m| {
                        m.announcement
                            .identity
                            .verify(labels::WELCOME, &signed.content, &signed.signature)
                            .is_ok()
                    })
                });
                if !signed_ok {
                    return Err(MeetingError::Unexpected {
                        message: "welcome",
                        reason: "a Welcome for a future epoch not signed by our leader or its successor",
                    });
                }
                if self.pending_welcomes.len() >= MAX_PENDING_WELCOMES {
                    self.pending_welcomes.remove(0);
                }
                self.pending_welcomes.push(signed);
                self.request_resync_at(
                    now,
                    rng,
                    format!("Welcome for epoch {} before its commit", w.epoch),
                );
                return Ok(());
            }
            if w.epoch != self.epoch {
                return Err(MeetingError::StaleEpoch {
                    message: "welcome",
                    epoch: w.epoch,
                    current: self.epoch,
                });
            }
            // Path for our current epoch (rebuild or resync): signed by the current leader.
            self.verify_member(self.leader_leaf, labels::WELCOME, &signed, "welcome")?;
            if !bool::from(th.ct_eq(&self.transcript_hash)) {
                return Err(MeetingError::TranscriptMismatch { epoch: w.epoch });
            }
            // The transcript hash binds it to this epoch; no nonce echo is needed (WEL-5).
            let path = self.open_path(&w, &th, false)?;
            if let Role::Member(m) = &mut self.role {
                m.path = Some(path);
            }
            self.install_secrets(now)?;
            return Ok(());
        }
        // With group info: a joiner, or a member resynchronising across a gap.
        let gi_signed: SignedMessage = decode_bounded(
            MessageKind::SignedMessage,
            &w.group_info,
            MAX_GROUP_INFO_SIZE,
        )?;
        let gi: pb::GroupInfo = wire::decode_content(MessageKind::GroupInfo, &gi_signed)?;
        wire::check_version("group info", gi.version)?;
        wire::check_meeting("group info", &gi.meeting_id, &self.meeting_id)?;
        if gi.epoch != w.epoch || gi.transcript_hash != w.transcript_hash || gi.suite != w.suite {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: "group info and Welcome disagree on epoch, transcript or suite".into(),
            });
        }
        if gi.roster.len() > MAX_PARTICIPANTS {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!("{} roster entries", gi.roster.len()),
            });
        }
        let mut roster = Roster::default();
        let mut prev_leaf: Option<u32> = None;
        for e in &gi.roster {
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: "roster is not in ascending leaf order".into(),
                });
            }
            prev_leaf = Some(e.leaf);
            let ann = parse_announcement(&e.announcement, &self.meeting_id)?;
            if e.admitted_epoch == 0 || e.admitted_epoch > gi.epoch {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: format!(
                        "leaf {} admitted at epoch {}, outside 1..={}",
                        e.leaf, e.admitted_epoch, gi.epoch
                    ),
                });
            }
            if roster.pins.contains_key(&ann.participant_id) {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: format!("{} appears twice in the roster", ann.participant_id),
                });
            }
            roster
                .pins
                .insert(ann.participant_id.clone(), ann.identity.clone());
            roster.members.insert(
                e.leaf,
                Member {
                    newest_nonce: ann.nonce,
                    announcement: ann,
                    admitted_epoch: e.admitted_epoch,
                },
            );
        }
        let negotiated = negotiate_suite(roster.members.values().map(|m| &m.announcement));
        if negotiated != Some(w_suite) {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!(
                    "suite {} is not the strongest suite all members support: a downgrade",
                    w.suite
                ),
            });
        }
        if self.config.require_post_quantum && !w_suite.is_post_quantum() {
            // Verified below only if we would accept; refusing needs no trust in the sender.
            self.push_event(Event::SuiteRefused {
                suite: w_suite.id(),
            });
            self.end(RemovalReason::SuiteRefused);
            return Err(MeetingError::Refused {
                participant: self.participant_id.clone(),
                reason: format!(
                    "the meeting uses suite {}, but post-quantum key distribution is required",
                    w_suite.id()
                ),
            });
        }
        let leader = roster.get(gi.leader_leaf).ok_or(MeetingError::Invalid {
            message: "group info",
            reason: format!("leader leaf {} is not in the roster", gi.leader_leaf),
        })?;
        if !joining {
            // A resync may only come from our leader or its deterministic successor.
            let ok_signer = gi.leader_leaf == self.leader_leaf
                || self.roster.successor(&[self.leader_leaf]) == Some(gi.leader_leaf);
            let same_key = self
                .roster
                .get(gi.leader_leaf)
                .is_some_and(|m| m.announcement.identity == leader.announcement.identity);
            if !ok_signer || !same_key {
                return Err(MeetingError::NotLeader {
                    message: "resync group info",
                    epoch: gi.epoch,
                    signer: gi.leader_leaf,
                    leader: self.leader_leaf,
                });
            }
            if gi.leader_leaf != self.leader_leaf {
                // WEL-6: following a successor needs the same quiet period as a failover.
                if let Role::Member(m) = &self.role {
                    let needed = self.config.heartbeat_interval
                        * self.config.missed_heartbeats_limit.saturating_sub(1);
                    if now.saturating_sub(m.last_heartbeat) < needed {
                        return Err(MeetingError::Unexpected {
                            message: "resync group info",
                            reason: "signed by the successor while our leader's heartbeats still reach us",
                        });
                    }
                }
            }
            if gi.epoch < self.epoch {
                return Err(MeetingError::StaleEpoch {
                    message: "welcome",
                    epoch: gi.epoch,
                    current: self.epoch,
                });
            }
        }
        let lid = leader.announcement.participant_id.clone();
        wire::verify(
            &leader.announcement.identity,
            labels::GROUP_INFO,
            &gi_signed,
            "group info",
            || lid.clone(),
        )?;
        wire::verify(
            &leader.announcement.identity,
            labels::WELCOME,
            &signed,
            "welcome",
            || lid,
        )?;
        let me = roster.get(w.leaf).ok_or(MeetingError::Invalid {
            message: "welcome",
            reason: format!("our leaf {} is not in the roster", w.leaf),
        })?;
        if me.announcement.identity != *self.identity.public()
            || me.announcement.participant_id != self.participant_id
            || (joining && me.announcement.bytes != self.own_announcement)
        {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: "the roster entry at our leaf is not our announcement".into(),
            });
        }
        let width = gi.leaf_count;
        let highest = roster.members.keys().next_back().copied().unwrap_or(0);
        if width > 1 && highest < width / 2 {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!("leaf_count {width} is not the truncated width of the roster"),
            });
        }
        let occupancy =
            Occupancy::from_parts(width, roster.members.keys().copied()).map_err(|source| {
                MeetingError::Tree {
                    epoch: gi.epoch,
                    source,
                }
            })?;
        self.own_leaf = w.leaf;
        let path = {
            // open_path needs own_leaf and occupancy width.
            let saved = std::mem::replace(&mut self.occupancy, occupancy.clone());
            let r = self.open_path(&w, &th, true);
            if r.is_err() {
                self.occupancy = saved;
            }
            r?
        };
        self.roster = roster;
        self.occupancy = occupancy;
        if gi.leader_leaf != self.leader_leaf && !joining {
            let (pid, fp) = self.roster.describe(gi.leader_leaf);
            self.push_event(Event::LeaderChanged {
                participant_id: pid,
                fingerprint: fp,
            });
        }
        self.leader_leaf = gi.leader_leaf;
        self.locked = gi.locked;
        if w_suite != self.suite || joining {
            self.suite = w_suite;
            self.push_event(Event::SuiteChanged {
                suite: w_suite.id(),
                post_quantum: w_suite.is_post_quantum(),
            });
        }
        self.epoch = gi.epoch;
        self.transcript_hash = th;
        if let Role::Member(m) = &mut self.role {
            m.path = Some(path);
            m.last_heartbeat = now;
            m.missed_reported = 0;
            m.hb_seq = 0;
            m.suspected.clear();
        }
        self.install_secrets(now)?;
        if joining {
            self.phase = Phase::Active;
            self.last_echo = now;
            self.push_event(Event::Joined {
                epoch: self.epoch,
                leaf: self.own_leaf,
            });
            self.drain_pending(now, rng);
        }
        Ok(())
    }

    fn open_path(
        &mut self,
        w: &pb::Welcome,
        th: &[u8; 32],
        check_nonce: bool,
    ) -> Result<MemberPath, MeetingError> {
        let epoch = w.epoch;
        let info = welcome_info(&self.meeting_id, epoch, w.leaf);
        let kp = self.hpke.get(&w.suite).ok_or(MeetingError::Invalid {
            message: "welcome",
            reason: format!("suite {} is not one we announced", w.suite),
        })?;
        let pt = kp
            .open(&w.enc, &info, th, &w.ciphertext)
            .map_err(|source| MeetingError::Crypto { epoch, source })?;
        let ps: pb::PathSecrets =
            decode_bounded(MessageKind::PathSecrets, &pt, MAX_PATH_SECRETS_SIZE)?;
        if ps.leaf != w.leaf || ps.nodes.len() > MAX_PATH_NODES {
            return Err(MeetingError::Invalid {
                message: "path secrets",
                reason: "leaf or node count is wrong".into(),
            });
        }
        let echoed = wire::nonce24("path secrets", &ps.echoed_nonce)?;
        if check_nonce
            && !self
                .nonces
                .iter()
                .any(|(n, _)| bool::from(n.ct_eq(&echoed)))
        {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason:
                    "it does not echo one of our two newest liveness nonces (stale or replayed)"
                        .into(),
            });
        }
        let mut nodes = Vec::with_capacity(ps.nodes.len());
        for n in &ps.nodes {
            let k = Secret::from_slice(&n.key, "node key")
                .map_err(|source| MeetingError::Crypto { epoch, source })?;
            nodes.push((n.node, k));
        }
        MemberPath::from_secrets(w.leaf, self.occupancy.width(), nodes)
            .map_err(|source| MeetingError::Tree { epoch, source })
    }

    // ----- member: heartbeats -----

    /// A failover leader that hears a fresh heartbeat from the leader it deposed returns to the
    /// state it forked from and asks that leader for a resync: the fork dies.
    fn check_deposed_leader_alive<R: CryptoRng + ?Sized>(
        &mut self,
        signed: &SignedMessage,
        hb: &pb::Heartbeat,
        now: Duration,
        has_fork: bool,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !has_fork {
            return Ok(()); // leaders ignore heartbeats
        }
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        let Some(fork) = l.fork.as_ref() else {
            return Ok(());
        };
        if hb.leader_leaf != fork.leader_leaf {
            return Ok(());
        }
        fork.leader_identity
            .verify(labels::HEARTBEAT, &signed.content, &signed.signature)
            .map_err(|source| MeetingError::BadSignature {
                message: "heartbeat",
                from: format!("deposed leader (leaf {})", fork.leader_leaf),
                source,
            })?;
        let fresh = hb.epoch > fork.epoch || (hb.epoch == fork.epoch && hb.sequence > fork.hb_seq);
        if !fresh {
            return Err(MeetingError::StaleEpoch {
                message: "heartbeat of the deposed leader",
                epoch: hb.epoch,
                current: self.epoch,
            });
        }
        let Some(fork) = l.fork.take() else {
            return Ok(());
        };
        // The fork's keys are wrong for the branch we return to: drop them before resyncing.
        self.frames.clear();
        self.roster = fork.roster;
        self.occupancy = fork.occupancy;
        self.epoch = fork.epoch;
        self.transcript_hash = fork.transcript_hash;
        self.locked = fork.locked;
        self.leader_leaf = fork.leader_leaf;
        self.secrets = None;
        self.role = Role::Member(Box::new(MemberState {
            path: None,
            last_heartbeat: now,
            hb_seq: fork.hb_seq,
            prev_hb_hash: [0u8; 32],
            missed_reported: 0,
            suspected: BTreeSet::new(),
        }));
        let (pid, fp) = self.roster.describe(fork.leader_leaf);
        self.push_event(Event::LeaderChanged {
            participant_id: pid,
            fingerprint: fp,
        });
        self.resync_requested_for = None;
        self.request_resync_at(
            now,
            rng,
            "our failover raced a live leader; rejoining its view".into(),
        );
        Ok(())
    }

    fn on_heartbeat<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::HeartbeatBundle,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !matches!(self.phase, Phase::Active) {
            return Ok(());
        }
        let signed = bundle.heartbeat.as_ref().ok_or(MeetingError::Invalid {
            message: "heartbeat bundle",
            reason: "no heartbeat".into(),
        })?;
        let hb: pb::Heartbeat = wire::decode_content(MessageKind::Heartbeat, signed)?;
        wire::check_version("heartbeat", hb.version)?;
        wire::check_meeting("heartbeat", &hb.meeting_id, &self.meeting_id)?;
        if let Role::Leader(l) = &self.role {
            if hb.leader_leaf != self.own_leaf || hb.epoch > self.epoch {
                let has_fork = l.fork.is_some();
                let from_deposed = l
                    .fork
                    .as_ref()
                    .is_some_and(|f| f.leader_leaf == hb.leader_leaf);
                if has_fork && from_deposed {
                    return self.check_deposed_leader_alive(signed, &hb, now, true, rng);
                }
                // HB-2: a leader ignores other heartbeats.
                return Err(MeetingError::NotLeader {
                    message: "heartbeat",
                    epoch: hb.epoch,
                    signer: hb.leader_leaf,
                    leader: self.own_leaf,
                });
            }
            return Ok(());
        }
        if hb.leader_leaf != self.leader_leaf {
            return Err(MeetingError::NotLeader {
                message: "heartbeat",
                epoch: hb.epoch,
                signer: hb.leader_leaf,
                leader: self.leader_leaf,
            });
        }
        self.verify_member(self.leader_leaf, labels::HEARTBEAT, signed, "heartbeat")?;
        if hb.epoch < self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "heartbeat",
                epoch: hb.epoch,
                current: self.epoch,
            });
        }
        if hb.epoch > self.epoch {
            // Our leader is alive (its signature verified); we are behind.
            if let Role::Member(m) = &mut self.role {
                m.last_heartbeat = now;
                m.missed_reported = 0;
            }
            self.request_resync_at(
                now,
                rng,
                format!(
                    "the leader's heartbeat certifies epoch {} but we are at {}",
                    hb.epoch, self.epoch
                ),
            );
            return Ok(());
        }
        let th = wire::hash32("heartbeat", "transcript_hash", &hb.transcript_hash)?;
        if th != self.transcript_hash {
            return Err(MeetingError::TranscriptMismatch { epoch: hb.epoch });
        }
        let Role::Member(m) = &mut self.role else {
            return Ok(());
        };
        if hb.sequence <= m.hb_seq {
            return Err(MeetingError::ReplayedHeartbeat {
                epoch: hb.epoch,
                sequence: hb.sequence,
                last: m.hb_seq,
            });
        }
        let prev = wire::hash32("heartbeat", "prev_heartbeat_hash", &hb.prev_heartbeat_hash)?;
        if hb.sequence == 1 && prev != [0u8; 32] {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: "the first heartbeat of an epoch must have a zero previous hash".into(),
            });
        }
        if hb.sequence == m.hb_seq + 1 && m.hb_seq > 0 && prev != m.prev_hb_hash {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: format!(
                    "heartbeat {} does not chain to heartbeat {}",
                    hb.sequence, m.hb_seq
                ),
            });
        }
        // Liveness echo (ours, if delivered).
        let root = wire::hash32("heartbeat", "liveness_root", &hb.liveness_root)?;
        let mut entries = Vec::new();
        let mut our_echo = None;
        if bundle.echoes.len() > MAX_PARTICIPANTS || bundle.proof.len() > MAX_PROOF_HASHES {
            return Err(MeetingError::Invalid {
                message: "heartbeat bundle",
                reason: "too many echoes or proof hashes".into(),
            });
        }
        let mut prev_leaf: Option<u32> = None;
        for ie in &bundle.echoes {
            let e = ie.echo.as_ref().ok_or(MeetingError::Invalid {
                message: "heartbeat bundle",
                reason: "empty echo".into(),
            })?;
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(MeetingError::Invalid {
                    message: "heartbeat bundle",
                    reason: "echoes are not in ascending leaf order".into(),
                });
            }
            prev_leaf = Some(e.leaf);
            if e.nonce.len() != LIVENESS_NONCE_LEN {
                return Err(MeetingError::Invalid {
                    message: "heartbeat bundle",
                    reason: format!(
                        "echo for leaf {} has a {}-byte nonce",
                        e.leaf,
                        e.nonce.len()
                    ),
                });
            }
            entries.push((ie.index as usize, echo_leaf(e.leaf, &e.nonce)));
            if e.leaf == self.own_leaf {
                our_echo = Some(e.nonce.clone());
            }
        }
        let mut proof = Vec::with_capacity(bundle.proof.len());
        for p in &bundle.proof {
            proof.push(wire::hash32("heartbeat", "proof hash", p)?);
        }
        if hb.liveness_count as usize > MAX_PARTICIPANTS {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: format!("{} liveness echoes", hb.liveness_count),
            });
        }
        if hb.liveness_count == 0 && root != merkle::root(&[]) {
            return Err(MeetingError::RootMismatch {
                message: "heartbeat",
                epoch: hb.epoch,
            });
        }
        if !entries.is_empty() {
            let computed = merkle::compute_root(hb.liveness_count as usize, &entries, &proof)
                .map_err(|source| MeetingError::BadProof {
                    message: "heartbeat",
                    epoch: hb.epoch,
                    source,
                })?;
            if computed != root {
                return Err(MeetingError::RootMismatch {
                    message: "heartbeat",
                    epoch: hb.epoch,
                });
            }
        }
        // Key confirmation.
        let confirmation = wire::hash32("heartbeat", "confirmation", &hb.confirmation)?;
        let ours = self
            .secrets
            .as_ref()
            .filter(|s| s.epoch == hb.epoch)
            .map(|s| s.confirmation);
        let m_seq = hb.sequence;
        let hb_hash = crate::schedule::heartbeat_hash(&signed.content);
        m.hb_seq = m_seq;
        m.prev_hb_hash = hb_hash;
        m.last_heartbeat = now;
        m.missed_reported = 0;
        m.suspected.clear();
        if let Some(nonce) = our_echo
            && self
                .nonces
                .iter()
                .any(|(n, _)| n.as_slice() == nonce.as_slice())
        {
            self.last_echo = now;
            self.stale_reported = false;
        }
        match ours {
            Some(c) if bool::from(c.ct_eq(&confirmation)) => {
                self.send_now(hb.epoch);
                if now.saturating_sub(self.last_echo) < self.config.liveness_timeout {
                    self.resume_sending();
                }
                Ok(())
            }
            Some(_) => {
                self.secrets = None;
                self.frames.clear();
                if let Role::Member(m) = &mut self.role {
                    m.path = None;
                }
                self.request_resync_at(
                    now,
                    rng,
                    format!("key confirmation for epoch {} differs from ours", hb.epoch),
                );
                let _ = rng;
                Err(MeetingError::ConfirmationMismatch { epoch: hb.epoch })
            }
            None => {
                self.request_resync_at(now, rng, format!("no keys for epoch {}", hb.epoch));
                Ok(())
            }
        }
    }
}

/// One Welcome to seal and sign: the HPKE seal of a member's path keys (the one O(N) public-key
/// cost of a failover). Produced by [`Meeting::poll_seal_job`]; holds secret path keys (zeroized
/// on drop) and never prints them.
pub struct SealJob {
    recipient: String,
    suite: CipherSuite,
    public_key: Vec<u8>,
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    welcome: pb::Welcome,
    identity: Arc<IdentityKey>,
}

impl core::fmt::Debug for SealJob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealJob")
            .field("recipient", &self.recipient)
            .field("epoch", &self.welcome.epoch)
            .finish_non_exhaustive()
    }
}

impl SealJob {
    /// Who the Welcome is for.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// Seals, signs and encodes the Welcome, ready to send.
    pub fn run<R: CryptoRng + ?Sized>(self, rng: &mut R) -> Result<Transmit, MeetingError> {
        let mut welcome = self.welcome;
        let epoch = welcome.epoch;
        let info = welcome_info(&welcome.meeting_id, epoch, welcome.leaf);
        let (enc, ciphertext) = hpke::seal(
            self.suite,
            &self.public_key,
            &info,
            &welcome.transcript_hash,
            &self.plaintext,
            rng,
        )
        .map_err(|source| MeetingError::Crypto { epoch, source })?;
        welcome.enc = enc;
        welcome.ciphertext = ciphertext;
        let signed = wire::sign(&self.identity, labels::WELCOME, encode(&welcome));
        Ok(Transmit {
            destination: Destination::Participant(self.recipient),
            payload: wire::envelope(Body::Welcome(signed)),
        })
    }
}

/// The strongest suite (`CipherSuite::strength`) for which every announcement carries a key.
fn negotiate_suite<'a>(
    announcements: impl Iterator<Item = &'a ValidAnnouncement>,
) -> Option<CipherSuite> {
    let mut common: Vec<CipherSuite> = CipherSuite::ALL.to_vec();
    for a in announcements {
        common.retain(|s| a.hpke_key(*s).is_some());
    }
    common.into_iter().max_by_key(|s| s.strength())
}

/// `UpdateLeaf(u)` of `spec/key-schedule.md` section 10.
pub fn update_leaf(node: u32, child: u32, ciphertext: &[u8]) -> [u8; 32] {
    let mut c = Vec::with_capacity(12 + ciphertext.len());
    c.extend_from_slice(&node.to_be_bytes());
    c.extend_from_slice(&child.to_be_bytes());
    put_vec(&mut c, ciphertext);
    labeled_hash(labels::UPDATE_LEAF, &c)
}

/// `EchoLeaf(x)` of `spec/key-schedule.md` section 10.
pub fn echo_leaf(leaf: u32, nonce: &[u8]) -> [u8; 32] {
    let mut c = Vec::with_capacity(8 + nonce.len());
    c.extend_from_slice(&leaf.to_be_bytes());
    put_vec(&mut c, nonce);
    labeled_hash(labels::ECHO_LEAF, &c)
}

/// HPKE `info` of a Welcome seal.
pub fn welcome_info(meeting_id: &[u8], epoch: u64, leaf: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(16 + meeting_id.len());
    put_vec(&mut c, meeting_id);
    c.extend_from_slice(&epoch.to_be_bytes());
    c.extend_from_slice(&leaf.to_be_bytes());
    labeled_content(labels::WELCOME_SEAL, &c)
}

/// Slices a full commit bundle to what the member at `leaf` needs: its updates and a multiproof.
///
/// `wraps_for_leaf` is [`tree::Plan::wraps_for_leaf`] for the member; equivalently, every update
/// whose `child` is the member's leaf node or on its direct path in the commit's `leaf_count`.
/// Relays use this to send each member about 1 KB per leave at N = 1,000.
pub fn commit_bundle_for_leaf(
    bundle: &pb::CommitBundle,
    wraps_for_leaf: &[(u32, u32)],
) -> pb::CommitBundle {
    let leaves: Vec<[u8; 32]> = bundle
        .updates
        .iter()
        .filter_map(|iu| iu.update.as_ref())
        .map(|u| update_leaf(u.node, u.child, &u.ciphertext))
        .collect();
    let mut picked = Vec::new();
    let mut idx = Vec::new();
    for iu in &bundle.updates {
        if let Some(u) = &iu.update
            && wraps_for_leaf.contains(&(u.node, u.child))
        {
            picked.push(iu.clone());
            idx.push(iu.index as usize);
        }
    }
    let proof = merkle::prove(&leaves, &idx).unwrap_or_default();
    pb::CommitBundle {
        commit: bundle.commit.clone(),
        updates: picked,
        proof: proof.into_iter().map(|h| h.to_vec()).collect(),
    }
}
