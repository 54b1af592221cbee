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

impl Meeting {
    pub(super) fn on_leave(
        &mut self,
        signed: SignedMessage,
        now: Duration,
    ) -> Result<(), MeetingError> {
        if !self.is_leader() {
            return Ok(());
        }
        let leave: pb::Leave = wire::decode_content(MessageKind::Leave, &signed)?;
        wire::check_version("leave", leave.version)?;
        wire::check_meeting("leave", &leave.meeting_id, &self.meeting_id)?;
        let th = wire::hash32("leave", "transcript_hash", &leave.transcript_hash)?;
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
        // STB-1: only a Leave of our exact epoch state acknowledges it (a Leave from another
        // branch's epoch of the same number must not make our epoch stable).
        let same_state = leave.epoch == self.epoch && bool::from(th.ct_eq(&self.transcript_hash));
        if let Role::Leader(l) = &mut self.role {
            l.pending_removes.insert(leave.leaf, RemovalReason::Left);
            l.commit_due.get_or_insert(now + delay);
            // STB-1: a member that leaves without having voted in its epoch never votes again:
            // its Leave acknowledges our epoch and every later one.
            if !leave.voted && same_state && leave.epoch == l.stability.epoch {
                l.left.insert((leave.leaf, admitted));
                l.stability.ack(leave.leaf, admitted, l.stability.epoch);
            }
        }
        Ok(())
    }

    /// LIV-1, and R1/STB-1: a liveness nonce is also the member's acknowledgement of its epoch;
    /// a member that the current epoch's commit removed may still acknowledge it.
    pub(super) fn on_liveness<R: CryptoRng + ?Sized>(
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
        if msg.probe {
            self.answer_probe(now)?;
        }
        if !same_state {
            return Ok(());
        }
        self.record_ack(msg.leaf, admitted, msg.epoch, now, rng)
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

    pub(super) fn on_resync_request<R: CryptoRng + ?Sized>(
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
            .map_or(now, |t| (t + PROBE_ANSWER_GAP).max(now));
        l.next_heartbeat = l.next_heartbeat.min(earliest);
        if l.next_heartbeat <= now {
            return self.leader_heartbeat(now);
        }
        Ok(())
    }
}
