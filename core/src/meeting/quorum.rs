//! Leader succession by quorum (`spec/state-machine.md` section 12.3, rules VOTE-1, VOTE-2,
//! FO-1 to FO-4) and epoch stability (section 10.6, STB-1 to STB-3).
//!
//! The two properties these rules give, whatever the relay does (section 12.6 has the argument
//! and `model/` checks it exhaustively for small meetings):
//! - **a removal that became stable is permanent**: no branch ever creates an epoch that is not a
//!   descendant of it, so the removed member never holds a later epoch's keys;
//! - **one branch**: of two different commits for one epoch at most one becomes stable, and no
//!   commit is made on an unstable epoch, so a fork grows by at most one epoch on all but one
//!   side.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use conclave_protocol::limits::PROTOCOL_VERSION;
use conclave_protocol::v1::{self as pb, SignedMessage};
use conclave_protocol::{MessageKind, encode};
use subtle::ConstantTimeEq;

use super::error::MeetingError;
use super::roster::Roster;
use super::wire;
use crate::identity::IdentityKey;
use crate::schedule::labels;

/// A strict majority of a set of `n` members; 0 for an empty set (no requirement).
pub(crate) fn majority(n: usize) -> usize {
    if n == 0 { 0 } else { n / 2 + 1 }
}

/// FO-1: the leaves a failover to `candidate` removes as failed: the current leader and every
/// present member ranked before the candidate, ascending. `None` if the candidate is not
/// present or is the leader.
pub(crate) fn failed_set(roster: &Roster, leader: u32, candidate: u32) -> Option<Vec<u32>> {
    let cand = roster.get(candidate)?;
    if candidate == leader {
        return None;
    }
    let rank = (cand.admitted_epoch, candidate);
    let mut failed: BTreeSet<u32> = roster
        .members
        .iter()
        .filter(|(l, m)| (m.admitted_epoch, **l) < rank)
        .map(|(l, _)| *l)
        .collect();
    failed.insert(leader);
    Some(failed.into_iter().collect())
}

/// The votes a candidate has collected for a failover from one epoch (VOTE-1).
#[derive(Debug, Clone)]
pub(crate) struct Ballot {
    /// The epoch and transcript hash the failover builds on.
    pub epoch: u64,
    pub transcript_hash: [u8; 32],
    /// The failed leaves (FO-1), ascending.
    pub failed: Vec<u32>,
    /// Voters whose verified pre-vote we hold (VOTE-1).
    pub pre_votes: BTreeSet<u32>,
    /// Voters we sent our call for binding votes to.
    pub called: BTreeSet<u32>,
    /// Verified binding votes by voter leaf.
    pub votes: BTreeMap<u32, SignedMessage>,
}

impl Ballot {
    /// An empty ballot for a failover from `(epoch, transcript_hash)`.
    pub fn new(epoch: u64, transcript_hash: [u8; 32], failed: Vec<u32>) -> Self {
        Ballot {
            epoch,
            transcript_hash,
            failed,
            pre_votes: BTreeSet::new(),
            called: BTreeSet::new(),
            votes: BTreeMap::new(),
        }
    }
}

/// A decoded, checked `FailoverVote` (not yet verified against a signer).
pub(crate) struct VoteContent {
    pub voter: u32,
    pub candidate: u32,
    pub failed: Vec<u32>,
    pub binding: bool,
}

/// What a vote says (VOTE-1): the voter's epoch state and whom it supports.
pub(crate) struct VoteFields<'a> {
    pub meeting_id: &'a [u8],
    pub epoch: u64,
    pub transcript_hash: &'a [u8; 32],
    pub voter: u32,
    pub candidate: u32,
    pub failed: &'a [u32],
    pub binding: bool,
}

/// Signs a vote (VOTE-1, VOTE-2) or a call (VOTE-1a).
pub(crate) fn sign_vote(identity: &IdentityKey, v: &VoteFields<'_>) -> SignedMessage {
    let vote = pb::FailoverVote {
        version: PROTOCOL_VERSION,
        meeting_id: v.meeting_id.to_vec(),
        epoch: v.epoch,
        transcript_hash: v.transcript_hash.to_vec(),
        voter_leaf: v.voter,
        candidate_leaf: v.candidate,
        failed_leaves: v.failed.to_vec(),
        binding: v.binding,
    };
    wire::sign(identity, labels::FAILOVER_VOTE, encode(&vote))
}

/// Decodes a vote and checks that it is for `(epoch, transcript_hash)` of this meeting. Pure.
pub(crate) fn read_vote(
    signed: &SignedMessage,
    meeting_id: &[u8],
    epoch: u64,
    transcript_hash: &[u8; 32],
) -> Result<VoteContent, MeetingError> {
    let v: pb::FailoverVote = wire::decode_content(MessageKind::FailoverVote, signed)?;
    wire::check_version("failover vote", v.version)?;
    wire::check_meeting("failover vote", &v.meeting_id, meeting_id)?;
    if v.epoch != epoch {
        return Err(MeetingError::StaleEpoch {
            message: "failover vote",
            epoch: v.epoch,
            current: epoch,
        });
    }
    let th = wire::hash32("failover vote", "transcript_hash", &v.transcript_hash)?;
    if !bool::from(th.ct_eq(transcript_hash)) {
        return Err(MeetingError::TranscriptMismatch { epoch });
    }
    Ok(VoteContent {
        voter: v.voter_leaf,
        candidate: v.candidate_leaf,
        failed: v.failed_leaves,
        binding: v.binding,
    })
}

/// FO-2: whether the voters plus the candidate form both majorities: of the present members
/// (`roster`, epoch `epoch`) and of the members of the previous epoch (`previous_len` members;
/// those still present are the ones admitted before `epoch`).
pub(crate) fn is_quorum(
    roster: &Roster,
    epoch: u64,
    previous_len: usize,
    candidate: u32,
    voters: impl Iterator<Item = u32>,
) -> bool {
    let mut all: BTreeSet<u32> = voters.collect();
    all.insert(candidate);
    let present = all.iter().filter(|l| roster.get(**l).is_some()).count();
    let previous = all
        .iter()
        .filter(|l| roster.get(**l).is_some_and(|m| m.admitted_epoch < epoch))
        .count();
    present >= majority(roster.members.len()) && previous >= majority(previous_len)
}

/// FO-2: verifies every vote of a failover commit against the receiver's state and checks the
/// quorum. Pure.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_votes(
    roster: &Roster,
    meeting_id: &[u8],
    epoch: u64,
    transcript_hash: &[u8; 32],
    previous_len: usize,
    candidate: u32,
    failed: &[u32],
    votes: &[SignedMessage],
) -> Result<(), MeetingError> {
    let next = epoch.saturating_add(1);
    let bad = |reason: String| MeetingError::BadRoster {
        epoch: next,
        reason,
    };
    if votes.len() > roster.members.len() {
        return Err(bad(format!(
            "{} votes for {} members",
            votes.len(),
            roster.members.len()
        )));
    }
    let mut voters: Vec<u32> = Vec::with_capacity(votes.len());
    for signed in votes {
        let v = read_vote(signed, meeting_id, epoch, transcript_hash)?;
        if voters.last().is_some_and(|l| *l >= v.voter) {
            return Err(bad("votes are not in ascending voter order".into()));
        }
        if v.candidate != candidate || v.failed != failed || !v.binding {
            return Err(bad(format!(
                "the vote of leaf {} is for another failover",
                v.voter
            )));
        }
        if v.voter == candidate || failed.contains(&v.voter) {
            return Err(bad(format!(
                "leaf {} cannot vote in this failover",
                v.voter
            )));
        }
        let member = roster
            .get(v.voter)
            .ok_or_else(|| bad(format!("vote from leaf {}, which is not present", v.voter)))?;
        let id = member.announcement.participant_id.clone();
        wire::verify(
            &member.announcement.identity,
            labels::FAILOVER_VOTE,
            signed,
            "failover vote",
            || id,
        )?;
        voters.push(v.voter);
    }
    if !is_quorum(roster, epoch, previous_len, candidate, voters.into_iter()) {
        return Err(bad(format!(
            "{} votes are not a majority of the {} members and of the {} members of the previous epoch",
            votes.len(),
            roster.members.len(),
            previous_len
        )));
    }
    Ok(())
}

/// The leader's record of whether its current epoch is stable (STB-1): acknowledged by a
/// majority of the members of the previous epoch that its commit kept.
#[derive(Debug, Clone)]
pub(crate) struct Stability {
    /// The epoch tracked (the leader's current epoch).
    pub epoch: u64,
    /// When the leader made it.
    pub since: Duration,
    /// `ceil(|roster(epoch - 1)| / 2)`, to be reached among the members the commit kept: with
    /// at most `floor(n / 2)` removed (STB-4), that many kept members meet every majority of
    /// the previous roster.
    pub needed: usize,
    /// Kept members of `roster(epoch - 1)`, as (leaf, admitted epoch), that acknowledged exactly
    /// this epoch state (or left without having voted).
    pub acked: BTreeSet<(u32, u64)>,
}

impl Stability {
    /// An epoch that is stable from the start (the creating commit; roster(0) is empty).
    pub fn settled(epoch: u64, now: Duration) -> Self {
        Stability {
            epoch,
            since: now,
            needed: 0,
            acked: BTreeSet::new(),
        }
    }

    /// Tracks epoch `epoch`, made at `now` from an epoch of `previous` members. Only members
    /// the commit kept can acknowledge it: a removed member that does not follow the protocol
    /// could acknowledge and still vote (`model/README.md`). `ceil(n / 2)` kept members meet
    /// every majority of the `n` previous members, removed ones included, in a kept member.
    pub fn new(epoch: u64, now: Duration, previous: usize) -> Self {
        Stability {
            epoch,
            since: now,
            needed: previous - previous / 2,
            acked: BTreeSet::new(),
        }
    }

    /// Whether the tracked epoch is stable.
    pub fn is_stable(&self) -> bool {
        self.acked.len() >= self.needed
    }

    /// Records an acknowledgement of `epoch` by the member `(leaf, admitted)` of the previous
    /// roster. Returns whether this made the epoch stable.
    pub fn ack(&mut self, leaf: u32, admitted: u64, epoch: u64) -> bool {
        if epoch < self.epoch || admitted >= self.epoch {
            return false;
        }
        let was = self.is_stable();
        self.acked.insert((leaf, admitted));
        !was && self.is_stable()
    }
}

#[cfg(test)]
mod tests {
    use super::majority;

    #[test]
    fn majorities() {
        assert_eq!(majority(0), 0);
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(1000), 501);
    }
}
