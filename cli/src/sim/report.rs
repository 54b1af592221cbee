//! The report of `conclave simulate`: built from the runner, printed as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::scan::Finding;
use super::{
    AUDIO_BYTES, AUDIO_FPS, Runner, SimulateArgs, VIDEO_BYTES, VIDEO_FPS, attack::AttackKind,
};

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Virtual seconds since the meeting was created.
    pub t: f64,
    /// What kind of thing happened (`join`, `epoch`, `leader`, `attack`, ...).
    pub kind: &'static str,
    /// What happened.
    pub text: String,
    /// The epoch, for `epoch` entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// A rejection shown as evidence of an attack's detection.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// Virtual seconds since the meeting was created.
    pub t: f64,
    /// Who rejected it.
    pub at: String,
    /// Who sent it by the relay's account.
    pub from: String,
    /// `control message` or `frame`.
    pub what: String,
    /// The error's type.
    pub kind: String,
    /// The error message.
    pub error: String,
}

/// The outcome of `--attack`.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    /// The attack's name.
    pub kind: String,
    /// What the relay does.
    pub description: String,
    /// Whether the participants detected it (and nothing forged was accepted).
    pub detected: bool,
    /// The error types that count as detection.
    pub expected: Vec<String>,
    /// Rejections during the attack, by error type.
    pub rejections: BTreeMap<String, u64>,
    /// Examples: who rejected what, with the error.
    pub evidence: Vec<Detection>,
    /// Further observations.
    pub notes: Vec<String>,
    /// Numbers the attack measured (peaks, counts), by name; empty for most attacks.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, u64>,
}

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
    pub fn new(r: &mut Runner, attack: Option<AttackReport>) -> Self {
        // Control messages are scanned at the end, against every secret of the run.
        let log: Vec<(String, String, Vec<u8>)> = r
            .tap
            .borrow()
            .log
            .iter()
            .map(|m| (m.from.clone(), m.to.clone(), m.payload.clone()))
            .collect();
        for (from, to, p) in &log {
            r.scanner
                .scan(p, || format!("a control message from {from} to {to}"));
        }
        let self_test_passed = r.last_frame_secret.as_ref().is_some_and(|s| {
            let mut planted = b"some carried bytes ".to_vec();
            planted.extend_from_slice(s);
            planted.extend_from_slice(b" more bytes");
            r.scanner.contains_any(&planted)
        });

        let epochs: Vec<EpochReport> = r
            .epochs
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
            .collect();
        let mut timeline = r.timeline.clone();
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
                entry.text = if rep.agree {
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
                };
            }
        }

        let (decrypted, rej) = r.frame_diagnostics();
        let frames = FramesReport {
            sent: r.frames.audio_sent + r.frames.video_sent,
            audio_sent: r.frames.audio_sent,
            video_sent: r.frames.video_sent,
            bytes_sent: r.frames.bytes_sent,
            forwarded: r.frames.forwarded,
            dropped_by_relay: r.frames.dropped,
            injected_by_relay: r.frames.injected,
            decrypted,
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
            plaintext_mismatches: r.frames.plaintext_mismatches,
            rejected_before_join: r.frames.before_join,
        };
        let mut rejected_by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for x in &r.rejections {
            *rejected_by_kind.entry(x.kind.clone()).or_default() += 1;
        }
        let tap = r.tap.borrow();
        let control = ControlReport {
            carried_messages: tap.carried,
            carried_bytes: tap.carried_bytes,
            delivered_messages: r.sim.relay_messages,
            delivered_bytes: r.sim.relay_bytes,
            dropped_by_relay: tap.dropped,
            rejected: r.rejections.len() as u64,
            rejected_by_kind,
        };
        drop(tap);
        let s = &r.scanner;
        let plaintext_leaks = s.found_in("media plaintext");
        let leak_check = LeakReport {
            bytes_scanned: s.bytes_scanned,
            messages_scanned: s.messages_scanned,
            secrets_checked: s.len() as u64,
            by_category: s
                .categories
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            epochs_checked: s.categories.get("epoch secrets").copied().unwrap_or(0),
            plaintext_leaks,
            secret_leaks: s.total_found() - plaintext_leaks,
            ledger_frames_sealed: r.ledger.frames_sealed,
            ledger_violations: r.ledger.violations.clone(),
            findings: s.findings.clone(),
            self_test_passed,
        };
        let converged = r.converged();
        let active = r.active();
        let agreement = AgreementReport {
            all_epochs_agree: epochs.iter().all(|e| e.agree),
            converged: converged.is_some(),
            final_epoch: converged,
            final_security_code: converged.and_then(|_| {
                active
                    .first()
                    .and_then(|id| r.sim.participants[id].security_code())
            }),
            final_members: active,
            leader: r.leader(),
        };
        Report {
            settings: None,
            timeline,
            epochs,
            frames,
            control,
            leak_check,
            agreement,
            attack,
            run: RunReport {
                virtual_time_s: r.t(),
                wall_time_s: 0.0,
                cpu_time_s: None,
            },
        }
    }

    /// Adds the settings and the time the run took.
    pub fn finish(mut self, args: &SimulateArgs, wall: Duration, cpu: Option<f64>) -> Self {
        self.settings = Some(Settings {
            participants: args.participants,
            duration_s: args.duration,
            loss_percent: args.loss,
            seed: args.seed,
            heartbeat_ms: args.heartbeat_ms,
            attack: args.attack,
        });
        self.run.wall_time_s = wall.as_secs_f64();
        self.run.cpu_time_s = cpu;
        self
    }

    /// The report as text for a terminal.
    pub fn render(&self) -> String {
        let mut o = String::new();
        if let Some(s) = &self.settings {
            let _ = writeln!(
                o,
                "Conclave simulation: {} participants, {} s of media, {}% loss, seed {}, heartbeat {} s{}",
                s.participants,
                s.duration_s,
                s.loss_percent,
                s.seed,
                s.heartbeat_ms as f64 / 1000.0,
                s.attack
                    .map(|a| format!(", attack {}", a.name()))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            o,
            "Real keys and ciphers on virtual time. Every control message and media frame goes \
             through an\nuntrusted relay that logs every byte; media: audio {AUDIO_FPS} fps x \
             {AUDIO_BYTES} B, video {VIDEO_FPS} fps x {VIDEO_BYTES} B per member.\n"
        );
        let _ = writeln!(o, "    time  what happened");
        for e in &self.timeline {
            let _ = writeln!(o, "{:>7.3}s  {}", e.t, e.text);
        }
        if let Some(a) = &self.attack {
            let _ = writeln!(o, "\nAttack {}: {}", a.kind, a.description);
            for d in &a.evidence {
                let _ = if matches!(d.what.as_str(), "control message" | "frame") {
                    writeln!(
                        o,
                        "  {:>7.3}s  {} rejected a {} from {}: {} [{}]",
                        d.t, d.at, d.what, d.from, d.error, d.kind
                    )
                } else {
                    writeln!(
                        o,
                        "  {:>7.3}s  {} ({}): {} [{}]",
                        d.t, d.at, d.what, d.error, d.kind
                    )
                };
            }
            if !a.rejections.is_empty() {
                let counts: Vec<String> = a
                    .rejections
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect();
                let _ = writeln!(o, "  rejections during the attack: {}", counts.join(", "));
            }
            for n in &a.notes {
                let _ = writeln!(o, "  {n}");
            }
            let _ = writeln!(
                o,
                "  DETECTED: {}",
                if a.detected {
                    "yes".to_string()
                } else {
                    format!("NO (expected {})", a.expected.join(" or "))
                }
            );
        }
        let f = &self.frames;
        let _ = writeln!(o, "\nMedia frames");
        row(
            &mut o,
            "sent (audio + video)",
            &format!(
                "{} ({} + {}), {}",
                n(f.sent),
                n(f.audio_sent),
                n(f.video_sent),
                bytes(f.bytes_sent)
            ),
        );
        row(&mut o, "forwarded by the relay", &n(f.forwarded));
        row(&mut o, "dropped by the relay", &n(f.dropped_by_relay));
        if f.injected_by_relay > 0 {
            row(
                &mut o,
                "forged/replayed by the relay",
                &n(f.injected_by_relay),
            );
        }
        row(&mut o, "decrypted", &n(f.decrypted));
        let rj = &f.rejected;
        row(
            &mut o,
            "rejected",
            &format!(
                "{} (tampered {}, replayed {}, too old {}, unknown epoch {}, malformed {}, own {})",
                n(rj.total),
                n(rj.tampered),
                n(rj.replayed),
                n(rj.too_old),
                n(rj.unknown_epoch),
                n(rj.malformed),
                n(rj.own_frame)
            ),
        );
        if f.rejected_before_join > 0 {
            row(
                &mut o,
                "  of which sealed before a join",
                &format!(
                    "{} (senders switch to a new epoch up to 2 s after its commit;\n{:36}a joiner never gets the keys of earlier epochs)",
                    n(f.rejected_before_join),
                    ""
                ),
            );
        }
        row(
            &mut o,
            "wrong plaintext after decryption",
            &n(f.plaintext_mismatches),
        );
        let c = &self.control;
        let _ = writeln!(o, "Control messages");
        row(
            &mut o,
            "carried by the relay",
            &format!("{} ({})", n(c.carried_messages), bytes(c.carried_bytes)),
        );
        row(
            &mut o,
            "delivered",
            &format!("{} ({})", n(c.delivered_messages), bytes(c.delivered_bytes)),
        );
        row(&mut o, "dropped by the relay", &n(c.dropped_by_relay));
        let kinds: Vec<String> = c
            .rejected_by_kind
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        row(
            &mut o,
            "rejected by participants",
            &if kinds.is_empty() {
                "0".to_string()
            } else {
                format!("{} ({})", n(c.rejected), kinds.join(", "))
            },
        );
        let l = &self.leak_check;
        let _ = writeln!(o, "What the relay could read");
        row(
            &mut o,
            "bytes scanned",
            &format!(
                "{} in {} messages and frames",
                bytes(l.bytes_scanned),
                n(l.messages_scanned)
            ),
        );
        let cats: Vec<String> = l
            .by_category
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        row(
            &mut o,
            "looked for",
            &format!("{} ({})", n(l.secrets_checked), cats.join(", ")),
        );
        row(&mut o, "plaintext found", &n(l.plaintext_leaks));
        row(&mut o, "keys or secrets found", &n(l.secret_leaks));
        for x in &l.findings {
            let _ = writeln!(
                o,
                "    LEAK: {} ({}) in {}",
                x.what, x.category, x.carried_in
            );
        }
        row(
            &mut o,
            "scanner self-test",
            if l.self_test_passed {
                "finds a planted frame secret"
            } else {
                "FAILED"
            },
        );
        row(
            &mut o,
            "confidentiality ledger",
            &format!(
                "{} frames sealed, {} violation(s) of FR-SEND or durable removal",
                n(l.ledger_frames_sealed),
                l.ledger_violations.len()
            ),
        );
        for v in &l.ledger_violations {
            let _ = writeln!(o, "    VIOLATION: {v}");
        }
        let a = &self.agreement;
        let _ = writeln!(o, "Agreement");
        row(
            &mut o,
            "epochs",
            &format!(
                "{}, {}",
                self.epochs.len(),
                if a.all_epochs_agree {
                    "every member showed the same security code in every epoch"
                } else {
                    "some epochs were shown with DIFFERENT security codes"
                }
            ),
        );
        row(
            &mut o,
            "at the end",
            &match (a.final_epoch, &a.final_security_code) {
                (Some(e), Some(code)) => format!(
                    "{} members agree on epoch {e}, code {code}; leader {}",
                    a.final_members.len(),
                    a.leader.clone().unwrap_or_else(|| "none".into())
                ),
                _ => format!("members do NOT agree ({} running)", a.final_members.len()),
            },
        );
        let r = &self.run;
        let _ = writeln!(o, "Run");
        row(
            &mut o,
            "time",
            &format!(
                "{:.1} s virtual, {:.2} s wall, {}",
                r.virtual_time_s,
                r.wall_time_s,
                r.cpu_time_s
                    .map(|c| format!("{c:.2} s CPU"))
                    .unwrap_or_else(|| "CPU time unavailable".into())
            ),
        );
        let verdict = if l.plaintext_leaks == 0 && l.secret_leaks == 0 {
            "The relay carried every byte of the meeting and learned no key and no plaintext."
        } else {
            "LEAK: the relay carried a secret or a plaintext."
        };
        let _ = writeln!(o, "\n{verdict}");
        o
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

fn row(o: &mut String, label: &str, value: &str) {
    let _ = writeln!(o, "  {label:<34}{value}");
}

/// A count with thousands separators.
pub fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / (1 << 20) as f64)
    } else if b >= 10 << 10 {
        format!("{:.1} KB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::n(0), "0");
        assert_eq!(super::n(999), "999");
        assert_eq!(super::n(1000), "1,000");
        assert_eq!(super::n(1234567), "1,234,567");
    }
}
