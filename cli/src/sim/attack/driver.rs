//! Drives an attack from the scenario's loop: when it starts, its steps, its end, and its
//! report (the rejections the engines reported while it ran, the attack's own findings and,
//! for attacks that must be prevented, the confidentiality ledger's verdict).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Attack, AttackKind, Findings, Flavor, build};
use crate::CliError;
use crate::sim::records::{AttackReport, Detection, RejectionRecord, plural};
use crate::sim::runner::Runner;

/// Heartbeat intervals an attack that must be prevented waits for an agreed meeting with a
/// leader before it gives up (and counts as not detected).
const START_PATIENCE_INTERVALS: u32 = 20;
/// Control-message rejections shown as evidence of a detected attack.
const CONTROL_EVIDENCE: usize = 8;
/// Frame rejections shown as evidence of a detected attack.
const FRAME_EVIDENCE: usize = 6;
/// Control-message rejections shown as evidence of a prevented attack.
const PREVENTED_EVIDENCE: usize = 6;

/// A running attack.
pub(crate) struct Driver {
    kind: AttackKind,
    at: Duration,
    attack: Box<dyn Attack>,
    findings: Findings,
    started: Option<Duration>,
    finished: bool,
    /// When it finished (report seconds): the time of a prevented attack's verdict evidence.
    finished_t: f64,
    rejections: (usize, usize),
}

impl Driver {
    /// The attack of `kind`, mounted at `at` (or as soon after as it can start).
    pub fn new(kind: AttackKind, at: Duration) -> Self {
        Self {
            kind,
            at,
            attack: build(kind),
            findings: Findings::default(),
            started: None,
            finished: false,
            finished_t: 0.0,
            rejections: (0, 0),
        }
    }

    /// Whether the attack is over.
    pub fn done(&self) -> bool {
        self.finished
    }

    /// Advances the attack at the current virtual time.
    pub fn step(&mut self, r: &mut Runner) -> Result<(), CliError> {
        if self.finished || r.sim().now < self.at {
            return Ok(());
        }
        let Some(started) = self.started else {
            return self.try_start(r);
        };
        let elapsed = r.sim().now.saturating_sub(started);
        if self.attack.step(r, &mut self.findings, elapsed)? {
            self.end(r);
        }
        Ok(())
    }

    fn try_start(&mut self, r: &mut Runner) -> Result<(), CliError> {
        let detected = self.attack.flavor() == Flavor::Detected;
        if !detected
            && r.sim().now >= self.at + r.config.heartbeat_interval * START_PATIENCE_INTERVALS
        {
            self.finished = true;
            r.note(
                "attack",
                format!("ATTACK {}: never started", self.kind.name()),
            );
            return Ok(());
        }
        if detected {
            // Frame rejections count only while the attack runs.
            r.frame_detections.clear();
            r.frame_detection_counts.clear();
        }
        let rejections = r.rejections.len();
        if let Some(text) = self.attack.start(r, &mut self.findings)? {
            self.started = Some(r.sim().now);
            self.rejections.0 = rejections;
            r.note("attack", format!("ATTACK {}: {text}", self.kind.name()));
            if self.attack.one_shot() {
                self.end(r);
            }
        }
        Ok(())
    }

    fn end(&mut self, r: &mut Runner) {
        r.settle();
        self.rejections.1 = r.rejections.len();
        self.finished = true;
        self.finished_t = r.t();
        let n = self.rejections.1.saturating_sub(self.rejections.0);
        let text = match self.attack.flavor() {
            Flavor::Detected => {
                let f: u64 = r.frame_detection_counts.values().sum();
                format!(
                    "attack over: {n} control message rejection{}, {f} frame rejection{}",
                    plural(n),
                    plural(f as usize)
                )
            }
            Flavor::Prevented => format!("attack over: {n} control message rejection(s)"),
        };
        r.note("attack", text);
    }

    /// The control-message rejections while the attack ran (until now if it is still running).
    fn rejected<'a>(&self, r: &'a Runner) -> &'a [RejectionRecord] {
        let end = if self.finished {
            self.rejections.1
        } else {
            r.rejections.len()
        };
        r.rejections
            .get(self.rejections.0.min(end)..end.min(r.rejections.len()))
            .unwrap_or_default()
    }

    /// The attack's outcome.
    pub fn report(&self, r: &Runner) -> AttackReport {
        match self.attack.flavor() {
            Flavor::Detected => self.detected_report(r),
            Flavor::Prevented => self.prevented_report(r),
        }
    }

    fn detected_report(&self, r: &Runner) -> AttackReport {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut evidence = Vec::new();
        let mut shown: BTreeSet<(String, String)> = BTreeSet::new();
        for x in self.rejected(r) {
            *counts.entry(x.kind.clone()).or_default() += 1;
            if evidence.len() < CONTROL_EVIDENCE && shown.insert((x.at.clone(), x.kind.clone())) {
                evidence.push(control_evidence(x));
            }
        }
        for (k, v) in &r.frame_detection_counts {
            *counts.entry(k.clone()).or_default() += v;
        }
        let expected = self.attack.expected();
        // Frame evidence: the expected kinds first.
        let mut frames: Vec<&Detection> = r.frame_detections.iter().collect();
        frames.sort_by_key(|d| !expected.contains(&d.kind.as_str()));
        evidence.extend(frames.into_iter().take(FRAME_EVIDENCE).cloned());
        let mut f = self.findings.clone();
        f.evidence.clear();
        f.seen_expected = expected.iter().any(|k| counts.contains_key(*k));
        f.finished = self.finished;
        if let Some(u) = self.findings.state_unchanged {
            f.notes.push(if u {
                "no participant's epoch, transcript, security code, leader or roster changed"
                    .to_string()
            } else {
                "a forged message CHANGED a participant's state".to_string()
            });
        }
        let detected = self.attack.verdict(r, &mut f);
        evidence.append(&mut f.evidence);
        AttackReport {
            kind: self.kind.name().to_string(),
            description: self.kind.description(),
            detected,
            expected: expected.iter().map(|s| s.to_string()).collect(),
            rejections: counts,
            evidence,
            notes: f.notes,
            metrics: f.metrics,
        }
    }

    /// The outcome of an attack that must be prevented, with the ledger's verdict over the
    /// whole run.
    fn prevented_report(&self, r: &Runner) -> AttackReport {
        let mut f = self.findings.clone();
        let rejected = self.rejected(r);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for x in rejected {
            *counts.entry(x.kind.clone()).or_default() += 1;
        }
        let mut shown = 0;
        for x in rejected {
            if shown >= PREVENTED_EVIDENCE {
                break;
            }
            if f.evidence.iter().any(|d| d.at == x.at && d.kind == x.kind) {
                continue;
            }
            shown += 1;
            f.evidence.push(control_evidence(x));
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
            description: self.kind.description(),
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

fn control_evidence(x: &RejectionRecord) -> Detection {
    Detection {
        t: x.t,
        at: x.at.clone(),
        from: x.from.clone(),
        what: "control message".into(),
        kind: x.kind.clone(),
        error: x.error.clone(),
    }
}

/// Adds the ledger's verdict over the whole run to `f`; returns whether it is clean.
fn ledger_verdict(r: &Runner, f: &mut Findings) -> bool {
    let l = r.ledger();
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
