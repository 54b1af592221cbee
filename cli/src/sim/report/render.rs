//! The report as text for a terminal, one function per section.

use std::fmt::Write as _;

use super::{AgreementReport, ControlReport, FramesReport, LeakReport, Report, RunReport};
use crate::sim::records::{AUDIO_BYTES, AUDIO_FPS, AttackReport, VIDEO_BYTES, VIDEO_FPS};

impl Report {
    /// The report as text for a terminal.
    pub fn render(&self) -> String {
        let mut o = String::new();
        self.render_intro(&mut o);
        if let Some(a) = &self.attack {
            render_attack(&mut o, a);
        }
        render_frames(&mut o, &self.frames);
        render_control(&mut o, &self.control);
        render_leaks(&mut o, &self.leak_check);
        render_agreement(&mut o, &self.agreement, self.epochs.len());
        render_run(&mut o, &self.run);
        let l = &self.leak_check;
        let verdict = if l.plaintext_leaks == 0 && l.secret_leaks == 0 {
            "The relay carried every byte of the meeting and learned no key and no plaintext."
        } else {
            "LEAK: the relay carried a secret or a plaintext."
        };
        let _ = writeln!(o, "\n{verdict}");
        o
    }

    /// The settings, what the simulation is, and the timeline.
    fn render_intro(&self, o: &mut String) {
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
    }
}

/// The attack, its evidence and the verdict.
fn render_attack(o: &mut String, a: &AttackReport) {
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

/// The media frames section.
fn render_frames(o: &mut String, f: &FramesReport) {
    let _ = writeln!(o, "\nMedia frames");
    row(
        o,
        "sent (audio + video)",
        &format!(
            "{} ({} + {}), {}",
            n(f.sent),
            n(f.audio_sent),
            n(f.video_sent),
            bytes(f.bytes_sent)
        ),
    );
    row(o, "forwarded by the relay", &n(f.forwarded));
    row(o, "dropped by the relay", &n(f.dropped_by_relay));
    if f.injected_by_relay > 0 {
        row(o, "forged/replayed by the relay", &n(f.injected_by_relay));
    }
    row(o, "decrypted", &n(f.decrypted));
    let rj = &f.rejected;
    row(
        o,
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
            o,
            "  of which sealed before a join",
            &format!(
                "{} (senders switch to a new epoch up to 2 s after its commit;\n{:36}a joiner never gets the keys of earlier epochs)",
                n(f.rejected_before_join),
                ""
            ),
        );
    }
    row(
        o,
        "wrong plaintext after decryption",
        &n(f.plaintext_mismatches),
    );
}

/// The control messages section.
fn render_control(o: &mut String, c: &ControlReport) {
    let _ = writeln!(o, "Control messages");
    row(
        o,
        "carried by the relay",
        &format!("{} ({})", n(c.carried_messages), bytes(c.carried_bytes)),
    );
    row(
        o,
        "delivered",
        &format!("{} ({})", n(c.delivered_messages), bytes(c.delivered_bytes)),
    );
    row(o, "dropped by the relay", &n(c.dropped_by_relay));
    let kinds: Vec<String> = c
        .rejected_by_kind
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    row(
        o,
        "rejected by participants",
        &if kinds.is_empty() {
            "0".to_string()
        } else {
            format!("{} ({})", n(c.rejected), kinds.join(", "))
        },
    );
}

/// What the relay could read: the leak scan and the ledger.
fn render_leaks(o: &mut String, l: &LeakReport) {
    let _ = writeln!(o, "What the relay could read");
    row(
        o,
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
        o,
        "looked for",
        &format!("{} ({})", n(l.secrets_checked), cats.join(", ")),
    );
    row(o, "plaintext found", &n(l.plaintext_leaks));
    row(o, "keys or secrets found", &n(l.secret_leaks));
    for x in &l.findings {
        let _ = writeln!(
            o,
            "    LEAK: {} ({}) in {}",
            x.what, x.category, x.carried_in
        );
    }
    row(
        o,
        "scanner self-test",
        if l.self_test_passed {
            "finds a planted frame secret"
        } else {
            "FAILED"
        },
    );
    row(
        o,
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
}

/// Agreement on security codes.
fn render_agreement(o: &mut String, a: &AgreementReport, epochs: usize) {
    let _ = writeln!(o, "Agreement");
    row(
        o,
        "epochs",
        &format!(
            "{}, {}",
            epochs,
            if a.all_epochs_agree {
                "every member showed the same security code in every epoch"
            } else {
                "some epochs were shown with DIFFERENT security codes"
            }
        ),
    );
    row(
        o,
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
}

/// Time the run took.
fn render_run(o: &mut String, r: &RunReport) {
    let _ = writeln!(o, "Run");
    row(
        o,
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
