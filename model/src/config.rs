//! What is checked: the bounds and which rule (if any) is weakened.

/// Most participants the state encoding supports (participant sets are `u8` bitmasks).
pub const MAX_PARTICIPANTS: usize = 8;

/// One rule of succession v2 switched off, to show that the checker finds what it then breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Weakening {
    /// The rule exactly as written in succession v2.
    None,
    /// R2 dropped: a leader commits again without waiting for its epoch to be stable.
    NoStabilityWait,
    /// The old engine: any single member whose watchdog fired makes a failover commit, no votes.
    SingleMemberFailover,
    /// VOTE-2 dropped: a member that voted still accepts a commit signed by a member it voted out.
    NoVote2,
    /// R4's majority of roster(e-1) dropped: the failover quorum only needs a majority of roster(e).
    NoPrevRosterMajority,
    /// R2 counts acks by epoch *number* only (as `LivenessNonce { epoch: u64 }` carries today):
    /// an ack for an epoch of the same or a higher number on another branch counts too.
    AckByNumberOnly,
}

impl Weakening {
    /// Every weakening, the intended rule first.
    pub const ALL: [Weakening; 6] = [
        Weakening::None,
        Weakening::NoStabilityWait,
        Weakening::SingleMemberFailover,
        Weakening::NoVote2,
        Weakening::NoPrevRosterMajority,
        Weakening::AckByNumberOnly,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Weakening::None => "intended",
            Weakening::NoStabilityWait => "no-R2-stability-wait",
            Weakening::SingleMemberFailover => "single-member-failover",
            Weakening::NoVote2 => "no-VOTE-2",
            Weakening::NoPrevRosterMajority => "no-roster(e-1)-majority",
            Weakening::AckByNumberOnly => "ack-by-number-only",
        }
    }
}

/// Which epochs a signed Leave counts as an ack of (R1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaveAck {
    /// As written: every epoch from the Leave's epoch on, on every branch.
    EveryBranch,
    /// Half a fix: only epochs reached from the Leave's epoch by regular (non-failover) commits,
    /// i.e. by the leader the Leave was sent to and its successors — a single path, so a Leave
    /// is never counted on two branches.
    RegularChain,
    /// Half a fix: a Leave counts (on every branch) only if its sender had not voted in the
    /// Leave's epoch (the Leave says so; a voter's Leave is not an ack).
    Unvoted,
    /// The proposed fix: both [`LeaveAck::RegularChain`] and [`LeaveAck::Unvoted`].
    RegularChainUnvoted,
}

impl LeaveAck {
    /// Whether Leaves count only along the regular chain.
    pub fn regular_chain(self) -> bool {
        matches!(self, LeaveAck::RegularChain | LeaveAck::RegularChainUnvoted)
    }

    /// Whether a voter's Leave is not an ack.
    pub fn unvoted(self) -> bool {
        matches!(self, LeaveAck::Unvoted | LeaveAck::RegularChainUnvoted)
    }
}

/// Whose acks count towards R2 stability of an epoch e.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovedAcks {
    /// As written: a majority of roster(e-1), acks of members that commit e removed count.
    Count,
    /// Proposed fix: a majority of roster(e-1) minus the members commit e removed; their acks
    /// do not count (a removed member cannot both make its removal stable and vote against it).
    Exclude,
}

/// The bounds of one model-checking run and the rule variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Participants `0..participants`; participant 0 creates the meeting and leads epoch 1.
    pub participants: usize,
    /// Commits in total after `create` (removals and failovers together).
    pub max_commits: usize,
    /// Whether the current leader of an epoch may crash (stop for good).
    pub leader_crash: bool,
    /// Whether a member may send a signed Leave (and end), counted as an ack (R1).
    pub leaves: bool,
    /// How a Leave counts as an ack.
    pub leave_ack: LeaveAck,
    /// Whose acks count for stability.
    pub removed_acks: RemovedAcks,
    /// Whether the last participant (never the first leader) is Byzantine: it signs an ack of
    /// any commit made on an epoch it is in and a vote for any candidate at any epoch it is in,
    /// whenever it likes (it holds the keys of every epoch whose roster has it).
    pub byzantine: bool,
    /// The rule variant.
    pub weakening: Weakening,
}

impl Config {
    /// The intended rule with `participants` participants and `max_commits` commits.
    pub fn new(participants: usize, max_commits: usize) -> Self {
        Config {
            participants,
            max_commits,
            leader_crash: true,
            leaves: false,
            leave_ack: LeaveAck::EveryBranch,
            removed_acks: RemovedAcks::Count,
            byzantine: false,
            weakening: Weakening::None,
        }
    }

    /// The same bounds with one rule weakened.
    pub fn weakened(self, weakening: Weakening) -> Self {
        Config { weakening, ..self }
    }

    /// The same bounds with signed Leaves on or off.
    pub fn with_leaves(self, leaves: bool) -> Self {
        Config { leaves, ..self }
    }

    /// The same bounds with Leaves counted as `leave_ack` says.
    pub fn with_leave_ack(self, leave_ack: LeaveAck) -> Self {
        Config { leave_ack, ..self }
    }

    /// The same bounds with removed members' acks counted as `removed_acks` says.
    pub fn with_removed_acks(self, removed_acks: RemovedAcks) -> Self {
        Config {
            removed_acks,
            ..self
        }
    }

    /// The same bounds with the last participant Byzantine (or not).
    pub fn with_byzantine(self, byzantine: bool) -> Self {
        Config { byzantine, ..self }
    }

    /// The Byzantine participant, if any.
    pub fn byzantine_pid(&self) -> Option<u8> {
        if self.byzantine {
            u8::try_from(self.participants.checked_sub(1)?).ok()
        } else {
            None
        }
    }

    /// The same bounds with leader crashes on or off.
    pub fn with_leader_crash(self, leader_crash: bool) -> Self {
        Config {
            leader_crash,
            ..self
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        format!(
            "N={} commits<={} crash={} leaves={} removed-acks={} byzantine={} rule={}",
            self.participants,
            self.max_commits,
            self.leader_crash,
            match (self.leaves, self.leave_ack) {
                (false, _) => "no",
                (true, LeaveAck::EveryBranch) => "every-branch",
                (true, LeaveAck::RegularChain) => "regular-chain",
                (true, LeaveAck::Unvoted) => "unvoted",
                (true, LeaveAck::RegularChainUnvoted) => "regular-chain+unvoted",
            },
            match self.removed_acks {
                RemovedAcks::Count => "count",
                RemovedAcks::Exclude => "exclude",
            },
            self.byzantine,
            self.weakening.name()
        )
    }
}
