//! The meeting engine: a sans-IO state machine for the whole meeting lifecycle
//! (`spec/state-machine.md`).
//!
//! Inputs are [`Meeting::handle_message`] (bytes from the relay), [`Meeting::handle_timeout`]
//! (the caller's clock) and the actions ([`Meeting::remove`], [`Meeting::lock`],
//! [`Meeting::rotate`], [`Meeting::leave`]). Outputs are polled: [`Meeting::poll_transmit`] for
//! bytes to send, [`Meeting::poll_event`] for what happened, [`Meeting::poll_timeout`] for when to
//! call `handle_timeout` next. Time is a [`Duration`] since any origin the caller chooses (it
//! must not go backwards); randomness is the caller's [`CryptoRng`].

mod admission;
mod error;
mod pins;
mod quorum;
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

pub use admission::{
    AdmissionPolicy, JOIN_REQUEST_TIMEOUT, JoinRefusal, MAX_JOIN_REQUEST_BYTES, MAX_JOIN_REQUESTS,
    REJOIN_FRESHNESS_HEARTBEATS,
};
pub use error::MeetingError;
pub use pins::{MAX_PINNED_IDENTITIES, MAX_REMOVED_IDENTITIES, PinTable};
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
/// Most commits buffered ahead of a gap; also the window: a commit more than this many epochs
/// ahead of the current one is not buffered (COM-5).
pub const MAX_PENDING_COMMITS: usize = 8;
/// Most bytes of buffered commits (encoded, as received) a participant keeps (COM-2, COM-5).
pub const MAX_PENDING_COMMIT_BYTES: usize = 8 * 1024 * 1024;
/// Heartbeat intervals a leader waits for its newest epoch to become stable (STB-3) before it
/// concludes that it lost the majority and ends.
pub const STABILITY_TIMEOUT_INTERVALS: u32 = 6;
/// Most announcements a leader queues for its next commit.
pub const MAX_PENDING_ANNOUNCEMENTS: usize = 256;
/// Most Welcomes buffered while their commit is missing.
pub const MAX_PENDING_WELCOMES: usize = 2;
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
    /// Who the leader admits (`spec/state-machine.md` ANN-12): automatically, on the
    /// application's decision ([`Event::JoinRequested`], [`Meeting::admit`]), or an allow-list.
    pub admission: AdmissionPolicy,
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
            admission: AdmissionPolicy::Automatic,
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

#[derive(Debug, Clone)]
enum Phase {
    Joining,
    Active,
    Ended,
}

#[derive(Clone)]
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
    /// STB-1: whether our current epoch is acknowledged by a majority of the previous roster.
    stability: quorum::Stability,
    /// After a failover: the epoch it built on and our failover commit (an encoded envelope),
    /// re-sent to members that resync from that epoch (FO-5).
    failover_bundle: Option<(u64, Vec<u8>)>,
    /// Members (leaf, admitted epoch) whose Leave, sent without having voted, counts as their
    /// acknowledgement of every later epoch (STB-1).
    left: BTreeSet<(u32, u64)>,
    /// The votes that elected us, for our failover commit (FO-2); empty otherwise.
    pending_votes: Vec<SignedMessage>,
    /// The failed leader's heartbeat certifying the epoch we fail over from (FO-2), if we hold
    /// one.
    pending_stable_proof: Option<SignedMessage>,
    /// When each member last sent us a verified message.
    last_seen: BTreeMap<u32, Duration>,
    /// When we last sent each member a Welcome on request (rate limit).
    last_answer: BTreeMap<u32, Duration>,
}

impl LeaderState {
    /// A leader with no queued changes whose current epoch's stability is `stability`.
    fn new(
        tree: Option<LeaderTree>,
        config: &MeetingConfig,
        now: Duration,
        stability: quorum::Stability,
    ) -> Self {
        let rebuild_pending = tree.is_none();
        LeaderState {
            tree,
            pending_adds: Vec::new(),
            pending_removes: BTreeMap::new(),
            commit_due: rebuild_pending.then_some(now),
            rotate_pending: false,
            lock_pending: None,
            handover_to: None,
            rebuild_pending,
            hb_seq: 0,
            prev_hb_hash: [0u8; 32],
            next_heartbeat: now,
            next_rotation: config.rotation_interval.map(|r| now + r),
            stability,
            failover_bundle: None,
            left: BTreeSet::new(),
            pending_votes: Vec::new(),
            pending_stable_proof: None,
            last_seen: BTreeMap::new(),
            last_answer: BTreeMap::new(),
        }
    }
}

#[derive(Clone)]
struct MemberState {
    path: Option<MemberPath>,
    last_heartbeat: Duration,
    hb_seq: u64,
    prev_hb_hash: [u8; 32],
    missed_reported: u32,
    suspected: BTreeSet<u32>,
    /// VOTE-2: leaves we voted out in this epoch; we accept nothing they sign any more.
    voted_out: BTreeSet<u32>,
    /// VOTE-1: the votes we collected as the failover candidate.
    ballot: Option<quorum::Ballot>,
    /// FO-2: our leader's newest heartbeat certifying our current epoch as stable.
    stable_proof: Option<SignedMessage>,
    /// HO-1: after handing over, the handover commit (epoch, encoded envelope) re-sent every
    /// interval until the new leader's rebuild arrives.
    handover_resend: Option<(u64, Vec<u8>)>,
    /// HO-1: we left after handing over: our Leave (re-sent with the handover commit) and
    /// when we stop waiting for the new leader's rebuild.
    leaving: Option<(Vec<u8>, Duration)>,
}

impl MemberState {
    /// A member whose watchdog starts at `now`.
    fn new(path: Option<MemberPath>, now: Duration) -> Self {
        MemberState {
            path,
            last_heartbeat: now,
            hb_seq: 0,
            prev_hb_hash: [0u8; 32],
            missed_reported: 0,
            suspected: BTreeSet::new(),
            voted_out: BTreeSet::new(),
            ballot: None,
            stable_proof: None,
            handover_resend: None,
            leaving: None,
        }
    }
}

#[derive(Clone)]
enum Role {
    Leader(Box<LeaderState>),
    Member(Box<MemberState>),
}

/// One participant's view of one meeting.
#[derive(Clone)]
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
    admission::check_policy(&config.admission)?;
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
                if l.stability.is_stable() {
                    if let Some(d) = l.commit_due {
                        t.push(d);
                    }
                } else {
                    let limit = self.config.heartbeat_interval * STABILITY_TIMEOUT_INTERVALS;
                    t.push(l.stability.since + limit);
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

    /// Leader: removes a participant in the next commit. The removal is durable (ANN-11): the
    /// identity is refused, locked or not, until [`Meeting::admit`] lifts it. An id that is not
    /// present but pinned (it left) is refused the same way, without a commit.
    pub fn remove(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        self.leader_mut("remove participants")?;
        let Some(leaf) = self.roster.leaf_of(participant_id) else {
            let identity = self
                .admission
                .pins
                .pinned(participant_id)
                .cloned()
                .ok_or_else(|| MeetingError::UnknownParticipant(participant_id.to_string()))?;
            self.admission
                .pins
                .refuse(participant_id, &identity, JoinRefusal::Removed);
            return Ok(());
        };
        if leaf == self.own_leaf {
            return Err(MeetingError::Invalid {
                message: "remove",
                reason: "the leader cannot remove itself; use leave".into(),
            });
        }
        if let Some(m) = self.roster.get(leaf) {
            let identity = m.announcement.identity.clone();
            self.admission
                .pins
                .refuse(participant_id, &identity, JoinRefusal::Removed);
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
        let mut handed_over = false;
        if let Role::Leader(l) = &mut self.role
            && l.stability.is_stable()
            && let Some(succ) = self.roster.successor(&[self.own_leaf])
        {
            // Section 12.2 (STB-2: only from a stable epoch; otherwise the members fail over).
            l.handover_to = Some(succ);
            self.leader_commit(now, rng)?;
            handed_over = true;
        }
        let voted = matches!(&self.role, Role::Member(m) if !m.voted_out.is_empty());
        let leave = pb::Leave {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            leaf: self.own_leaf,
            voted,
        };
        let signed = wire::sign(&self.identity, labels::LEAVE, encode(&leave));
        let envelope = wire::envelope(Body::Leave(signed));
        self.push_transmit(Destination::Leader, envelope.clone());
        if handed_over && let Role::Member(m) = &mut self.role {
            // HO-1: stay until the new leader's rebuild removes us, re-sending the handover
            // commit and our Leave every interval, for at most the heartbeat limit.
            let limit = self.config.heartbeat_interval * self.config.missed_heartbeats_limit;
            m.leaving = Some((envelope, now + limit));
            self.pause_sending("leaving: handing over to the next leader");
            return Ok(());
        }
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
            voted: matches!(&self.role, Role::Member(m) if !m.voted_out.is_empty()),
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
                    // No Welcome yet: announce again (with the newest heartbeat heard, ANN-10;
                    // the leader resends the Welcome if it already admitted us).
                    self.join_sent_at = now;
                    let signed = self.announcement_to_send()?;
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
        let mut lost_quorum = false;
        let mut left = false;
        let mut resend: Option<Vec<Vec<u8>>> = None;
        let leader_id = self.roster.id_of(self.leader_leaf);
        match &mut self.role {
            Role::Leader(l) => {
                if let Some(r) = l.next_rotation
                    && now >= r
                {
                    l.rotate_pending = true;
                    l.next_rotation = None; // re-armed by the rotating commit
                    l.commit_due.get_or_insert(now);
                }
                // STB-2: a commit waits until our current epoch is stable.
                let stable = l.stability.is_stable();
                if stable && l.commit_due.is_some_and(|d| now >= d) {
                    commit_now = true;
                }
                // STB-3: a leader whose epoch stays unstable has lost the majority.
                let limit = interval * STABILITY_TIMEOUT_INTERVALS;
                if !stable && now.saturating_sub(l.stability.since) >= limit {
                    lost_quorum = true;
                }
                if now >= l.next_heartbeat {
                    heartbeat_now = true;
                }
            }
            Role::Member(m) => {
                // HO-1: re-send our handover commit until the new leader's rebuild arrives.
                if let Some((e, bytes)) = &m.handover_resend {
                    if self.epoch > *e {
                        m.handover_resend = None;
                    } else if now.saturating_sub(m.last_heartbeat) >= interval {
                        let mut out = vec![bytes.clone()];
                        out.extend(m.leaving.as_ref().map(|(l, _)| l.clone()));
                        resend = Some(out);
                    }
                }
                if let Some((_, until)) = &m.leaving
                    && (m.handover_resend.is_none() || now >= *until)
                {
                    left = true;
                }
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
        if lost_quorum {
            self.end(RemovalReason::TimedOut);
            return Ok(());
        }
        if let Some(out) = resend {
            for bytes in out {
                self.push_transmit(Destination::All, bytes);
            }
        }
        if left {
            self.end(RemovalReason::Left);
            return Ok(());
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

    /// RSQ-3: at most one Welcome on request per member per heartbeat interval: replayed
    /// requests cannot make the leader seal and sign without bound.
    fn answer_allowed(&mut self, leaf: u32, now: Duration) -> bool {
        let gap = self.config.heartbeat_interval;
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
            transcript_hash: self.transcript_hash.to_vec(),
        };
        let signed = wire::sign(&self.identity, labels::LIVENESS, encode(&msg));
        self.push_transmit(Destination::Leader, wire::envelope(Body::Liveness(signed)));
    }

    /// Section 12.3 at each watchdog interval past the limit: suspect the leader (and, every
    /// further limit, the next successor); pre-vote for the successor (VOTE-1), or collect
    /// votes if we are it. Also ask for a resync, which a leader elected without us answers
    /// with its failover commit (FO-5).
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
        let Some(candidate) = self.roster.successor(&exclude) else {
            return Ok(());
        };
        let Some(failed) = quorum::failed_set(&self.roster, self.leader_leaf, candidate) else {
            return Ok(());
        };
        if candidate == self.own_leaf {
            let fresh = m
                .ballot
                .as_ref()
                .is_none_or(|b| b.epoch != self.epoch || b.transcript_hash != self.transcript_hash);
            if fresh {
                m.ballot = Some(quorum::Ballot::new(
                    self.epoch,
                    self.transcript_hash,
                    failed,
                ));
            }
            return self.advance_ballot(now, rng);
        }
        let vote = self.sign_vote(self.own_leaf, candidate, &failed, false);
        self.push_transmit(
            Destination::Participant(self.roster.id_of(candidate)),
            wire::envelope(Body::FailoverVote(vote)),
        );
        self.resync_requested_for = None;
        self.request_resync_at(now, rng, "the leader's heartbeats stopped".into());
        Ok(())
    }

    /// Signs a vote, pre-vote or call for a failover from our current epoch (VOTE-1).
    fn sign_vote(
        &self,
        voter: u32,
        candidate: u32,
        failed: &[u32],
        binding: bool,
    ) -> SignedMessage {
        quorum::sign_vote(
            &self.identity,
            &quorum::VoteFields {
                meeting_id: &self.meeting_id,
                epoch: self.epoch,
                transcript_hash: &self.transcript_hash,
                voter,
                candidate,
                failed,
                binding,
            },
        )
    }

    /// Whether our watchdog currently reports the leader silent for the limit (section 11).
    fn leader_silent(&self) -> bool {
        match &self.role {
            Role::Member(m) => m.missed_reported >= self.config.missed_heartbeats_limit,
            Role::Leader(_) => false,
        }
    }

    /// VOTE-1: a pre-vote or binding vote for us joins our ballot; a candidate's call for
    /// binding votes gets ours if we still stand by our pre-vote. A vote for another epoch,
    /// transcript or candidate changes nothing.
    fn on_failover_vote<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !matches!(self.phase, Phase::Active) || self.is_leader() {
            return Ok(());
        }
        let v = quorum::read_vote(&signed, &self.meeting_id, self.epoch, &self.transcript_hash)?;
        if v.voter == v.candidate && v.candidate != self.own_leaf {
            return self.on_failover_call(&signed, v, now);
        }
        if v.candidate != self.own_leaf {
            return Ok(()); // not for us (a relay may deliver anything anywhere)
        }
        let failed = quorum::failed_set(&self.roster, self.leader_leaf, self.own_leaf).ok_or(
            MeetingError::Unexpected {
                message: "failover vote",
                reason: "we cannot be a failover candidate",
            },
        )?;
        if v.failed != failed || v.voter == self.own_leaf || failed.contains(&v.voter) {
            return Err(MeetingError::Invalid {
                message: "failover vote",
                reason: format!("the vote of leaf {} names other failed leaves", v.voter),
            });
        }
        self.verify_member(v.voter, labels::FAILOVER_VOTE, &signed, "failover vote")?;
        let (epoch, th) = (self.epoch, self.transcript_hash);
        let Role::Member(m) = &mut self.role else {
            return Ok(());
        };
        let ballot = m
            .ballot
            .get_or_insert_with(|| quorum::Ballot::new(epoch, th, failed.clone()));
        if ballot.epoch != epoch || ballot.transcript_hash != th {
            *ballot = quorum::Ballot::new(epoch, th, failed);
        }
        ballot.pre_votes.insert(v.voter);
        if v.binding {
            ballot.votes.insert(v.voter, signed);
        } else if !ballot.votes.contains_key(&v.voter) {
            // Still only a pre-vote: our call (or its answer) was lost; call again.
            ballot.called.remove(&v.voter);
        }
        self.advance_ballot(now, rng)
    }

    /// VOTE-2 at a voter: the candidate we pre-voted for calls for binding votes. We vote if
    /// we still do not hear our leader and the call is for exactly our pre-vote; from then on we
    /// accept nothing the failed leaves sign.
    fn on_failover_call(
        &mut self,
        signed: &SignedMessage,
        v: quorum::VoteContent,
        now: Duration,
    ) -> Result<(), MeetingError> {
        let _ = now;
        if !v.binding || !self.leader_silent() {
            return Ok(());
        }
        let expected = quorum::failed_set(&self.roster, self.leader_leaf, v.candidate);
        if expected.as_deref() != Some(v.failed.as_slice()) {
            return Ok(());
        }
        self.verify_member(v.candidate, labels::FAILOVER_VOTE, signed, "failover call")?;
        let vote = self.sign_vote(self.own_leaf, v.candidate, &v.failed, true);
        if let Role::Member(m) = &mut self.role {
            m.voted_out.extend(v.failed.iter().copied());
        }
        self.push_transmit(
            Destination::Participant(self.roster.id_of(v.candidate)),
            wire::envelope(Body::FailoverVote(vote)),
        );
        Ok(())
    }

    /// FO-2 at the candidate: once our pre-votes form a quorum, call those voters for binding
    /// votes; once the binding votes form a quorum, make the failover commit.
    fn advance_ballot<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let Role::Member(m) = &self.role else {
            return Ok(());
        };
        let Some(ballot) = m.ballot.as_ref() else {
            return Ok(());
        };
        if ballot.epoch != self.epoch {
            return Ok(());
        }
        // FO-2: a heartbeat certifying our epoch as stable replaces the previous roster's
        // majority.
        let proof = m.stable_proof.clone();
        let previous = if proof.is_some() {
            0
        } else {
            self.previous_roster_len
        };
        let quorum_of = |voters: &mut dyn Iterator<Item = u32>| {
            quorum::is_quorum(&self.roster, self.epoch, previous, self.own_leaf, voters)
        };
        if quorum_of(&mut ballot.votes.keys().copied()) {
            let failed = ballot.failed.clone();
            let votes: Vec<SignedMessage> = ballot.votes.values().cloned().collect();
            return self.become_failover_leader(&failed, votes, proof, now, rng);
        }
        if !quorum_of(&mut ballot.pre_votes.iter().copied()) {
            return Ok(());
        }
        let uncalled: Vec<u32> = ballot
            .pre_votes
            .iter()
            .filter(|v| !ballot.called.contains(v))
            .copied()
            .collect();
        if uncalled.is_empty() {
            return Ok(());
        }
        let call = self.sign_vote(self.own_leaf, self.own_leaf, &ballot.failed, true);
        let payload = wire::envelope(Body::FailoverVote(call));
        for leaf in &uncalled {
            let to = self.roster.id_of(*leaf);
            self.push_transmit(Destination::Participant(to), payload.clone());
        }
        if let Role::Member(m) = &mut self.role
            && let Some(b) = m.ballot.as_mut()
        {
            b.called.extend(uncalled);
        }
        Ok(())
    }

    fn become_failover_leader<R: CryptoRng + ?Sized>(
        &mut self,
        failed: &[u32],
        votes: Vec<SignedMessage>,
        stable_proof: Option<SignedMessage>,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let mut leader = LeaderState::new(
            None,
            &self.config,
            now,
            quorum::Stability::settled(self.epoch, now),
        );
        for &f in failed {
            if f != self.own_leaf && self.roster.members.contains_key(&f) {
                leader
                    .pending_removes
                    .insert(f, RemovalReason::LeaderFailed);
            }
        }
        leader.pending_votes = votes;
        leader.pending_stable_proof = stable_proof;
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
            // STB-1: a member that leaves without having voted in its epoch never votes again:
            // its Leave acknowledges our epoch and every later one.
            if !leave.voted && leave.epoch == l.stability.epoch {
                l.left.insert((leave.leaf, admitted));
                l.stability.ack(leave.leaf, admitted, l.stability.epoch);
            }
        }
        Ok(())
    }

    /// LIV-1, and R1/STB-1: a liveness nonce is also the member's acknowledgement of its epoch;
    /// a member that the current epoch's commit removed may still acknowledge it.
    fn on_liveness<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(());
        }
        let msg: pb::LivenessNonce = wire::decode_content(MessageKind::LivenessNonce, &signed)?;
        wire::check_version("liveness nonce", msg.version)?;
        wire::check_meeting("liveness nonce", &msg.meeting_id, &self.meeting_id)?;
        let nonce = wire::nonce24("liveness nonce", &msg.nonce)?;
        let th = wire::hash32("liveness nonce", "transcript_hash", &msg.transcript_hash)?;
        // STB-1: only an acknowledgement of our exact epoch state counts.
        let same_state = msg.epoch == self.epoch && bool::from(th.ct_eq(&self.transcript_hash));
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
        if !same_state {
            return Ok(());
        }
        self.record_ack(msg.leaf, admitted, msg.epoch, now, rng)
    }

    /// STB-1: counts an acknowledgement; if it makes our epoch stable and a commit is due,
    /// makes the commit now (STB-2).
    fn record_ack<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        admitted: u64,
        epoch: u64,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        if !l.stability.ack(leaf, admitted, epoch) {
            return Ok(());
        }
        if l.commit_due.is_some_and(|d| now >= d) {
            return self.leader_commit(now, rng);
        }
        // Certify the stable epoch at once (FO-2 lets a failover rely on it).
        self.leader_heartbeat(now)
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
        // FO-5: a member still at the epoch our failover built on gets the failover commit
        // (which it can verify) before the Welcome (which it then accepts from its new leader).
        if let Role::Leader(l) = &self.role
            && let Some((parent, bundle)) = &l.failover_bundle
            && req.have_epoch == *parent
        {
            let bundle = bundle.clone();
            let to = self.roster.id_of(req.leaf);
            self.push_transmit(Destination::Participant(to), bundle);
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
        let votes = std::mem::take(&mut l.pending_votes);
        let stable_proof = l.pending_stable_proof.take();
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
        // STB-4: a commit other than a failover removes at most floor(n / 2) of the n members;
        // the rest wait for the next commit (so the members it keeps can make it stable).
        if votes.is_empty() {
            let max = self.roster.members.len() / 2;
            for (leaf, reason) in removes.split_off(max.min(removes.len())) {
                l.pending_removes.insert(leaf, reason);
            }
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
            votes: if reason == CommitReason::Failover {
                votes
            } else {
                Vec::new()
            },
            stable_heartbeat: stable_proof.filter(|_| reason == CommitReason::Failover),
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
        let own_admitted = self
            .roster
            .get(self.own_leaf)
            .map(|m| m.admitted_epoch)
            .unwrap_or(0);
        let previous_members: BTreeSet<(u32, u64)> = self
            .roster
            .members
            .iter()
            .map(|(leaf, m)| (*leaf, m.admitted_epoch))
            .collect();
        self.apply_roster(&commit, &plan, &admitted, epoch, th)?;
        if suite != self.suite {
            self.suite = suite;
            self.push_event(Event::SuiteChanged {
                suite: suite.id(),
                post_quantum: suite.is_post_quantum(),
            });
        }
        let envelope = wire::envelope(Body::Commit(bundle));
        // STB-1: a majority of the previous epoch's members, among those this commit keeps.
        let previous = self.previous_roster_len;
        if let Role::Leader(l) = &mut self.role {
            l.hb_seq = 0;
            l.prev_hb_hash = [0u8; 32];
            l.next_heartbeat = now;
            if rotate || rebuild {
                l.next_rotation = self.config.rotation_interval.map(|r| now + r);
            }
            let mut stability = quorum::Stability::new(epoch, now, previous);
            stability.ack(self.own_leaf, own_admitted, epoch);
            // Kept members of the previous roster that left without voting acknowledge for
            // themselves; the others must answer.
            let kept: BTreeSet<(u32, u64)> = self
                .roster
                .members
                .iter()
                .map(|(leaf, m)| (*leaf, m.admitted_epoch))
                .filter(|k| previous_members.contains(k))
                .collect();
            l.left.retain(|k| kept.contains(k));
            for &(leaf, admitted) in &l.left {
                stability.ack(leaf, admitted, epoch);
            }
            l.stability = stability;
            if reason == CommitReason::Failover {
                l.failover_bundle = Some((epoch.saturating_sub(1), envelope.clone()));
            }
        }
        self.push_transmit(Destination::All, envelope.clone());
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
            let mut member = MemberState::new(path, now);
            member.handover_resend = Some((epoch, envelope));
            self.role = Role::Member(Box::new(member));
            // apply_roster already reported the LeaderChanged event for `to`.
            let _ = to;
            // R1: acknowledge the handover epoch to the new leader.
            self.post_nonce(now, rng);
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
                previous_roster_size: u32::try_from(self.previous_roster_len).unwrap_or(u32::MAX),
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
            stable: l.stability.epoch == self.epoch && l.stability.is_stable(),
        };
        let content = encode(&hb);
        l.prev_hb_hash = crate::schedule::heartbeat_hash(&content);
        self.admission
            .heartbeat_sent(l.prev_hb_hash, self.epoch, now); // ANN-10
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
        self.expire_join_requests(now);
        Ok(())
    }

    // ----- member: commits -----

    fn on_commit_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::CommitBundle,
        encoded: &[u8],
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
            self.buffer_commit(commit.epoch, encoded)?;
            return Ok(());
        }
        if matches!(self.role, Role::Leader(_)) {
            return self.leader_on_commit(&commit, now);
        }
        if commit.epoch <= self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "commit",
                epoch: commit.epoch,
                current: self.epoch,
            });
        }
        if commit.epoch > self.epoch.saturating_add(1) {
            // COM-5: buffered, unverified, inside the window. An unverifiable commit alone never
            // triggers a resync: a signed heartbeat of a later epoch does (HB-4).
            let expected = self.epoch.saturating_add(1);
            self.buffer_commit(commit.epoch, encoded)?;
            return Err(MeetingError::Gap {
                epoch: commit.epoch,
                expected,
            });
        }
        self.apply_commit(bundle, commit, now, rng)?;
        // HO-1: a leader that handed over to leave is done once the next leader commits.
        if let Role::Member(m) = &self.role
            && m.leaving.is_some()
            && !matches!(self.phase, Phase::Ended)
        {
            self.end(RemovalReason::Left);
            return Ok(());
        }
        self.drain_pending(now, rng);
        Ok(())
    }

    /// COM-3: a leader applies only its own commits and rejects every other one; the one
    /// exception is a failover commit that removes it and carries a quorum of votes from its
    /// own epoch (FO-2): a majority elected another leader, so it ends (FO-6).
    fn leader_on_commit(&mut self, commit: &pb::Commit, now: Duration) -> Result<(), MeetingError> {
        let _ = now;
        let deposes_us = commit.reason == CommitReason::Failover as i32
            && commit.epoch == self.epoch.saturating_add(1)
            && commit
                .removes
                .iter()
                .any(|r| r.leaf == self.own_leaf && r.reason == RemoveReason::LeaderFailed as i32);
        if deposes_us && self.verify_failover(commit).is_ok() {
            self.end(RemovalReason::LeaderFailed);
            return Ok(());
        }
        Err(MeetingError::Unexpected {
            message: "commit",
            reason: "the leader applies only its own commits",
        })
    }

    /// COM-2/COM-5: keeps an encoded commit envelope for later, bounded in count, bytes and
    /// epochs ahead; the earliest epochs are kept (they are needed first).
    fn buffer_commit(&mut self, epoch: u64, encoded: &[u8]) -> Result<(), MeetingError> {
        let full = |reason: String| MeetingError::Invalid {
            message: "commit",
            reason,
        };
        let window = u64::try_from(MAX_PENDING_COMMITS).unwrap_or(u64::MAX);
        if matches!(self.phase, Phase::Active) && epoch > self.epoch.saturating_add(window) {
            return Err(full(format!(
                "epoch {epoch} is more than {MAX_PENDING_COMMITS} epochs ahead of {}",
                self.epoch
            )));
        }
        if encoded.len() > MAX_PENDING_COMMIT_BYTES {
            return Err(full(format!("{} bytes is over the buffer", encoded.len())));
        }
        self.pending_commits.remove(&epoch);
        loop {
            let used: usize = self.pending_commits.values().map(Vec::len).sum();
            let over_bytes = used.saturating_add(encoded.len()) > MAX_PENDING_COMMIT_BYTES;
            let over_count = self.pending_commits.len() >= MAX_PENDING_COMMITS;
            if !over_bytes && !over_count {
                break;
            }
            match self.pending_commits.keys().next_back().copied() {
                Some(last) if last > epoch => {
                    self.pending_commits.remove(&last);
                }
                _ => {
                    return Err(full(format!(
                        "{MAX_PENDING_COMMITS} commits or {MAX_PENDING_COMMIT_BYTES} bytes already buffered"
                    )));
                }
            }
        }
        self.pending_commits.insert(epoch, encoded.to_vec());
        Ok(())
    }

    fn drain_pending<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) {
        loop {
            self.pending_commits.retain(|e, _| *e > self.epoch);
            let next = self.epoch.saturating_add(1);
            let Some(encoded) = self.pending_commits.remove(&next) else {
                break;
            };
            let Ok(Body::Commit(bundle)) = wire::decode_envelope(&encoded) else {
                continue;
            };
            let Some(signed) = bundle.commit.as_ref() else {
                continue;
            };
            let Ok(commit) = wire::decode_content::<pb::Commit>(MessageKind::Commit, signed) else {
                continue;
            };
            if matches!(self.phase, Phase::Ended) || self.is_leader() {
                break;
            }
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

    /// FO-1 to FO-4: checks a failover commit against our state (the failed set, the new
    /// leader, the votes and their quorum). Pure.
    fn verify_failover(&self, commit: &pb::Commit) -> Result<u32, MeetingError> {
        let failed: Vec<u32> = commit
            .removes
            .iter()
            .filter(|r| r.reason == RemoveReason::LeaderFailed as i32)
            .map(|r| r.leaf)
            .collect();
        let expected = quorum::failed_set(&self.roster, self.leader_leaf, commit.leader_leaf);
        if !commit.rebuild || expected.as_deref() != Some(failed.as_slice()) {
            return Err(MeetingError::BadRoster {
                epoch: commit.epoch,
                reason: "a failover commit must rebuild and remove exactly the leader and the \
                         members ranked before the new leader"
                    .into(),
            });
        }
        let previous = match &commit.stable_heartbeat {
            Some(hb) => {
                self.check_stable_proof(hb, commit.epoch)?;
                0
            }
            None => self.previous_roster_len,
        };
        quorum::verify_votes(
            &self.roster,
            &self.meeting_id,
            self.epoch,
            &self.transcript_hash,
            previous,
            commit.leader_leaf,
            &failed,
            &commit.votes,
        )?;
        Ok(commit.leader_leaf)
    }

    /// FO-2: a heartbeat of our leader for our epoch and transcript with `stable = true`. Pure.
    fn check_stable_proof(&self, signed: &SignedMessage, next: u64) -> Result<(), MeetingError> {
        let hb: pb::Heartbeat = wire::decode_content(MessageKind::Heartbeat, signed)?;
        let th = wire::hash32("stable heartbeat", "transcript_hash", &hb.transcript_hash)?;
        if hb.version != PROTOCOL_VERSION
            || hb.meeting_id != self.meeting_id
            || hb.epoch != self.epoch
            || hb.leader_leaf != self.leader_leaf
            || !hb.stable
            || !bool::from(th.ct_eq(&self.transcript_hash))
        {
            return Err(MeetingError::BadRoster {
                epoch: next,
                reason: "the failover's stability heartbeat is not our leader's for our epoch"
                    .into(),
            });
        }
        self.verify_member(
            self.leader_leaf,
            labels::HEARTBEAT,
            signed,
            "stable heartbeat",
        )?;
        Ok(())
    }

    /// Who may sign a commit for the next epoch: the leader, or on failover the candidate a
    /// quorum elected (FO-2). VOTE-2: never a leader we voted out.
    fn expected_signer(&self, commit: &pb::Commit) -> Result<u32, MeetingError> {
        let signer = if commit.reason == CommitReason::Failover as i32 {
            self.verify_failover(commit)?
        } else {
            if !commit.votes.is_empty() {
                return Err(MeetingError::BadRoster {
                    epoch: commit.epoch,
                    reason: "only a failover commit carries votes".into(),
                });
            }
            self.leader_leaf
        };
        if let Role::Member(m) = &self.role
            && m.voted_out.contains(&signer)
        {
            return Err(MeetingError::Unexpected {
                message: "commit",
                reason: "signed by a leader we voted out (VOTE-2)",
            });
        }
        Ok(signer)
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
        let signer = self.expected_signer(&commit)?;
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
        // R1: acknowledge the new epoch to the leader at once (it becomes stable, STB-1).
        if !self.is_leader() {
            self.post_nonce(now, rng);
        }
        if let Role::Member(m) = &mut self.role {
            m.hb_seq = 0;
            m.prev_hb_hash = [0u8; 32];
            m.last_heartbeat = now;
            m.missed_reported = 0;
            m.ballot = None;
            m.stable_proof = None;
            if self.leader_leaf != old_leader {
                m.suspected.clear();
                m.voted_out.clear();
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
            // Handed over to us: rebuild the tree in our first commit, once the handover epoch
            // is stable (STB-2).
            let mut stability = quorum::Stability::new(epoch, now, self.previous_roster_len);
            let own_admitted = self
                .roster
                .get(self.own_leaf)
                .map(|m| m.admitted_epoch)
                .unwrap_or(0);
            stability.ack(self.own_leaf, own_admitted, epoch);
            let leader = LeaderState::new(None, &self.config, now, stability);
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
        self.previous_roster_len = self.roster.members.len();
        for r in &commit.removes {
            if let Some(m) = self.roster.members.remove(&r.leaf) {
                let (pid, identity) = (&m.announcement.participant_id, &m.announcement.identity);
                self.admission.pins.depart(pid, epoch);
                if r.reason == RemoveReason::Removed as i32 {
                    self.admission
                        .pins
                        .refuse(pid, identity, JoinRefusal::Removed); // ANN-11
                }
                self.push_event(Event::ParticipantRemoved {
                    participant_id: m.announcement.participant_id,
                    reason: RemovalReason::from_wire(r.reason),
                });
            }
        }
        for (ann, leaf) in admitted.iter().zip(&plan.added_leaves) {
            self.admission
                .pins
                .admit(&ann.participant_id, &ann.identity, epoch);
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
        if let Role::Member(m) = &self.role
            && m.leaving.is_some()
        {
            return Ok(()); // HO-1: leaving; we take no new keys
        }
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
                // WEL-5.2: kept unverified (at most MAX_PENDING_WELCOMES, each within
                // MAX_ENVELOPE_SIZE) until its commit arrives; it causes nothing else.
                if w.epoch > self.epoch.saturating_add(1) {
                    return Err(MeetingError::Invalid {
                        message: "welcome",
                        reason: format!(
                            "epoch {} is not the next epoch {}",
                            w.epoch,
                            self.epoch.saturating_add(1)
                        ),
                    });
                }
                if self.pending_welcomes.len() >= MAX_PENDING_WELCOMES {
                    self.pending_welcomes.remove(0);
                }
                self.pending_welcomes.push(signed);
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
        if gi.roster.len() > MAX_PARTICIPANTS || gi.previous_roster_size as usize > MAX_PARTICIPANTS
        {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!(
                    "{} roster entries, {} previous",
                    gi.roster.len(),
                    gi.previous_roster_size
                ),
            });
        }
        let mut roster = Roster::default();
        let mut ids = BTreeSet::new();
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
            if !ids.insert(ann.participant_id.clone()) {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: format!("{} appears twice in the roster", ann.participant_id),
                });
            }
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
            // WEL-6.3: a resync comes only from our own leader (a leader elected without us
            // first sends us its failover commit, FO-5), and never from one we voted out.
            let same_key = self
                .roster
                .get(gi.leader_leaf)
                .is_some_and(|m| m.announcement.identity == leader.announcement.identity);
            if gi.leader_leaf != self.leader_leaf || !same_key {
                return Err(MeetingError::NotLeader {
                    message: "resync group info",
                    epoch: gi.epoch,
                    signer: gi.leader_leaf,
                    leader: self.leader_leaf,
                });
            }
            if let Role::Member(m) = &self.role
                && m.voted_out.contains(&gi.leader_leaf)
            {
                return Err(MeetingError::Unexpected {
                    message: "resync group info",
                    reason: "signed by a leader we voted out (VOTE-2)",
                });
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
            || (joining && !self.is_own_announcement(&me.announcement))
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
        self.admission
            .pins
            .sync_present(self.roster.members.values().map(|m| {
                let a = &m.announcement;
                (a.participant_id.as_str(), &a.identity, m.admitted_epoch)
            }));
        self.occupancy = occupancy;
        self.previous_roster_len = gi.previous_roster_size as usize;
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
            m.ballot = None;
            m.stable_proof = None;
        }
        self.install_secrets(now)?;
        // R1: acknowledge the epoch we now hold.
        self.post_nonce(now, rng);
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

    fn on_heartbeat<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::HeartbeatBundle,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if matches!(self.phase, Phase::Joining) {
            self.note_join_heartbeat(&bundle, now); // HB-1: only its hash, for the next announcement
            return Ok(());
        }
        let signed = bundle.heartbeat.as_ref().ok_or(MeetingError::Invalid {
            message: "heartbeat bundle",
            reason: "no heartbeat".into(),
        })?;
        let hb: pb::Heartbeat = wire::decode_content(MessageKind::Heartbeat, signed)?;
        wire::check_version("heartbeat", hb.version)?;
        wire::check_meeting("heartbeat", &hb.meeting_id, &self.meeting_id)?;
        if let Role::Leader(_) = &self.role {
            if hb.leader_leaf != self.own_leaf || hb.epoch > self.epoch {
                // HB-2: a leader ignores other heartbeats (branches never merge, 12.5).
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
        if let Role::Member(m) = &self.role
            && m.voted_out.contains(&hb.leader_leaf)
        {
            return Err(MeetingError::Unexpected {
                message: "heartbeat",
                reason: "signed by a leader we voted out (VOTE-2)",
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
            // HO-1: a leader that handed over to leave is done once the next leader has moved on.
            if let Role::Member(m) = &self.role
                && m.leaving.is_some()
            {
                self.end(RemovalReason::Left);
                return Ok(());
            }
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
        if hb.stable {
            m.stable_proof = Some(signed.clone());
        }
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
#[derive(Clone)]
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
