//! The transition system: rules R1–R4 of succession v2 as stateright actions.

use crate::config::{Config, Weakening};
use crate::properties;
use crate::state::{
    Epoch, EpochId, Kind, Pid, Set, State, Status, bit, has, has_majority, members,
};
use stateright::{Model, Property};

/// One step. Timing is adversarial: any watchdog may fire at any moment, and the relay delivers
/// any message that was sent, to anyone, at any time, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// R2: the leader of its current epoch commits the removal of `removed`.
    Remove {
        /// The leader.
        leader: Pid,
        /// The member removed.
        removed: Pid,
    },
    /// R3: a member's watchdog fires: it suspects the next member in rank order and, if the
    /// new successor is not itself, signs a vote for it.
    Suspect {
        /// The member.
        member: Pid,
    },
    /// R4: the candidate signs the failover commit for the votes it holds.
    Failover {
        /// The candidate.
        candidate: Pid,
    },
    /// The relay delivers commit `epoch` to `member`, which accepts it if it is at its parent.
    Deliver {
        /// The receiver.
        member: Pid,
        /// The epoch the commit creates.
        epoch: EpochId,
    },
    /// R1: a member sends a signed Leave and ends; it counts as an ack from that epoch on.
    Leave {
        /// The leaver.
        member: Pid,
    },
    /// The leader of its current epoch crashes.
    Crash {
        /// The leader.
        leader: Pid,
    },
    /// The Byzantine participant signs an ack of commit `epoch` (it was in the parent's roster)
    /// without giving up anything.
    ByzantineAck {
        /// The epoch acked.
        epoch: EpochId,
    },
    /// The Byzantine participant signs `Vote(e, h, candidate = rank[k], failed = rank[..k])`.
    ByzantineVote {
        /// The epoch e.
        epoch: EpochId,
        /// |S|.
        suspects: u8,
    },
}

/// The succession-v2 model for one [`Config`].
#[derive(Clone, Debug)]
pub struct Succession {
    /// Bounds and rule variant.
    pub config: Config,
    /// Check only this property (so that breadth-first search stops at its shortest trace).
    pub only: Option<&'static str>,
}

impl Succession {
    /// A model for `config` checking every property.
    pub fn new(config: Config) -> Self {
        Succession { config, only: None }
    }

    /// A model for `config` checking only `property`.
    pub fn only(config: Config, property: &'static str) -> Self {
        Succession {
            config,
            only: Some(property),
        }
    }

    fn weak(&self, w: Weakening) -> bool {
        self.config.weakening == w
    }

    fn commits_left(&self, s: &State) -> bool {
        s.epochs.len() <= self.config.max_commits
    }

    /// R2 as the leader sees it: acks for epochs >= e from a majority of roster(e-1).
    pub fn leader_sees_stable(&self, s: &State, id: EpochId) -> bool {
        if self.weak(Weakening::NoStabilityWait) {
            return true;
        }
        let Some(e) = s.epoch(id) else { return false };
        let acks = if self.weak(Weakening::AckByNumberOnly) {
            // "I am at n" for any n >= e.number, whatever the branch; leaves likewise.
            s.epochs
                .iter()
                .filter(|x| x.number >= e.number)
                .fold(0, |a, x| a | x.accepted)
                | s.epochs
                    .iter()
                    .filter(|x| x.number <= e.number)
                    .fold(0, |a, x| a | x.left_here)
        } else {
            e.accepted | s.leave_acks(id, self.config.leave_ack)
        };
        s.stable_with(acks, id, &self.config)
    }

    /// R4's quorum for candidate `c` at epoch `id` with suspected set S_k.
    fn failover_quorum(&self, s: &State, id: EpochId, c: Pid, k: u8) -> bool {
        if self.weak(Weakening::SingleMemberFailover) {
            return true;
        }
        let Some(e) = s.epoch(id) else { return false };
        let voters = e.votes.get(usize::from(k)).copied().unwrap_or(0) | bit(c);
        has_majority(voters, e.roster)
            && (self.weak(Weakening::NoPrevRosterMajority)
                || has_majority(voters, s.parent_roster(id)))
    }

    /// The epoch a live participant is at, with its state.
    fn at(&self, s: &State, p: Pid) -> Option<(EpochId, u8, Set)> {
        let part = s.parts.get(usize::from(p))?;
        match part.status {
            Status::At(id) => Some((id, part.suspects, part.voted_out)),
            _ => None,
        }
    }

    fn byzantine_actions(&self, s: &State, m: Pid, out: &mut Vec<Action>) {
        for (x, e) in s.epochs.iter().enumerate() {
            let x = x as EpochId;
            if has(s.parent_roster(x), m) && !has(e.accepted, m) {
                out.push(Action::ByzantineAck { epoch: x });
            }
            if !has(e.roster, m) {
                continue;
            }
            for k in 1..e.rank().len() as u8 {
                let candidate = e.successor(k);
                let votes = e.votes.get(usize::from(k)).copied().unwrap_or(0);
                if candidate.is_some_and(|c| c != m) && !has(e.suspected(k), m) && !has(votes, m) {
                    out.push(Action::ByzantineVote {
                        epoch: x,
                        suspects: k,
                    });
                }
            }
        }
    }

    fn enabled_actions(&self, s: &State, out: &mut Vec<Action>) {
        let byzantine = self.config.byzantine_pid();
        if let Some(m) = byzantine {
            self.byzantine_actions(s, m, out);
        }
        for p in 0..s.parts.len() as Pid {
            if Some(p) == byzantine {
                continue;
            }
            let Some((id, k, voted_out)) = self.at(s, p) else {
                continue;
            };
            let Some(e) = s.epoch(id) else { continue };
            if e.leader == p {
                if self.commits_left(s) && self.leader_sees_stable(s, id) {
                    for r in members(e.roster).filter(|r| *r != p) {
                        out.push(Action::Remove {
                            leader: p,
                            removed: r,
                        });
                    }
                }
                if self.config.leader_crash {
                    out.push(Action::Crash { leader: p });
                }
            } else {
                if e.successor(k).is_some_and(|c| c != p) {
                    out.push(Action::Suspect { member: p });
                }
                if k > 0
                    && e.successor(k) == Some(p)
                    && self.commits_left(s)
                    && self.failover_quorum(s, id, p, k)
                {
                    out.push(Action::Failover { candidate: p });
                }
                if self.config.leaves {
                    out.push(Action::Leave { member: p });
                }
            }
            for (x, child) in s.epochs.iter().enumerate() {
                let vote2 = !self.weak(Weakening::NoVote2) && has(voted_out, child.leader);
                if child.parent == Some(id) && !vote2 {
                    out.push(Action::Deliver {
                        member: p,
                        epoch: x as EpochId,
                    });
                }
            }
        }
    }

    fn create(&self, s: &mut State, parent: EpochId, leader: Pid, kind: Kind) {
        let Some(e) = s.epoch(parent) else { return };
        let removed = match kind {
            Kind::Create => 0,
            Kind::Remove(r) => bit(r),
            Kind::Failover(set) => set,
        };
        let parent_stable = s.is_stable(parent, &self.config);
        let new = Epoch {
            number: e.number.saturating_add(1),
            parent: Some(parent),
            roster: e.roster & !removed,
            leader,
            kind,
            votes: Default::default(),
            accepted: bit(leader),
            left_here: 0,
            stable_since: None,
            parent_stable_at_creation: parent_stable,
        };
        s.epochs.push(new);
        let id = (s.epochs.len() - 1) as EpochId;
        move_to(s, leader, Status::At(id));
    }

    fn apply(&self, s: &mut State, action: Action) -> Option<()> {
        match action {
            Action::Remove { leader, removed } => {
                let (id, _, _) = self.at(s, leader)?;
                self.create(s, id, leader, Kind::Remove(removed));
            }
            Action::Suspect { member } => {
                let (id, k, _) = self.at(s, member)?;
                let e = s.epochs.get_mut(usize::from(id))?;
                let k = k.checked_add(1)?;
                let suspected = e.suspected(k);
                let candidate = e.successor(k)?;
                if candidate != member {
                    *e.votes.get_mut(usize::from(k))? |= bit(member);
                }
                let part = s.parts.get_mut(usize::from(member))?;
                part.suspects = k;
                if candidate != member {
                    part.voted_out |= suspected;
                }
            }
            Action::Failover { candidate } => {
                let (id, k, _) = self.at(s, candidate)?;
                let suspected = s.epoch(id)?.suspected(k);
                self.create(s, id, candidate, Kind::Failover(suspected));
            }
            Action::Deliver { member, epoch } => {
                let x = s.epochs.get_mut(usize::from(epoch))?;
                x.accepted |= bit(member);
                let status = if has(x.roster, member) {
                    Status::At(epoch)
                } else {
                    // Removed: acks once (above), then ends.
                    Status::Ended
                };
                move_to(s, member, status);
            }
            Action::Leave { member } => {
                let (id, _, voted_out) = self.at(s, member)?;
                if voted_out == 0 || !self.config.leave_ack.unvoted() {
                    s.epochs.get_mut(usize::from(id))?.left_here |= bit(member);
                }
                move_to(s, member, Status::Ended);
            }
            Action::Crash { leader } => move_to(s, leader, Status::Crashed),
            Action::ByzantineAck { epoch } => {
                let m = self.config.byzantine_pid()?;
                s.epochs.get_mut(usize::from(epoch))?.accepted |= bit(m);
            }
            Action::ByzantineVote { epoch, suspects } => {
                let m = self.config.byzantine_pid()?;
                let e = s.epochs.get_mut(usize::from(epoch))?;
                *e.votes.get_mut(usize::from(suspects))? |= bit(m);
            }
        }
        s.record_stability(&self.config);
        Some(())
    }
}

/// Moves `p` to `status` with a fresh watchdog and no votes (a new epoch, or the end).
fn move_to(s: &mut State, p: Pid, status: Status) {
    if let Some(part) = s.parts.get_mut(usize::from(p)) {
        part.status = status;
        part.suspects = 0;
        part.voted_out = 0;
    }
}

impl Model for Succession {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State::initial(self.config.participants)]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled_actions(state, actions);
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut next = last.clone();
        self.apply(&mut next, action)?;
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut all = properties::all();
        if let Some(only) = self.only {
            all.retain(|p| p.name == only);
        }
        all
    }
}
