//! Leader inputs from members (`spec/state-machine.md` section 8: Leave LEA-1, ResyncRequest
//! RSQ-1..3, LivenessNonce LIV-1) and the member timeout of section 11.

use super::config::{MEMBER_TIMEOUT_INTERVALS, PROBE_ANSWER_GAP};
use super::state::Role;
use super::{Destination, Meeting, MeetingError, RemovalReason, wire};
use crate::schedule::labels;
use conclave_protocol::MessageKind;
use conclave_protocol::limits::MAX_PARTICIPANTS;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::SignedMessage;
use rand_core::CryptoRng;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// A message from a present member, checked against our state: its leaf, admission epoch and
/// what it asks of us. Built by the `stage_*` functions (`&self`), applied by the `merge_*` ones.
struct Staged<T> {
    leaf: u32,
    admitted: u64,
    what: T,
}

/// LEA-3: the member leaves; `acknowledges` when the Leave counts for STB-1.
struct LeaveMsg {
    acknowledges: bool,
}

/// LIV-1: the member's newest nonce; `ack` when it acknowledges our exact epoch state (STB-1);
/// `probe` when it asks for a heartbeat (VOTE-0).
struct NonceMsg {
    nonce: [u8; 24],
    ack: Option<u64>,
    probe: bool,
}

/// RSQ-1: the member's newest nonce and the epoch of the secrets it holds.
struct ResyncMsg {
    nonce: [u8; 24],
    have_epoch: u64,
}

impl Meeting {
    /// Section 8: a Leave at the leader.
    pub(super) fn on_leave(
        &mut self,
        signed: SignedMessage,
        now: Duration,
    ) -> Result<(), MeetingError> {
        if let Some(staged) = self.stage_leave(&signed)? {
            self.merge_leave(staged, now);
        }
        Ok(())
    }

    /// LEA-1, LEA-2 without changing state; `None` when it is not for us or ours.
    fn stage_leave(
        &self,
        signed: &SignedMessage,
    ) -> Result<Option<Staged<LeaveMsg>>, MeetingError> {
        if !self.is_leader() {
            return Ok(None);
        }
        let leave: pb::Leave = wire::decode_content(MessageKind::Leave, signed)?;
        wire::check_version("leave", leave.version)?;
        wire::check_meeting("leave", &leave.meeting_id, &self.meeting_id)?;
        let th = wire::hash32("leave", "transcript_hash", &leave.transcript_hash)?;
        let admitted = self.verify_member(leave.leaf, labels::LEAVE, signed, "leave")?;
        // LEA-1: a Leave from an earlier membership of the same identity is a replay.
        if leave.epoch < admitted || leave.epoch > self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "leave",
                epoch: leave.epoch,
                current: self.epoch,
            });
        }
        if leave.leaf == self.own_leaf {
            return Ok(None); // LEA-2
        }
        // STB-1: a member that leaves without having voted in its epoch never votes again: its
        // Leave acknowledges our epoch and every later one, but only if it names our exact epoch
        // state (a Leave from another branch's epoch of the same number acknowledges nothing).
        let same_state = leave.epoch == self.epoch && bool::from(th.ct_eq(&self.transcript_hash));
        let stability_epoch = match &self.role {
            Role::Leader(l) => l.stability.epoch,
            Role::Member(_) => 0,
        };
        Ok(Some(Staged {
            leaf: leave.leaf,
            admitted,
            what: LeaveMsg {
                acknowledges: !leave.voted && same_state && leave.epoch == stability_epoch,
            },
        }))
    }

    /// LEA-3: queue the removal; count the acknowledgement (STB-1).
    fn merge_leave(&mut self, staged: Staged<LeaveMsg>, now: Duration) {
        let delay = self.config.commit_delay;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.pending_removes.insert(staged.leaf, RemovalReason::Left);
        l.commit_due.get_or_insert(now + delay);
        if staged.what.acknowledges {
            l.left.insert((staged.leaf, staged.admitted));
            l.stability
                .ack(staged.leaf, staged.admitted, l.stability.epoch);
        }
    }

    /// LIV-1, and R1/STB-1: a liveness nonce is also the member's acknowledgement of its epoch;
    /// a member that the current epoch's commit removed may still acknowledge it.
    pub(super) fn on_liveness<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let Some(staged) = self.stage_liveness(&signed)? else {
            return Ok(());
        };
        if let Some(m) = self.roster.members.get_mut(&staged.leaf) {
            m.newest_nonce = staged.what.nonce;
        }
        self.mark_seen(staged.leaf, now);
        if staged.what.probe {
            self.answer_probe(now)?;
        }
        match staged.what.ack {
            Some(epoch) => self.record_ack(staged.leaf, staged.admitted, epoch, now, rng),
            None => Ok(()),
        }
    }

    /// LIV-1 without changing state; `None` when we do not lead.
    fn stage_liveness(
        &self,
        signed: &SignedMessage,
    ) -> Result<Option<Staged<NonceMsg>>, MeetingError> {
        if !self.is_leader() {
            return Ok(None);
        }
        let msg: pb::LivenessNonce = wire::decode_content(MessageKind::LivenessNonce, signed)?;
        wire::check_version("liveness nonce", msg.version)?;
        wire::check_meeting("liveness nonce", &msg.meeting_id, &self.meeting_id)?;
        let nonce = wire::nonce24("liveness nonce", &msg.nonce)?;
        let th = wire::hash32("liveness nonce", "transcript_hash", &msg.transcript_hash)?;
        // STB-1: only an acknowledgement of our exact epoch state counts.
        let same_state = msg.epoch == self.epoch && bool::from(th.ct_eq(&self.transcript_hash));
        let admitted = self.verify_member(msg.leaf, labels::LIVENESS, signed, "liveness nonce")?;
        if msg.epoch < admitted || msg.epoch > self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "liveness nonce",
                epoch: msg.epoch,
                current: self.epoch,
            });
        }
        Ok(Some(Staged {
            leaf: msg.leaf,
            admitted,
            what: NonceMsg {
                nonce,
                ack: same_state.then_some(msg.epoch),
                probe: msg.probe,
            },
        }))
    }

    /// STB-1: counts an acknowledgement; if it makes our epoch stable and a commit is due,
    /// makes the commit now (STB-2).
    pub(super) fn record_ack<R: CryptoRng + ?Sized>(
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

    /// RSQ-1 to RSQ-3: a resync request at the leader.
    pub(super) fn on_resync_request<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let Some(staged) = self.stage_resync(&signed)? else {
            return Ok(());
        };
        let (leaf, nonce) = (staged.leaf, staged.what.nonce);
        if let Some(m) = self.roster.members.get_mut(&leaf) {
            m.newest_nonce = nonce;
        }
        self.mark_seen(leaf, now);
        if !self.answer_allowed(leaf, now) {
            return Ok(());
        }
        // FO-5: a member still at the epoch our failover built on gets the failover commit
        // (which it can verify) before the Welcome (which it then accepts from its new leader).
        if let Role::Leader(l) = &self.role
            && let Some((parent, bundle)) = &l.failover_bundle
            && staged.what.have_epoch == *parent
        {
            let bundle = bundle.clone();
            let to = self.roster.id_of(leaf);
            self.push_transmit(Destination::Participant(to), bundle);
        }
        let welcome = self.make_welcome(leaf, nonce, true, rng)?;
        let to = self.roster.id_of(leaf);
        self.push_transmit(Destination::Participant(to), welcome);
        Ok(())
    }

    /// RSQ-1 without changing state; `None` when we do not lead.
    fn stage_resync(
        &self,
        signed: &SignedMessage,
    ) -> Result<Option<Staged<ResyncMsg>>, MeetingError> {
        if !self.is_leader() {
            return Ok(None);
        }
        let req: pb::ResyncRequest = wire::decode_content(MessageKind::ResyncRequest, signed)?;
        wire::check_version("resync request", req.version)?;
        wire::check_meeting("resync request", &req.meeting_id, &self.meeting_id)?;
        let nonce = wire::nonce24("resync request", &req.liveness_nonce)?;
        let admitted =
            self.verify_member(req.leaf, labels::RESYNC_REQUEST, signed, "resync request")?;
        Ok(Some(Staged {
            leaf: req.leaf,
            admitted,
            what: ResyncMsg {
                nonce,
                have_epoch: req.have_epoch,
            },
        }))
    }

    /// RSQ-3: at most one Welcome on request per member per heartbeat interval: replayed
    /// requests cannot make the leader seal and sign without bound.
    pub(super) fn answer_allowed(&mut self, leaf: u32, now: Duration) -> bool {
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

    pub(super) fn mark_seen(&mut self, leaf: u32, now: Duration) {
        if let Role::Leader(l) = &mut self.role {
            l.last_seen.insert(leaf, now);
        }
    }

    /// Leader: removes members from which nothing verified arrived for
    /// `MEMBER_TIMEOUT_INTERVALS` heartbeat intervals.
    pub(super) fn expire_silent_members(&mut self, now: Duration) {
        let timeout = self.config.heartbeat_interval * MEMBER_TIMEOUT_INTERVALS;
        let delay = self.config.commit_delay;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let silent: Vec<u32> = l
            .last_seen
            .iter()
            .filter(|(leaf, seen)| {
                now.saturating_sub(**seen) >= timeout && !l.pending_removes.contains_key(leaf)
            })
            .map(|(leaf, _)| *leaf)
            .collect();
        for leaf in silent {
            l.pending_removes.insert(leaf, RemovalReason::TimedOut);
            l.commit_due.get_or_insert(now + delay);
        }
    }

    /// VOTE-0: a member was told our connection closed. We answer with a heartbeat (which every
    /// member accepts as a sign of life) at once, or `PROBE_ANSWER_GAP` after our previous one:
    /// replayed probes cost at most one signature per gap.
    fn answer_probe(&mut self, now: Duration) -> Result<(), MeetingError> {
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        let earliest = l
            .last_heartbeat_sent
            .map_or(now, |t| t.saturating_add(PROBE_ANSWER_GAP).max(now));
        l.next_heartbeat = l.next_heartbeat.min(earliest);
        if l.next_heartbeat <= now {
            return self.leader_heartbeat(now);
        }
        Ok(())
    }
}
