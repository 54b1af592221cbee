//! The attacks `conclave simulate --attack` mounts from the relay, and how their detection is
//! checked. Each attack is the relay (or, where said, a malicious member) doing one thing the
//! threat model allows (`spec/overview.md` section 3); the engines must reject it with a typed
//! error and carry on, or (the attacks of security round 2, `spec/security.md` section 1.6)
//! prevent it, with the confidentiality ledger clean over the whole run.
//!
//! One struct per attack family implements [`Attack`], holding only its own fields; the
//! [`Driver`] starts it, steps it, ends it and builds its report. Attacks use the runner's
//! inject/tap API and nothing above it.

mod admission;
mod commit;
mod driver;
mod flood;
mod forged;
mod frame;
mod handover;
mod hint;
mod partition;
mod split;

use std::collections::BTreeMap;
use std::time::Duration;

use conclave_core::meeting::Event;

use super::records::Detection;
use super::runner::Runner;
use crate::CliError;

pub(crate) use admission::allow_invitees;
pub(crate) use driver::Driver;

/// An attack the relay mounts in `conclave simulate --attack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// Flip the lock flag inside the leader's signed commit (the genuine copy follows).
    TamperCommit,
    /// Flip a ciphertext byte of media frames for one second (genuine copies follow).
    TamperFrame,
    /// Re-send every earlier commit to every member.
    ReplayCommit,
    /// Deliver every media frame twice for one second, then replay the first frames of the run.
    ReplayFrame,
    /// Inject announcements: one with a member's identity key the relay cannot sign for, one
    /// from another meeting.
    ForgedAnnouncement,
    /// A malicious member signs commits (removing a member, taking the lead) in the leader's
    /// place.
    NonLeaderCommit,
    /// Partition the meeting in two halves that each go on with their own leader.
    SplitView,
    /// Swap two wrapped keys of the key tree inside a rotation commit.
    SwapTreeEntries,
    /// Relabel media frames with another sender index and stream for one second.
    RelabelFrame,
    /// Re-send old Welcomes (sealed path keys) to the members they admitted.
    StaleWelcome,
    /// Inject a Leave for the leader, signed with the relay's own key.
    FalseLeaderLeft,
    /// Send control messages over MAX_ENVELOPE_SIZE, with lying length prefixes or truncated,
    /// and an oversized frame.
    Oversized,
    /// Starve the leader's successor of the leader's messages past the failover timeout, then
    /// heal (no failover without a quorum; no (key, nonce) sealed twice).
    ForkNonce,
    /// Cut off a member and a member the leader then removes for a long time (the removed
    /// member never gets a later epoch; the minority elects no leader).
    PartitionRemoved,
    /// Send a member many near-MAX_ENVELOPE_SIZE commits for future epochs, inside and beyond
    /// the buffering window (the buffer stays within MAX_PENDING_COMMIT_BYTES).
    Memory,
    /// Inject one unsigned commit for epoch + 2 at every member (no resync, no Welcome flood).
    ForgedGap,
    /// The leader leaves; drop only the handover commit on its way to the successor (the old
    /// leader re-sends it: one leader, one security code).
    DropHandover,
    /// Register a participant of the relay's own (a fresh identity) in a meeting that admits an
    /// allow-list of invited identities (refused).
    RelayMember,
    /// A member leaves and rejoins; replay its first announcement (refused as a replay, the
    /// live member unaffected).
    StaleAnnouncement,
    /// The leader removes a member; it rejoins with its identity while its old announcements
    /// are replayed, unlocked then locked (refused: removals are durable).
    RemovedRejoin,
    /// Tell every member, every second, that the live leader's connection closed (VOTE-0: the
    /// leader's answer to the probe wins; no failover, no pause in sending).
    FalseHint,
}

impl AttackKind {
    /// The attack's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::TamperCommit => "tamper-commit",
            AttackKind::TamperFrame => "tamper-frame",
            AttackKind::ReplayCommit => "replay-commit",
            AttackKind::ReplayFrame => "replay-frame",
            AttackKind::ForgedAnnouncement => "forged-announcement",
            AttackKind::NonLeaderCommit => "non-leader-commit",
            AttackKind::SplitView => "split-view",
            AttackKind::SwapTreeEntries => "swap-tree-entries",
            AttackKind::RelabelFrame => "relabel-frame",
            AttackKind::StaleWelcome => "stale-welcome",
            AttackKind::FalseLeaderLeft => "false-leader-left",
            AttackKind::Oversized => "oversized",
            AttackKind::ForkNonce => "fork-nonce",
            AttackKind::PartitionRemoved => "partition-removed",
            AttackKind::Memory => "memory",
            AttackKind::ForgedGap => "forged-gap",
            AttackKind::DropHandover => "drop-handover",
            AttackKind::RelayMember => "relay-member",
            AttackKind::StaleAnnouncement => "stale-announcement",
            AttackKind::RemovedRejoin => "removed-rejoin",
            AttackKind::FalseHint => "false-hint",
        }
    }

    /// What the relay does (the help text of the kind).
    pub fn description(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .and_then(|p| p.get_help().map(|h| h.to_string()))
            .unwrap_or_default()
    }
}

/// How an attack's outcome is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Detected: the engines reject the forgeries with the expected typed errors (control
    /// messages or frames) and no participant's state changes.
    Detected,
    /// Prevented (security round 2): the attack's own verdict, and the confidentiality ledger
    /// clean over the whole run.
    Prevented,
}

/// What an attack found, shown in the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Findings {
    /// Observations, in order.
    pub notes: Vec<String>,
    /// Evidence of prevention or detection (besides the rejections, added by the driver).
    pub evidence: Vec<Detection>,
    /// Numbers the tests and readers check (peaks, counts).
    pub metrics: BTreeMap<String, u64>,
    /// Whether no participant's view changed when forgeries were injected (`None`: none were).
    pub state_unchanged: Option<bool>,
    /// Set by the driver before the verdict: whether an expected rejection was seen.
    pub seen_expected: bool,
    /// Set by the driver before the verdict: whether the attack ran to its end.
    pub finished: bool,
}

impl Findings {
    /// Adds a piece of evidence at the current virtual time.
    pub fn evidence(&mut self, r: &Runner, at: &str, what: &str, kind: &str, text: String) {
        self.evidence.push(Detection {
            t: r.t(),
            at: at.to_string(),
            from: "relay".into(),
            what: what.to_string(),
            kind: kind.to_string(),
            error: text,
        });
    }

    /// Adds a note to the report and to the timeline.
    pub fn note(&mut self, r: &mut Runner, text: String) {
        r.note("attack", text.clone());
        self.notes.push(text);
    }

    /// Sets a metric.
    pub fn metric(&mut self, name: &str, value: u64) {
        self.metrics.insert(name.to_string(), value);
    }

    /// The verdict of a [`Flavor::Detected`] attack: an expected rejection, no state changed,
    /// and the attack ran to its end.
    pub fn detected(&self) -> bool {
        self.seen_expected && self.state_unchanged != Some(false) && self.finished
    }
}

/// One attack.
pub(crate) trait Attack {
    /// How its outcome is judged.
    fn flavor(&self) -> Flavor {
        Flavor::Prevented
    }
    /// Whether it is over as soon as it started (everything is injected at once).
    fn one_shot(&self) -> bool {
        false
    }
    /// The error kinds (or outcome names) that count as detection, for the report.
    fn expected(&self) -> &'static [&'static str];
    /// Mounts the attack at the current virtual time and says what the relay does, or returns
    /// `None` to try again at the next step (no leader yet, no agreement yet).
    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError>;
    /// Advances the attack `elapsed` after its start; returns whether it is over.
    fn step(
        &mut self,
        _r: &mut Runner,
        _f: &mut Findings,
        _elapsed: Duration,
    ) -> Result<bool, CliError> {
        Ok(true)
    }
    /// Whether the engines prevented or detected it (for [`Flavor::Prevented`] the driver adds
    /// the ledger's verdict).
    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool;
}

/// The attack of `kind`.
fn build(kind: AttackKind) -> Box<dyn Attack> {
    match kind {
        AttackKind::TamperCommit => Box::new(commit::TamperCommit::new(false)),
        AttackKind::SwapTreeEntries => Box::new(commit::TamperCommit::new(true)),
        AttackKind::ReplayCommit => Box::new(commit::ReplayCommit),
        AttackKind::StaleWelcome => Box::new(commit::StaleWelcome),
        AttackKind::NonLeaderCommit => Box::new(commit::NonLeaderCommit),
        AttackKind::ForgedAnnouncement => Box::new(forged::ForgedAnnouncement),
        AttackKind::FalseLeaderLeft => Box::new(forged::FalseLeaderLeft::default()),
        AttackKind::Oversized => Box::new(forged::Oversized),
        AttackKind::TamperFrame => Box::new(frame::FrameAttacks::new(kind)),
        AttackKind::ReplayFrame => Box::new(frame::FrameAttacks::new(kind)),
        AttackKind::RelabelFrame => Box::new(frame::FrameAttacks::new(kind)),
        AttackKind::SplitView => Box::new(split::SplitView::default()),
        AttackKind::ForkNonce => Box::new(partition::ForkNonce::default()),
        AttackKind::PartitionRemoved => Box::new(partition::PartitionRemoved::default()),
        AttackKind::Memory => Box::new(flood::Memory::default()),
        AttackKind::ForgedGap => Box::new(flood::ForgedGap::default()),
        AttackKind::DropHandover => Box::new(handover::DropHandover::default()),
        AttackKind::RelayMember => Box::new(admission::RelayMember::default()),
        AttackKind::StaleAnnouncement => Box::new(admission::StaleAnnouncement::default()),
        AttackKind::RemovedRejoin => Box::new(admission::RemovedRejoin::default()),
        AttackKind::FalseHint => Box::new(hint::FalseHint::default()),
    }
}

/// What a participant shows: everything an accepted forgery would change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    epoch: u64,
    transcript: [u8; 32],
    code: Option<String>,
    leader_leaf: u32,
    roster: Vec<String>,
    locked: bool,
}

fn views(r: &Runner) -> BTreeMap<String, View> {
    r.active()
        .into_iter()
        .map(|id| {
            let m = &r.sim().participants[&id];
            let v = View {
                epoch: m.epoch(),
                transcript: m.transcript_hash(),
                code: m.security_code(),
                leader_leaf: m.leader_leaf(),
                roster: m
                    .participants()
                    .into_iter()
                    .map(|p| p.participant_id)
                    .collect(),
                locked: m.is_locked(),
            };
            (id, v)
        })
        .collect()
}

/// Injects every message as the relay and records whether any participant's view changed.
fn inject_all(r: &mut Runner, f: &mut Findings, msgs: Vec<(String, Vec<u8>)>) {
    let before = views(r);
    for (to, p) in msgs {
        r.inject(&to, p);
    }
    let unchanged = views(r) == before;
    f.state_unchanged = Some(f.state_unchanged.unwrap_or(true) && unchanged);
}

/// The present members other than `leader` in `leader`'s roster, by rank (admission epoch,
/// leaf): the first is the successor (`spec/state-machine.md` 12.1).
fn ranked(r: &Runner, leader: &str) -> Vec<String> {
    let active = r.active();
    let Some(m) = r.sim().participants.get(leader) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, u32, String)> = m
        .participants()
        .into_iter()
        .filter(|p| p.participant_id != leader && active.contains(&p.participant_id))
        .map(|p| (p.admitted_epoch, p.leaf, p.participant_id))
        .collect();
    v.sort();
    v.into_iter().map(|x| x.2).collect()
}

/// The leader of an agreed meeting, or `None` while the members disagree.
fn agreed_leader(r: &Runner) -> Option<String> {
    r.converged()?;
    r.leader()
}

/// Every active, running participant that considers itself leader.
fn leaders(r: &Runner) -> Vec<String> {
    r.active()
        .into_iter()
        .filter(|id| r.sim().participants.get(id).is_some_and(|m| m.is_leader()))
        .collect()
}

/// Events since index `from` that match `pred`.
fn count_events(r: &Runner, from: usize, pred: impl Fn(&str, &Event) -> bool) -> u64 {
    r.sim()
        .events
        .iter()
        .skip(from)
        .filter(|(id, e)| pred(id, e))
        .count() as u64
}
