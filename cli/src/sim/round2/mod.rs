//! The attacks of security round 2 (`spec/security.md` section 1.6) in `conclave simulate
//! --attack`: starving the successor, partitioning a removed member with a friend, filling the
//! commit buffer, forging an epoch gap, dropping the handover commit, and the attacks on
//! admission (a relay-registered participant, a replayed announcement, a removed member's
//! rejoin).
//!
//! Each attack implements [`Round2Attack`]; [`Round2`] drives it from the runner's loop, keeps
//! the evidence and builds the report. Whatever an attack's own verdict, the confidentiality
//! ledger ([`conclave_core::sim::Ledger`], run over the whole simulation by the runner) must be
//! clean for it to count as prevented.

mod admission;
mod flood;
mod handover;
mod partition;

use std::collections::BTreeMap;
use std::time::Duration;

use conclave_core::meeting::Event;

use super::Runner;
use super::attack::{AttackKind, AttackState};
use super::report::{AttackReport, Detection};
use crate::CliError;

pub(crate) use admission::allow_invitees;

/// Heartbeat intervals an attack waits for an agreed meeting with a leader before it gives up
/// (and counts as not detected).
const START_PATIENCE_INTERVALS: u32 = 20;

/// What an attack found, shown in the report.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Observations, in order.
    pub notes: Vec<String>,
    /// Evidence of prevention or detection (besides the rejections, added by the driver).
    pub evidence: Vec<Detection>,
    /// Numbers the tests and readers check (peaks, counts).
    pub metrics: BTreeMap<String, u64>,
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
}

/// One attack of round 2.
pub(crate) trait Round2Attack {
    /// The error kinds (or outcome names) that count as detection, for the report.
    fn expected(&self) -> &'static [&'static str];
    /// Mounts the attack at the current virtual time and says what the relay does, or returns
    /// `None` to try again at the next step (no leader yet, no agreement yet).
    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError>;
    /// Advances the attack `elapsed` after its start; returns whether it is over.
    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError>;
    /// Whether the engines prevented or detected it (the driver adds the ledger's verdict).
    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool;
}

/// Drives a round-2 attack: when it starts, its steps, its report.
pub(crate) struct Round2 {
    kind: AttackKind,
    at: Duration,
    attack: Box<dyn Round2Attack>,
    findings: Findings,
    started: Option<Duration>,
    finished: bool,
    /// When it finished (report seconds): the time of the verdict's evidence.
    finished_t: f64,
    rejections: (usize, usize),
}

impl Round2 {
    /// The driver of `kind`, if it is an attack of round 2.
    pub fn new(kind: AttackKind, at: Duration) -> Option<Self> {
        let attack: Box<dyn Round2Attack> = match kind {
            AttackKind::ForkNonce => Box::new(partition::ForkNonce::default()),
            AttackKind::PartitionRemoved => Box::new(partition::PartitionRemoved::default()),
            AttackKind::Memory => Box::new(flood::Memory::default()),
            AttackKind::ForgedGap => Box::new(flood::ForgedGap::default()),
            AttackKind::DropHandover => Box::new(handover::DropHandover::default()),
            AttackKind::RelayMember => Box::new(admission::RelayMember::default()),
            AttackKind::StaleAnnouncement => Box::new(admission::StaleAnnouncement::default()),
            AttackKind::RemovedRejoin => Box::new(admission::RemovedRejoin::default()),
            _ => return None,
        };
        Some(Self {
            kind,
            at,
            attack,
            findings: Findings::default(),
            started: None,
            finished: false,
            finished_t: 0.0,
            rejections: (0, 0),
        })
    }

    /// Whether the attack is over.
    pub fn done(&self) -> bool {
        self.finished
    }

    /// Advances the attack at the current virtual time.
    pub fn step(&mut self, r: &mut Runner) -> Result<(), CliError> {
        if self.finished || r.sim.now < self.at {
            return Ok(());
        }
        let Some(started) = self.started else {
            if r.sim.now >= self.at + r.config.heartbeat_interval * START_PATIENCE_INTERVALS {
                self.finished = true;
                r.note(
                    "attack",
                    format!("ATTACK {}: never started", self.kind.name()),
                );
                return Ok(());
            }
            let rejections = r.rejections.len();
            if let Some(text) = self.attack.start(r, &mut self.findings)? {
                self.started = Some(r.sim.now);
                self.rejections.0 = rejections;
                r.note("attack", format!("ATTACK {}: {text}", self.kind.name()));
            }
            return Ok(());
        };
        let elapsed = r.sim.now.saturating_sub(started);
        if self.attack.step(r, &mut self.findings, elapsed)? {
            r.settle();
            self.rejections.1 = r.rejections.len();
            self.finished = true;
            self.finished_t = r.t();
            let n = self.rejections.1.saturating_sub(self.rejections.0);
            r.note(
                "attack",
                format!("attack over: {n} control message rejection(s)"),
            );
        }
        Ok(())
    }

    /// The attack's outcome, with the ledger's verdict over the whole run.
    pub fn report(&self, r: &Runner, description: String) -> AttackReport {
        let mut f = Findings {
            notes: self.findings.notes.clone(),
            evidence: self.findings.evidence.clone(),
            metrics: self.findings.metrics.clone(),
        };
        let end = if self.finished {
            self.rejections.1
        } else {
            r.rejections.len()
        };
        let rejected = r
            .rejections
            .get(self.rejections.0.min(end)..end.min(r.rejections.len()))
            .unwrap_or_default();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for x in rejected {
            *counts.entry(x.kind.clone()).or_default() += 1;
        }
        let mut shown = 0;
        for x in rejected {
            if shown >= 6 {
                break;
            }
            if f.evidence.iter().any(|d| d.at == x.at && d.kind == x.kind) {
                continue;
            }
            shown += 1;
            f.evidence.push(Detection {
                t: x.t,
                at: x.at.clone(),
                from: x.from.clone(),
                what: "control message".into(),
                kind: x.kind.clone(),
                error: x.error.clone(),
            });
        }
        let shown_before = f.evidence.len();
        let own = self.started.is_some() && self.attack.verdict(r, &mut f);
        if self.finished {
            for d in f.evidence.iter_mut().skip(shown_before) {
                d.t = self.finished_t;
            }
        }
        let ledger_clean = ledger_verdict(r, &mut f);
        if self.started.is_none() {
            f.notes
                .push("the attack never started (no agreed meeting with a leader)".into());
        }
        AttackReport {
            kind: self.kind.name().to_string(),
            description,
            detected: own && ledger_clean && self.finished,
            expected: self
                .attack
                .expected()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rejections: counts,
            evidence: f.evidence,
            notes: f.notes,
            metrics: f.metrics,
        }
    }
}

/// Adds the ledger's verdict over the whole run to `f`; returns whether it is clean.
fn ledger_verdict(r: &Runner, f: &mut Findings) -> bool {
    let l = &r.ledger;
    f.metric("ledger_frames_sealed", l.frames_sealed);
    f.metric("ledger_violations", l.violations.len() as u64);
    let clean = l.violations.is_empty() && l.frames_sealed > 0;
    if clean {
        f.notes.push(format!(
            "confidentiality ledger over the whole run: {} frames sealed and identified, no \
             (key, nonce) sealed twice, no removed member held a later epoch",
            l.frames_sealed
        ));
    } else if l.violations.is_empty() {
        f.notes
            .push("confidentiality ledger: NO frame sealed, nothing was checked".into());
    } else {
        f.notes.push(format!(
            "confidentiality ledger: {} VIOLATION(S): {}",
            l.violations.len(),
            l.violations
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    clean
}

/// The present members other than `leader` in `leader`'s roster, by rank (admission epoch,
/// leaf): the first is the successor (`spec/state-machine.md` 12.1).
pub(crate) fn ranked(r: &Runner, leader: &str) -> Vec<String> {
    let active = r.active();
    let Some(m) = r.sim.participants.get(leader) else {
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
pub(crate) fn agreed_leader(r: &Runner) -> Option<String> {
    r.converged()?;
    r.leader()
}

/// Every active, running participant that considers itself leader.
pub(crate) fn leaders(r: &Runner) -> Vec<String> {
    r.active()
        .into_iter()
        .filter(|id| r.sim.participants.get(id).is_some_and(|m| m.is_leader()))
        .collect()
}

/// Events since index `from` that match `pred`.
pub(crate) fn count_events(r: &Runner, from: usize, pred: impl Fn(&str, &Event) -> bool) -> u64 {
    r.sim
        .events
        .iter()
        .skip(from)
        .filter(|(id, e)| pred(id, e))
        .count() as u64
}

/// Injects `payload` to `to` as the relay (scanned, counted, delivered without the tap).
pub(crate) fn inject(r: &mut Runner, to: &str, payload: Vec<u8>) {
    AttackState::inject(r, to, payload);
}
