//! Phases and roles (`spec/state-machine.md` section 2): the state only a leader or only a
//! member holds.

use super::wire::ValidAnnouncement;
use super::{MeetingConfig, RemovalReason, quorum};
use crate::tree::{LeaderTree, MemberPath};
use conclave_protocol::v1::SignedMessage;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(super) enum Phase {
    Joining,
    Active,
    Ended,
}

#[derive(Clone)]
pub(super) struct LeaderState {
    pub(super) tree: Option<LeaderTree>,
    pub(super) pending_adds: Vec<ValidAnnouncement>,
    pub(super) pending_removes: BTreeMap<u32, RemovalReason>,
    pub(super) commit_due: Option<Duration>,
    pub(super) rotate_pending: bool,
    pub(super) lock_pending: Option<bool>,
    pub(super) handover_to: Option<u32>,
    pub(super) rebuild_pending: bool,
    pub(super) hb_seq: u64,
    pub(super) prev_hb_hash: [u8; 32],
    pub(super) next_heartbeat: Duration,
    /// When we last sent a heartbeat (probes are answered at most every `PROBE_ANSWER_GAP`).
    pub(super) last_heartbeat_sent: Option<Duration>,
    pub(super) next_rotation: Option<Duration>,
    /// STB-1: whether our current epoch is acknowledged by a majority of the previous roster.
    pub(super) stability: quorum::Stability,
    /// After a failover (or a handover to us): the epoch it built on and our failover commit
    /// (the handover commit), an encoded envelope re-sent to members that resync from that
    /// epoch (FO-5, RSQ-2).
    pub(super) failover_bundle: Option<(u64, Vec<u8>)>,
    /// Members (leaf, admitted epoch) whose Leave, sent without having voted, counts as their
    /// acknowledgement of every later epoch (STB-1).
    pub(super) left: BTreeSet<(u32, u64)>,
    /// The votes that elected us, for our failover commit (FO-2); empty otherwise.
    pub(super) pending_votes: Vec<SignedMessage>,
    /// The failed leader's heartbeat certifying the epoch we fail over from (FO-2), if we hold
    /// one.
    pub(super) pending_stable_proof: Option<SignedMessage>,
    /// When each member last sent us a verified message.
    pub(super) last_seen: BTreeMap<u32, Duration>,
    /// When we last sent each member a Welcome on request (rate limit).
    pub(super) last_answer: BTreeMap<u32, Duration>,
}

impl LeaderState {
    /// A leader with no queued changes whose current epoch's stability is `stability`.
    pub(super) fn new(
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
            last_heartbeat_sent: None,
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
pub(super) struct MemberState {
    pub(super) path: Option<MemberPath>,
    pub(super) last_heartbeat: Duration,
    pub(super) hb_seq: u64,
    pub(super) prev_hb_hash: [u8; 32],
    pub(super) missed_reported: u32,
    pub(super) suspected: BTreeSet<u32>,
    /// VOTE-2: leaves we voted out in this epoch; we accept nothing they sign any more.
    pub(super) voted_out: BTreeSet<u32>,
    /// VOTE-1: the votes we collected as the failover candidate.
    pub(super) ballot: Option<quorum::Ballot>,
    /// FO-2: our leader's newest heartbeat certifying our current epoch as stable.
    pub(super) stable_proof: Option<SignedMessage>,
    /// HO-1: after handing over, the handover commit (epoch, encoded envelope) re-sent every
    /// interval until the new leader's rebuild arrives.
    pub(super) handover_resend: Option<(u64, Vec<u8>)>,
    /// HO-1: we left after handing over: our Leave (re-sent with the handover commit) and
    /// when we stop waiting for the new leader's rebuild.
    pub(super) leaving: Option<(Vec<u8>, Duration)>,
    /// HO-1: when the handover commit may be re-sent next.
    pub(super) resend_at: Duration,
    /// VOTE-0: the relay said the leader's connection closed; without a sign of life from the
    /// leader by then, we treat it as failed.
    pub(super) hint_confirm_at: Option<Duration>,
}

impl MemberState {
    /// A member whose watchdog starts at `now`.
    pub(super) fn new(path: Option<MemberPath>, now: Duration) -> Self {
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
            resend_at: Duration::ZERO,
            hint_confirm_at: None,
        }
    }

    /// Restarts the heartbeat watchdog and chain at `now` (a new epoch, or a Welcome).
    pub(super) fn reset_watchdog(&mut self, now: Duration) {
        self.hb_seq = 0;
        self.prev_hb_hash = [0u8; 32];
        self.last_heartbeat = now;
        self.missed_reported = 0;
        self.hint_confirm_at = None;
    }
}

#[derive(Clone)]
pub(super) enum Role {
    Leader(Box<LeaderState>),
    Member(Box<MemberState>),
}
