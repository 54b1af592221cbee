//! Follows the soak as it runs: each change until the participants agree with it reflected, the
//! drops on each change's path (for the bound), the per-minute samples, and the periods without
//! agreement with a trace of what happened in them (drops, retries, timers, rejections).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use conclave_core::meeting::{Event, RemovalReason};
use serde::Serialize;

use crate::sim::runner::{Dropped, Runner, message_kind};

/// Longest periods without agreement kept with their trace.
pub const MAX_OUTAGES_KEPT: usize = 5;
/// Most trace lines kept per period without agreement (the rest are counted).
pub const MAX_TRACE_LINES: usize = 80;
/// Most participants named in one trace line.
const MAX_NAMED: usize = 4;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new identity joins.
    Join,
    /// An earlier leaver joins again with its identity (ANN-10 freshness applies).
    Rejoin,
    /// A member (not the leader) leaves.
    Leave,
    /// The leader leaves (a handover, HO-1).
    LeaderLeave,
}

/// One change and how long agreement took.
#[derive(Debug, Clone)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// Who joined or left.
    pub who: String,
    /// When (virtual time of the run).
    pub at: Duration,
    /// When the participants agreed with the change reflected.
    pub agreed: Option<Duration>,
    /// The subject and every participant that was out of agreement while the change was
    /// pending.
    involved: BTreeSet<String>,
    /// Messages dropped to or from an involved participant while the change was pending, by
    /// kind.
    pub path_drops: BTreeMap<&'static str, u32>,
    /// The changes still pending when this one was made (agreement includes them).
    pub behind: Vec<usize>,
}

/// A line of an outage's trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceLine {
    /// Virtual seconds since the soak started.
    pub t: f64,
    /// What happened.
    pub text: String,
}

/// A period without agreement.
#[derive(Debug, Clone, Serialize)]
pub struct Outage {
    /// Start (virtual seconds since the soak started).
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// Length.
    pub duration_s: f64,
    /// What happened, in order.
    pub trace: Vec<TraceLine>,
    /// Trace lines left out (beyond `MAX_TRACE_LINES`).
    pub trace_left_out: u32,
}

/// The soak's observations.
pub struct Tracker {
    start: Duration,
    /// Every change, in order.
    pub changes: Vec<Change>,
    pending: Vec<usize>,
    /// Per-minute samples: (minute end, whether the participants agreed then).
    pub samples: Vec<(f64, bool)>,
    ok: bool,
    staged: Vec<TraceLine>,
    current: Option<Outage>,
    /// The longest periods without agreement, longest first.
    pub outages: Vec<Outage>,
    /// Number of periods without agreement.
    pub outage_count: u64,
    /// Their total length.
    pub outage_total: Duration,
    event_cursor: usize,
    rejection_cursor: usize,
    log_cursor: usize,
    /// Events of the soak by kind (summed over participants).
    pub event_counts: BTreeMap<String, u64>,
    /// Drops of the soak by message kind.
    pub drop_counts: BTreeMap<&'static str, u64>,
}

impl Tracker {
    /// A tracker starting at `start`, ignoring what happened before.
    pub fn new(r: &Runner, start: Duration) -> Self {
        Self {
            start,
            changes: Vec::new(),
            pending: Vec::new(),
            samples: Vec::new(),
            ok: true,
            staged: Vec::new(),
            current: None,
            outages: Vec::new(),
            outage_count: 0,
            outage_total: Duration::ZERO,
            event_cursor: r.sim().events.len(),
            rejection_cursor: r.rejections.len(),
            log_cursor: r.control_log().len(),
            event_counts: BTreeMap::new(),
            drop_counts: BTreeMap::new(),
        }
    }

    /// When the soak started.
    pub fn start(&self) -> Duration {
        self.start
    }

    fn t(&self, at: Duration) -> f64 {
        at.saturating_sub(self.start).as_secs_f64()
    }

    fn line(&mut self, at: Duration, text: String) {
        let t = self.t(at);
        self.staged.push(TraceLine { t, text });
    }

    /// Records a change about to be made.
    pub fn changed(&mut self, r: &Runner, kind: ChangeKind, who: &str) {
        let at = r.sim().now;
        let behind = self.pending.clone();
        self.pending.push(self.changes.len());
        self.changes.push(Change {
            kind,
            who: who.to_string(),
            at,
            agreed: None,
            involved: BTreeSet::from([who.to_string()]),
            path_drops: BTreeMap::new(),
            behind,
        });
        let leader = r.leader().unwrap_or_default();
        self.line(
            at,
            format!(
                "CHANGE {kind:?}: {who} (leader {leader}, epoch {})",
                epoch(r)
            ),
        );
    }

    /// Whether no change waits for agreement.
    pub fn idle(&self) -> bool {
        self.pending.is_empty() && self.ok
    }

    /// Takes a per-minute sample.
    pub fn sample(&mut self, now: Duration) {
        let t = self.t(now);
        self.samples.push((t, self.ok));
    }

    /// Looks at the meeting after a step at the current time.
    pub fn observe(&mut self, r: &mut Runner) {
        let now = r.sim().now;
        let leader = r.leader();
        // Messages to `Leader` reach everyone in the simulation; only the leader's copy counts.
        let drops: Vec<Dropped> = r
            .take_drops()
            .into_iter()
            .filter(|d| {
                !matches!(
                    d.kind,
                    "LivenessNonce" | "Announcement" | "Leave" | "ResyncRequest"
                ) || leader.as_deref() == Some(d.to.as_str())
            })
            .collect();
        let laggards = laggards(r);
        for d in &drops {
            *self.drop_counts.entry(d.kind).or_default() += 1;
        }
        for &i in &self.pending {
            let Some(c) = self.changes.get_mut(i) else {
                continue;
            };
            c.involved.extend(laggards.iter().cloned());
            for d in &drops {
                // Acknowledgements to the leader are on every change's path (STB-2).
                let ack = d.kind == "LivenessNonce";
                if ack || c.involved.contains(&d.from) || c.involved.contains(&d.to) {
                    *c.path_drops.entry(d.kind).or_default() += 1;
                }
            }
        }
        self.trace_step(r, &drops, &laggards);
        let settled = r.settled_down();
        let mut still = Vec::new();
        let mut agreed = Vec::new();
        for i in std::mem::take(&mut self.pending) {
            match self.changes.get_mut(i) {
                Some(c) if settled && reflected(r, c) => {
                    c.agreed = Some(now);
                    let took = now.saturating_sub(c.at).as_secs_f64();
                    agreed.push(format!(
                        "AGREED on {:?} of {} after {took:.2} s",
                        c.kind, c.who
                    ));
                }
                Some(_) => still.push(i),
                None => {}
            }
        }
        for text in agreed {
            self.line(now, text);
        }
        self.pending = still;
        self.ok = settled && self.pending.is_empty();
        self.track_outage(now);
    }

    fn track_outage(&mut self, now: Duration) {
        let staged = std::mem::take(&mut self.staged);
        if self.ok {
            if let Some(mut o) = self.current.take() {
                push_lines(&mut o, staged);
                o.end_s = self.t(now);
                o.duration_s = o.end_s - o.start_s;
                self.outage_count += 1;
                self.outage_total += Duration::from_secs_f64(o.duration_s.max(0.0));
                self.outages.push(o);
                self.outages
                    .sort_by(|a, b| b.duration_s.total_cmp(&a.duration_s));
                self.outages.truncate(MAX_OUTAGES_KEPT);
            }
            return;
        }
        let start_s = self.t(now);
        let o = self.current.get_or_insert_with(|| Outage {
            start_s,
            end_s: start_s,
            duration_s: 0.0,
            trace: Vec::new(),
            trace_left_out: 0,
        });
        push_lines(o, staged);
    }

    /// The trace lines of one step: drops on a pending change's path, events (other than
    /// routine key changes), rejections, and retransmissions of join and resync messages.
    fn trace_step(&mut self, r: &Runner, drops: &[Dropped], lag: &BTreeSet<String>) {
        let now = r.sim().now;
        let mut involved: BTreeSet<String> = lag.clone();
        for &i in &self.pending {
            if let Some(c) = self.changes.get(i) {
                involved.extend(c.involved.iter().cloned());
            }
        }
        let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in drops {
            if involved.contains(&d.from) || involved.contains(&d.to) {
                grouped
                    .entry(format!("DROPPED {} from {}", d.kind, d.from))
                    .or_default()
                    .push(d.to.clone());
            }
        }
        let events: Vec<(String, Event)> = r
            .sim()
            .events
            .get(self.event_cursor..)
            .unwrap_or_default()
            .to_vec();
        self.event_cursor = r.sim().events.len();
        for (id, e) in events {
            let Some(text) = describe(&e) else { continue };
            let name = text
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string();
            *self.event_counts.entry(name).or_default() += 1;
            grouped.entry(format!("EVENT {text}")).or_default().push(id);
        }
        let rejections: Vec<String> = r
            .rejections
            .get(self.rejection_cursor..)
            .unwrap_or_default()
            .iter()
            .map(|x| {
                format!(
                    "REJECTED by {} from {}: {} [{}]",
                    x.at, x.from, x.error, x.kind
                )
            })
            .collect();
        self.rejection_cursor = r.rejections.len();
        let sent: Vec<String> = r
            .control_log()
            .get(self.log_cursor..)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                let k = message_kind(&m.payload);
                matches!(
                    k,
                    "Announcement" | "ResyncRequest" | "Leave" | "FailoverVote"
                )
                .then(|| format!("SENT {k} by {}", m.from))
            })
            .collect();
        self.log_cursor = r.control_log().len();
        for (text, who) in grouped {
            let mut names: Vec<String> = who.iter().take(MAX_NAMED).cloned().collect();
            if who.len() > MAX_NAMED {
                names.push(format!("and {} more", who.len() - MAX_NAMED));
            }
            let text = if text.starts_with("DROPPED") {
                format!("{text} to {}", names.join(", "))
            } else {
                format!("{text} (at {})", names.join(", "))
            };
            self.line(now, text);
        }
        for text in rejections.into_iter().chain(sent) {
            self.line(now, text);
        }
    }
}

fn push_lines(o: &mut Outage, lines: Vec<TraceLine>) {
    for l in lines {
        if o.trace.len() < MAX_TRACE_LINES {
            o.trace.push(l);
        } else {
            o.trace_left_out = o.trace_left_out.saturating_add(1);
        }
    }
}

/// An event as a trace line, or `None` for the routine ones (new keys, send switches, roster
/// additions and the events of a participant's own departure).
fn describe(e: &Event) -> Option<String> {
    match e {
        Event::EpochChanged { .. }
        | Event::SendEpoch { .. }
        | Event::ParticipantAdded { .. }
        | Event::SendingResumed { .. }
        | Event::Ended {
            reason: RemovalReason::Left,
        } => None,
        other => Some(format!("{other:?}")),
    }
}

/// The leader's epoch (0 without a leader).
fn epoch(r: &Runner) -> u64 {
    r.leader()
        .and_then(|l| r.sim().participants.get(&l).map(|m| m.epoch()))
        .unwrap_or(0)
}

/// Participants that should be in the meeting and do not share the leader's epoch state (all of
/// them when there is no leader).
fn laggards(r: &Runner) -> BTreeSet<String> {
    let sim = r.sim();
    let state = |id: &str| {
        sim.participants
            .get(id)
            .filter(|m| m.is_active())
            .and_then(|m| Some((m.epoch(), m.transcript_hash(), m.security_code()?)))
    };
    let reference = r.leader().and_then(|l| state(&l));
    sim.participants
        .keys()
        .filter(|id| !r.leavers.contains(*id) && !r.paused.contains(*id))
        .filter(|id| reference.is_none() || state(id) != reference)
        .cloned()
        .collect()
}

/// Whether the change is reflected: a joiner is active (its agreement is then checked by
/// `settled_down`), a leaver is out of the leader's roster (or back in by a later rejoin).
fn reflected(r: &Runner, c: &Change) -> bool {
    let sim = r.sim();
    match c.kind {
        ChangeKind::Join | ChangeKind::Rejoin => {
            sim.participants.get(&c.who).is_some_and(|m| m.is_active())
        }
        ChangeKind::Leave | ChangeKind::LeaderLeave => {
            if !r.leavers.contains(&c.who) {
                return sim.participants.get(&c.who).is_some_and(|m| m.is_active());
            }
            r.leader()
                .and_then(|l| sim.participants.get(&l))
                .is_some_and(|m| m.participants().iter().all(|p| p.participant_id != c.who))
        }
    }
}
