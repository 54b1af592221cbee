//! The abstract state: every epoch ever created (a tree of branches) and every participant.
//!
//! Participant sets are `u8` bitmasks (bit `p` = participant `p`). Epochs are stored in creation
//! order, so an epoch's index also tells what was created before it.

use crate::config::{Config, LeaveAck, MAX_PARTICIPANTS, RemovedAcks};

/// A participant id, `0..N`.
pub type Pid = u8;
/// A set of participants as a bitmask.
pub type Set = u8;
/// An index into [`State::epochs`].
pub type EpochId = u8;

/// The bitmask holding only `p`.
pub fn bit(p: Pid) -> Set {
    1u8.checked_shl(u32::from(p)).unwrap_or(0)
}

/// Whether `p` is in `set`.
pub fn has(set: Set, p: Pid) -> bool {
    set & bit(p) != 0
}

/// |set|.
pub fn size(set: Set) -> usize {
    set.count_ones() as usize
}

/// A strict majority of a set of `n` members: floor(n/2) + 1, or 0 (void) for an empty set.
pub fn maj(n: usize) -> usize {
    if n == 0 { 0 } else { n / 2 + 1 }
}

/// Whether `votes` holds a strict majority of `roster` (void for an empty roster).
pub fn has_majority(votes: Set, roster: Set) -> bool {
    size(votes & roster) >= maj(size(roster))
}

/// The members of `set` in ascending order.
pub fn members(set: Set) -> impl Iterator<Item = Pid> {
    (0..MAX_PARTICIPANTS as u8).filter(move |p| has(set, *p))
}

/// What the commit that created an epoch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Epoch 1, made by `create`.
    Create,
    /// A leader's commit removing one member.
    Remove(Pid),
    /// A failover commit by a candidate, removing the suspected set S.
    Failover(Set),
}

/// One epoch object: (number, parent pointer, transcript) — the parent pointer makes the branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// The epoch number (1 for the created meeting).
    pub number: u8,
    /// The epoch this commit was made on (`None` for epoch 1).
    pub parent: Option<EpochId>,
    /// roster(e).
    pub roster: Set,
    /// The member that signed the commit and leads this epoch.
    pub leader: Pid,
    /// What the commit did.
    pub kind: Kind,
    /// `votes[k]`: members that signed `Vote(e, h, candidate = rank[k], failed = rank[..k])`.
    pub votes: [Set; MAX_PARTICIPANTS],
    /// Ghost: every participant that ever accepted this epoch's commit (and so sent an ack of it).
    pub accepted: Set,
    /// Ghost: participants whose signed Leave was sent at this epoch.
    pub left_here: Set,
    /// Ghost: how many epochs existed when this one first became stable.
    pub stable_since: Option<u8>,
    /// Ghost: whether the parent was stable when this epoch was created (P2).
    pub parent_stable_at_creation: bool,
}

impl Epoch {
    /// The members this epoch's commit removed.
    pub fn removed(&self) -> Set {
        match self.kind {
            Kind::Create => 0,
            Kind::Remove(r) => bit(r),
            Kind::Failover(s) => s,
        }
    }

    /// The rank order of roster(e): the leader first, then the others by id (deterministic).
    pub fn rank(&self) -> Vec<Pid> {
        let mut order = vec![self.leader];
        order.extend(members(self.roster).filter(|p| *p != self.leader));
        order
    }

    /// S_k: the first `k` members in rank order (the suspected set after k watchdog rounds).
    pub fn suspected(&self, k: u8) -> Set {
        self.rank()
            .into_iter()
            .take(usize::from(k))
            .fold(0, |s, p| s | bit(p))
    }

    /// successor(S_k): the member of rank `k`, if any.
    pub fn successor(&self, k: u8) -> Option<Pid> {
        self.rank().get(usize::from(k)).copied()
    }
}

/// Where a participant is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// At this epoch, holding its keys (and only those).
    At(EpochId),
    /// Removed (after acking the removal), left, or ended: holds no keys, does nothing.
    Ended,
    /// Crashed: holds no keys, does nothing.
    Crashed,
}

/// One participant's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Participant {
    /// Its current epoch.
    pub status: Status,
    /// How many members (in rank order of its epoch) it suspects: |S|.
    pub suspects: u8,
    /// Union of the suspected sets it voted with at its current epoch (VOTE-2).
    pub voted_out: Set,
}

/// The whole system: the epoch tree and the participants. Messages are not stored: every
/// signed message ever sent (commit, ack, vote, leave) stays deliverable, so a receiver's
/// decision depends only on what was *sent* (see the crate README).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Every epoch ever created, in creation order; `epochs[0]` is epoch 1.
    pub epochs: Vec<Epoch>,
    /// Participants by id.
    pub parts: Vec<Participant>,
}

impl State {
    /// The meeting just created by participant 0 with everyone at epoch 1.
    pub fn initial(participants: usize) -> Self {
        let all = (0..participants).fold(0u8, |s, p| s | bit(p as Pid));
        State {
            epochs: vec![Epoch {
                number: 1,
                parent: None,
                roster: all,
                leader: 0,
                kind: Kind::Create,
                votes: [0; MAX_PARTICIPANTS],
                accepted: all,
                left_here: 0,
                stable_since: Some(1),
                parent_stable_at_creation: true,
            }],
            parts: vec![
                Participant {
                    status: Status::At(0),
                    suspects: 0,
                    voted_out: 0,
                };
                participants
            ],
        }
    }

    /// The epoch with this id.
    pub fn epoch(&self, id: EpochId) -> Option<&Epoch> {
        self.epochs.get(usize::from(id))
    }

    /// Whether `anc` is `id` or one of its ancestors.
    pub fn is_ancestor_or_self(&self, anc: EpochId, id: EpochId) -> bool {
        let mut cur = Some(id);
        while let Some(c) = cur {
            if c == anc {
                return true;
            }
            cur = self.epoch(c).and_then(|e| e.parent);
        }
        false
    }

    /// roster(parent(e)), or the empty set for epoch 1.
    pub fn parent_roster(&self, id: EpochId) -> Set {
        self.epoch(id)
            .and_then(|e| e.parent)
            .and_then(|p| self.epoch(p))
            .map_or(0, |p| p.roster)
    }

    /// Members whose Leave counts as an ack of `id`: those that left at `id` or an ancestor
    /// (with [`LeaveAck::regular_chain`], only an ancestor reached without a failover commit).
    pub fn leave_acks(&self, id: EpochId, rule: LeaveAck) -> Set {
        let mut acks = 0;
        let mut cur = Some(id);
        while let Some(e) = cur.and_then(|c| self.epoch(c)) {
            acks |= e.left_here;
            if rule.regular_chain() && matches!(e.kind, Kind::Failover(_)) {
                break;
            }
            cur = e.parent;
        }
        acks
    }

    /// R2's count: whether `acks` (from any participants) make `id` stable — a majority of
    /// roster(parent), or of roster(parent) minus the removed with [`RemovedAcks::Exclude`].
    /// Epoch 1 is stable at once (roster(0) is empty).
    pub fn stable_with(&self, acks: Set, id: EpochId, config: &Config) -> bool {
        let Some(e) = self.epoch(id) else {
            return false;
        };
        let mut roster = self.parent_roster(id);
        if config.removed_acks == RemovedAcks::Exclude {
            roster &= !e.removed();
        }
        has_majority(acks, roster)
    }

    /// Stable in the sense of the properties and of R2 (with every ack delivered): acks for `id`
    /// (acceptances, and Leaves as R1 says) from a majority of roster(parent).
    pub fn is_stable(&self, id: EpochId, config: &Config) -> bool {
        let Some(e) = self.epoch(id) else {
            return false;
        };
        let acks = e.accepted | self.leave_acks(id, config.leave_ack);
        self.stable_with(acks, id, config)
    }

    /// After a step: record when epochs first became stable.
    pub fn record_stability(&mut self, config: &Config) {
        let now = self.epochs.len() as u8;
        for id in 0..self.epochs.len() {
            let stable = self.is_stable(id as EpochId, config);
            if let Some(e) = self.epochs.get_mut(id)
                && stable
                && e.stable_since.is_none()
            {
                e.stable_since = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn majorities() {
        assert_eq!(maj(0), 0);
        assert_eq!(maj(1), 1);
        assert_eq!(maj(2), 2);
        assert_eq!(maj(3), 2);
        assert_eq!(maj(4), 3);
        assert!(has_majority(0, 0), "void for an empty roster");
        assert!(has_majority(0b0011, 0b0111));
        assert!(
            !has_majority(0b1001, 0b0111),
            "only members of the roster count"
        );
    }

    #[test]
    fn rank_order_starts_with_the_leader() {
        let mut s = State::initial(4);
        let e = s.epochs.get_mut(0).expect("epoch 1");
        e.leader = 2;
        assert_eq!(e.rank(), vec![2, 0, 1, 3]);
        assert_eq!(e.suspected(2), bit(2) | bit(0));
        assert_eq!(e.successor(2), Some(1));
        assert_eq!(e.successor(4), None);
    }

    #[test]
    fn epoch_one_is_stable_and_a_child_needs_a_majority() {
        let mut s = State::initial(4);
        let config = Config::new(4, 3);
        assert!(s.is_stable(0, &config));
        let mut child = s.epochs.first().expect("epoch 1").clone();
        child.parent = Some(0);
        child.number = 2;
        child.kind = Kind::Remove(3);
        child.roster = 0b0111;
        child.accepted = bit(0) | bit(3);
        s.epochs.push(child);
        assert!(!s.is_stable(1, &config), "A and D (removed): 2 of 4");
        if let Some(e) = s.epochs.get_mut(1) {
            e.accepted |= bit(1);
        }
        assert!(
            s.is_stable(1, &config),
            "A, B and D: 3 of 4, D's own ack counted"
        );
        let fixed = config.with_removed_acks(RemovedAcks::Exclude);
        assert!(s.is_stable(1, &fixed), "A and B: 2 of {{A, B, C}}");
        if let Some(e) = s.epochs.get_mut(1) {
            e.accepted = bit(0) | bit(3);
        }
        assert!(!s.is_stable(1, &fixed), "A alone: 1 of 3");
    }
}
