//! The report of `conclave simulate`: built from a run summary, printed as text
//! (`render`) or JSON.

mod render;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::attack::AttackKind;
use super::records::{AttackReport, TimelineEntry};
use super::runner::RunSummary;
use super::scan::Finding;

/// The run's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Participants at the largest.
    pub participants: u32,
    /// Virtual seconds of the main media phase.
    pub duration_s: f64,
    /// Loss rate of the relay (percent).
    pub loss_percent: f64,
    /// The seed.
    pub seed: u64,
    /// Heartbeat interval (virtual ms).
    pub heartbeat_ms: u64,
    /// The attack mounted, if any.
    pub attack: Option<AttackKind>,
    /// Whether the relay told the others when the leader's connection closed (VOTE-0).
    pub relay_hint: bool,
}

/// Security codes of one epoch.
#[derive(Debug, Clone, Serialize)]
pub struct CodeGroup {
    /// The security code.
    pub code: String,
    /// Who showed it.
    pub members: Vec<String>,
}

/// One epoch.
#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    /// The epoch number.
    pub epoch: u64,
    /// When a participant first installed it (virtual seconds).
    pub first_seen_s: f64,
    /// How many participants installed it.
    pub members: usize,
    /// Whether they all show the same security code.
    pub agree: bool,
    /// The code, when they agree.
    pub security_code: Option<String>,
    /// Every code shown, with who showed it.
    pub codes: Vec<CodeGroup>,
}

/// Frame rejections by reason (from `FrameCrypto::diagnostics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rejected {
    /// All rejections.
    pub total: u64,
    /// Tag did not verify.
    pub tampered: u64,
    /// Counter already seen.
    pub replayed: u64,
    /// Below the replay window or epoch dropped.
    pub too_old: u64,
    /// Epoch not installed yet (or no keys).
    pub unknown_epoch: u64,
    /// Malformed, unknown sender, too large.
    pub malformed: u64,
    /// Own sender index.
    pub own_frame: u64,
    /// Too many streams.
    pub stream_limit: u64,
}

/// Media frames.
#[derive(Debug, Clone, Serialize)]
pub struct FramesReport {
    /// Frames encrypted and sent.
    pub sent: u64,
    /// Audio frames sent.
    pub audio_sent: u64,
    /// Video frames sent.
    pub video_sent: u64,
    /// Encrypted bytes sent.
    pub bytes_sent: u64,
    /// Copies the relay forwarded to receivers.
    pub forwarded: u64,
    /// Copies the relay dropped.
    pub dropped_by_relay: u64,
    /// Forged or replayed copies the relay added.
    pub injected_by_relay: u64,
    /// Frames decrypted (diagnostics of every receiver).
    pub decrypted: u64,
    /// Frames rejected, by reason.
    pub rejected: Rejected,
    /// Decrypted plaintexts that differed from what was sent.
    pub plaintext_mismatches: u64,
    /// Of the rejections, frames sealed in the epoch before the receiver joined.
    pub rejected_before_join: u64,
}

/// Control messages.
#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    /// Messages the relay received (one per recipient).
    pub carried_messages: u64,
    /// Their bytes.
    pub carried_bytes: u64,
    /// Messages delivered to participants.
    pub delivered_messages: u64,
    /// Their bytes.
    pub delivered_bytes: u64,
    /// Messages the relay dropped.
    pub dropped_by_relay: u64,
    /// Messages participants rejected.
    pub rejected: u64,
    /// Rejections by error type.
    pub rejected_by_kind: BTreeMap<String, u64>,
}

/// What the scan of the relay's bytes found.
#[derive(Debug, Clone, Serialize)]
pub struct LeakReport {
    /// Bytes scanned (control messages and frames).
    pub bytes_scanned: u64,
    /// Messages and frames scanned.
    pub messages_scanned: u64,
    /// Distinct secrets and plaintext markers looked for.
    pub secrets_checked: u64,
    /// Needles by category.
    pub by_category: BTreeMap<String, u64>,
    /// Epochs whose secrets were collected.
    pub epochs_checked: u64,
    /// Plaintext occurrences found (must be 0).
    pub plaintext_leaks: u64,
    /// Key and secret occurrences found (must be 0).
    pub secret_leaks: u64,
    /// The first findings.
    pub findings: Vec<Finding>,
    /// Whether the scanner finds a frame secret planted on purpose.
    pub self_test_passed: bool,
    /// Frames the confidentiality ledger made every sender seal and identified.
    pub ledger_frames_sealed: u64,
    /// Violations of FR-SEND or durable removal the ledger found (must be empty).
    pub ledger_violations: Vec<String>,
}

/// Whether the members agree.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementReport {
    /// Every epoch was shown with a single security code.
    pub all_epochs_agree: bool,
    /// At the end, every running member holds the same epoch, transcript and code.
    pub converged: bool,
    /// The final epoch, if converged.
    pub final_epoch: Option<u64>,
    /// Its security code.
    pub final_security_code: Option<String>,
    /// The running members at the end.
    pub final_members: Vec<String>,
    /// The leader at the end.
    pub leader: Option<String>,
}

/// Time the run took.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Virtual seconds simulated.
    pub virtual_time_s: f64,
    /// Wall-clock seconds.
    pub wall_time_s: f64,
    /// Process CPU seconds (Linux).
    pub cpu_time_s: Option<f64>,
}

/// Everything `conclave simulate` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Settings.
    pub settings: Option<Settings>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
    /// Every epoch with its codes.
    pub epochs: Vec<EpochReport>,
    /// Media frames.
    pub frames: FramesReport,
    /// Control messages.
    pub control: ControlReport,
    /// The scan for keys and plaintexts.
    pub leak_check: LeakReport,
    /// Agreement of the security codes.
    pub agreement: AgreementReport,
    /// The attack, with `--attack`.
    pub attack: Option<AttackReport>,
    /// Time.
    pub run: RunReport,
}

impl Report {
    /// Builds the report from a finished run.
    pub fn new(s: RunSummary, attack: Option<AttackReport>) -> Self {
        let epochs = epoch_reports(&s);
        let leak_check = leak_report(&s);
        let timeline = timeline(s.timeline, &epochs);
        let f = &s.frames;
        let rej = &s.frames_rejected;
        let frames = FramesReport {
            sent: f.audio_sent + f.video_sent,
            audio_sent: f.audio_sent,
            video_sent: f.video_sent,
            bytes_sent: f.bytes_sent,
            forwarded: f.forwarded,
            dropped_by_relay: f.dropped,
            injected_by_relay: f.injected,
            decrypted: s.frames_decrypted,
            rejected: Rejected {
                total: rej.total(),
                tampered: rej.tampered,
                replayed: rej.replayed,
                too_old: rej.too_old,
                unknown_epoch: rej.unknown_epoch,
                malformed: rej.malformed,
                own_frame: rej.own_frame,
                stream_limit: rej.stream_limit,
            },
            plaintext_mismatches: f.plaintext_mismatches,
            rejected_before_join: f.before_join,
        };
        let mut rejected_by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for x in &s.rejections {
            *rejected_by_kind.entry(x.kind.clone()).or_default() += 1;
        }
        let control = ControlReport {
            carried_messages: s.carried.0,
            carried_bytes: s.carried.1,
            delivered_messages: s.delivered.0,
            delivered_bytes: s.delivered.1,
            dropped_by_relay: s.dropped,
            rejected: s.rejections.len() as u64,
            rejected_by_kind,
        };
        let agreement = AgreementReport {
            all_epochs_agree: epochs.iter().all(|e| e.agree),
            converged: s.converged.is_some(),
            final_epoch: s.converged,
            final_security_code: s.converged.and(s.final_code.clone()),
            final_members: s.active.clone(),
            leader: s.leader.clone(),
        };
        Report {
            settings: None,
            leak_check,
            timeline,
            epochs,
            frames,
            control,
            agreement,
            attack,
            run: RunReport {
                virtual_time_s: s.virtual_time_s,
                wall_time_s: 0.0,
                cpu_time_s: None,
            },
        }
    }

    /// Adds the settings and the time the run took.
    pub fn finish(mut self, settings: Settings, wall: Duration, cpu: Option<f64>) -> Self {
        self.settings = Some(settings);
        self.run.wall_time_s = wall.as_secs_f64();
        self.run.cpu_time_s = cpu;
        self
    }
}

fn epoch_reports(s: &RunSummary) -> Vec<EpochReport> {
    s.epochs
        .iter()
        .map(|(e, rec)| {
            let members: usize = rec.codes.values().map(|s| s.len()).sum();
            let agree = rec.codes.len() == 1;
            EpochReport {
                epoch: *e,
                first_seen_s: rec.first_seen,
                members,
                agree,
                security_code: agree.then(|| rec.codes.keys().next().cloned()).flatten(),
                codes: rec
                    .codes
                    .iter()
                    .map(|(c, m)| CodeGroup {
                        code: c.clone(),
                        members: m.iter().cloned().collect(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The timeline in order, with the text of each epoch line.
fn timeline(mut timeline: Vec<TimelineEntry>, epochs: &[EpochReport]) -> Vec<TimelineEntry> {
    // Within one instant: what was done, then what the members noticed, then the new
    // epoch, then sending resuming.
    timeline.sort_by(|a, b| {
        a.t.total_cmp(&b.t)
            .then(priority(a.kind).cmp(&priority(b.kind)))
    });
    for entry in &mut timeline {
        if let Some(e) = entry.epoch
            && let Some(rep) = epochs.iter().find(|x| x.epoch == e)
        {
            entry.text = epoch_line(e, rep);
        }
    }
    timeline
}

fn epoch_line(e: u64, rep: &EpochReport) -> String {
    if rep.agree {
        format!(
            "epoch {e}: security code {}  ({})",
            rep.security_code.clone().unwrap_or_default(),
            if rep.members == 1 {
                "1 member".to_string()
            } else {
                format!("all {} members show it", rep.members)
            }
        )
    } else {
        let groups: Vec<String> = rep
            .codes
            .iter()
            .map(|g| format!("{} show {}", g.members.join(", "), g.code))
            .collect();
        format!(
            "epoch {e}: {} DIFFERENT security codes: {}",
            rep.codes.len(),
            groups.join("; ")
        )
    }
}

fn leak_report(s: &RunSummary) -> LeakReport {
    let sc = &s.scanner;
    let plaintext_leaks = sc.found_in("media plaintext");
    LeakReport {
        bytes_scanned: sc.bytes_scanned,
        messages_scanned: sc.messages_scanned,
        secrets_checked: sc.len() as u64,
        by_category: sc
            .categories
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        epochs_checked: sc.categories.get("epoch secrets").copied().unwrap_or(0),
        plaintext_leaks,
        secret_leaks: sc.total_found() - plaintext_leaks,
        ledger_frames_sealed: s.ledger_frames_sealed,
        ledger_violations: s.ledger_violations.clone(),
        findings: sc.findings.clone(),
        self_test_passed: s.self_test_passed,
    }
}

fn priority(kind: &str) -> u8 {
    match kind {
        "create" | "join" | "leave" | "rotate" | "crash" | "attack" => 0,
        "heartbeat" | "paused" | "stale" | "rejected" => 1,
        "epoch" => 3,
        "resumed" | "resync" => 4,
        _ => 2,
    }
}
