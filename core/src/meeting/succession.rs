//! Leader succession by quorum (`spec/state-machine.md` section 12.3: VOTE-0, VOTE-1, VOTE-2,
//! FO-1..FO-6).

use super::config::HINT_CONFIRM_TIMEOUT;
use super::state::{LeaderState, Phase, Role};
use super::{Destination, Event, Meeting, MeetingError, RemovalReason, quorum, wire};
use crate::schedule::labels;
use conclave_protocol::MessageKind;
use conclave_protocol::limits::PROTOCOL_VERSION;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use conclave_protocol::v1::{RemoveReason, SignedMessage};
use rand_core::CryptoRng;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// What a verified failover vote means for us.
enum VoteCheck {
    /// Not for us, or a call we do not answer.
    Ignore,
    /// A candidate's call for our binding vote, which we answer (VOTE-2).
    Call { candidate: u32, failed: Vec<u32> },
    /// A pre-vote or binding vote for us as the candidate (VOTE-1a).
    ForUs {
        voter: u32,
        binding: bool,
        failed: Vec<u32>,
    },
}

impl Meeting {
    /// VOTE-0: the relay says the leader's connection closed. This hint is not authenticated,
    /// so it only shortens the wait: we probe the leader (a liveness nonce asking for a
    /// heartbeat at once) and, if no heartbeat, commit or Welcome of our leader is accepted
    /// within `HINT_CONFIRM_TIMEOUT`, treat the leader as having missed the heartbeat limit:
    /// sending pauses and the quorum vote of VOTE-1 and VOTE-2 starts. A live leader's answer
    /// cancels it; every safety rule of the failover (the quorum, FO-3) is unchanged. Leaders,
    /// joiners and a second hint while one is pending ignore it.
    pub fn leader_connection_closed<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) {
        let _span = self.span().entered();
        if !matches!(self.phase, Phase::Active) {
            return;
        }
        let limit = self.config.missed_heartbeats_limit;
        let Role::Member(m) = &mut self.role else {
            return;
        };
        if m.hint_confirm_at.is_some() || m.missed_reported >= limit || m.leaving.is_some() {
            return;
        }
        m.hint_confirm_at = Some(now.saturating_add(HINT_CONFIRM_TIMEOUT));
        tracing::info!(
            target: "conclave::meeting",
            "relay hint: leader connection closed; probing the leader"
        );
        self.send_nonce(now, rng, true);
    }

    /// VOTE-0: the hint was not answered in time: the leader counts as silent for the limit.
    /// Returns whether the failover of VOTE-1 should run.
    pub(super) fn confirm_hint(&mut self) -> bool {
        let limit = self.config.missed_heartbeats_limit;
        let leader = self.roster.id_of(self.leader_leaf);
        let Role::Member(m) = &mut self.role else {
            return false;
        };
        m.hint_confirm_at = None;
        if m.missed_reported >= limit {
            return false;
        }
        m.missed_reported = limit;
        self.push_event(Event::HeartbeatMissed {
            leader,
            missed: limit,
        });
        true
    }

    /// Section 12.3 at each watchdog interval past the limit: suspect the leader (and, every
    /// further limit, the next successor); pre-vote for the successor (VOTE-1), or collect
    /// votes if we are it. Also ask for a resync, which a leader elected without us answers
    /// with its failover commit (FO-5).
    pub(super) fn on_leader_timeout<R: CryptoRng + ?Sized>(
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
        tracing::info!(
            target: "conclave::meeting",
            leader = self.leader_leaf,
            candidate,
            suspected = ?exclude,
            "leader suspected; failover candidate chosen"
        );
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
        tracing::info!(target: "conclave::meeting", candidate, "pre-vote sent to the candidate");
        self.push_transmit(
            Destination::Participant(self.roster.id_of(candidate)),
            wire::envelope(Body::FailoverVote(vote)),
        );
        self.resync_requested_for = None;
        self.request_resync_at(now, rng, "the leader's heartbeats stopped".into());
        Ok(())
    }

    /// Signs a vote, pre-vote or call for a failover from our current epoch (VOTE-1).
    pub(super) fn sign_vote(
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
    pub(super) fn leader_silent(&self) -> bool {
        match &self.role {
            Role::Member(m) => m.missed_reported >= self.config.missed_heartbeats_limit,
            Role::Leader(_) => false,
        }
    }

    /// VOTE-1: a pre-vote or binding vote for us joins our ballot; a candidate's call for
    /// binding votes gets ours if we still stand by our pre-vote (VOTE-2). A vote for another
    /// epoch, transcript or candidate changes nothing.
    pub(super) fn on_failover_vote<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        match self.stage_vote(&signed)? {
            VoteCheck::Ignore => Ok(()),
            VoteCheck::Call { candidate, failed } => {
                tracing::info!(
                    target: "conclave::meeting",
                    candidate,
                    "binding vote cast for the candidate"
                );
                self.cast_binding_vote(candidate, &failed);
                Ok(())
            }
            VoteCheck::ForUs {
                voter,
                binding,
                failed,
            } => {
                tracing::info!(target: "conclave::meeting", voter, binding, "failover vote for us");
                self.merge_vote(voter, binding, failed, signed);
                self.advance_ballot(now, rng)
            }
        }
    }

    /// VOTE-1a and VOTE-2 without changing state.
    fn stage_vote(&self, signed: &SignedMessage) -> Result<VoteCheck, MeetingError> {
        if !matches!(self.phase, Phase::Active) || self.is_leader() {
            return Ok(VoteCheck::Ignore);
        }
        let v = quorum::read_vote(signed, &self.meeting_id, self.epoch, &self.transcript_hash)?;
        if v.voter == v.candidate && v.candidate != self.own_leaf {
            // VOTE-2: a call. We vote if we still do not hear our leader and the call is for
            // exactly our pre-vote.
            let expected = quorum::failed_set(&self.roster, self.leader_leaf, v.candidate);
            if !v.binding || !self.leader_silent() || expected.as_deref() != Some(&v.failed[..]) {
                return Ok(VoteCheck::Ignore);
            }
            self.verify_member(v.candidate, labels::FAILOVER_VOTE, signed, "failover call")?;
            return Ok(VoteCheck::Call {
                candidate: v.candidate,
                failed: v.failed,
            });
        }
        if v.candidate != self.own_leaf {
            return Ok(VoteCheck::Ignore); // not for us (a relay may deliver anything anywhere)
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
        self.verify_member(v.voter, labels::FAILOVER_VOTE, signed, "failover vote")?;
        Ok(VoteCheck::ForUs {
            voter: v.voter,
            binding: v.binding,
            failed,
        })
    }

    /// VOTE-2 at a voter: send the binding vote; from then on accept nothing the failed leaves
    /// sign.
    fn cast_binding_vote(&mut self, candidate: u32, failed: &[u32]) {
        let vote = self.sign_vote(self.own_leaf, candidate, failed, true);
        if let Role::Member(m) = &mut self.role {
            m.voted_out.extend(failed.iter().copied());
        }
        self.push_transmit(
            Destination::Participant(self.roster.id_of(candidate)),
            wire::envelope(Body::FailoverVote(vote)),
        );
    }

    /// VOTE-1a at the candidate: a verified vote for us joins the ballot of our epoch.
    fn merge_vote(&mut self, voter: u32, binding: bool, failed: Vec<u32>, signed: SignedMessage) {
        let (epoch, th) = (self.epoch, self.transcript_hash);
        let Role::Member(m) = &mut self.role else {
            return;
        };
        let ballot = m
            .ballot
            .get_or_insert_with(|| quorum::Ballot::new(epoch, th, failed.clone()));
        if ballot.epoch != epoch || ballot.transcript_hash != th {
            *ballot = quorum::Ballot::new(epoch, th, failed);
        }
        ballot.pre_votes.insert(voter);
        if binding {
            ballot.votes.insert(voter, signed);
        } else if !ballot.votes.contains_key(&voter) {
            // Still only a pre-vote: our call (or its answer) was lost; call again.
            ballot.called.remove(&voter);
        }
    }

    /// FO-2 at the candidate: once our pre-votes form a quorum, call those voters for binding
    /// votes; once the binding votes form a quorum, make the failover commit.
    pub(super) fn advance_ballot<R: CryptoRng + ?Sized>(
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

    pub(super) fn become_failover_leader<R: CryptoRng + ?Sized>(
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

    /// FO-1 to FO-4: checks a failover commit against our state (the failed set, the new
    /// leader, the votes and their quorum). Pure.
    pub(super) fn verify_failover(&self, commit: &pb::Commit) -> Result<u32, MeetingError> {
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
    pub(super) fn check_stable_proof(
        &self,
        signed: &SignedMessage,
        next: u64,
    ) -> Result<(), MeetingError> {
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
}
