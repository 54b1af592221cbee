//! The application's actions (`spec/state-machine.md` section 3.1): remove, lock, rotate,
//! hand over, leave.

use super::state::{Phase, Role};
use super::{Destination, Event, JoinRefusal, Meeting, MeetingError, RemovalReason, wire};
use crate::CipherSuite;
use crate::schedule::labels;
use conclave_protocol::encode;
use conclave_protocol::limits::PROTOCOL_VERSION;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;
use std::time::Duration;

impl Meeting {
    /// Leader: removes a participant in the next commit. The removal is durable (ANN-11): the
    /// identity is refused, locked or not, until [`Meeting::admit`] lifts it. An id that is not
    /// present but pinned (it left) is refused the same way, without a commit.
    pub fn remove(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        let _span = self.span().entered();
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
        let _span = self.span().entered();
        let delay = self.config.commit_delay;
        let l = self.leader_mut("lock the meeting")?;
        l.lock_pending = Some(locked);
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Leader: refreshes every key of the tree in the next commit.
    pub fn rotate(&mut self, now: Duration) -> Result<(), MeetingError> {
        let _span = self.span().entered();
        let delay = self.config.commit_delay;
        let l = self.leader_mut("rotate keys")?;
        l.rotate_pending = true;
        l.commit_due.get_or_insert(now + delay);
        Ok(())
    }

    /// Leader: hands leadership to `participant_id`, which then rebuilds the tree.
    pub fn hand_over(&mut self, participant_id: &str, now: Duration) -> Result<(), MeetingError> {
        let _span = self.span().entered();
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
        let _span = self.span().entered();
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
            transcript_hash: self.transcript_hash.to_vec(),
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
    pub(super) fn refuse_suite(
        &mut self,
        suite: CipherSuite,
        _now: Duration,
    ) -> Result<(), MeetingError> {
        self.push_event(Event::SuiteRefused { suite: suite.id() });
        let leave = pb::Leave {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            leaf: self.own_leaf,
            voted: matches!(&self.role, Role::Member(m) if !m.voted_out.is_empty()),
            transcript_hash: self.transcript_hash.to_vec(),
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
}
