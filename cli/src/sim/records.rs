//! The records of a simulated run: plain data the runner fills in, the attacks read and the
//! report shows (the bottom of `sim`'s chain: it imports nothing from the other modules), and the
//! constants of the simulated media.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Frame stream of audio.
pub const AUDIO_STREAM: u32 = 0;
/// Frame stream of video.
pub const VIDEO_STREAM: u32 = 1;
/// Audio frames per second.
pub const AUDIO_FPS: u64 = 50;
/// Audio frame size (bytes of plaintext).
pub const AUDIO_BYTES: usize = 100;
/// Video frames (packets) per second.
pub const VIDEO_FPS: u64 = 30;
/// Video packet size (bytes of plaintext).
pub const VIDEO_BYTES: usize = 1200;
/// The meeting id of the simulation.
pub const MEETING_ID: &[u8] = b"conclave-simulated-meeting-0001";

const NAMES: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken",
    "lena", "mike", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent",
];

/// The name of participant `i`.
pub fn name(i: usize) -> String {
    NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("p{i:02}"))
}

/// A recognisable plaintext: `conclave-<kind>-<sender>-<n>|` repeated after a 1-byte clear
/// prefix, cut to `len` bytes.
pub fn payload(kind: &str, sender: &str, n: u64, len: usize) -> Vec<u8> {
    let unit = format!("conclave-{kind}-{sender}-{n}|");
    let mut p = Vec::with_capacity(len);
    p.push(0x90);
    while p.len() < len {
        p.extend_from_slice(unit.as_bytes());
    }
    p.truncate(len);
    p
}

/// How the report names an error kind: the kind's stable snake_case name in UpperCamelCase
/// (`bad_signature` is shown as `BadSignature`, the spelling of the error's variant).
pub fn kind_name(kind: &str) -> String {
    kind.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `""` for one, `"s"` otherwise.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the frame relay counted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FrameTally {
    /// Audio frames encrypted and handed to the relay.
    pub audio_sent: u64,
    /// Video frames encrypted and handed to the relay.
    pub video_sent: u64,
    /// Bytes of encrypted frames handed to the relay.
    pub bytes_sent: u64,
    /// Copies the relay forwarded to receivers.
    pub forwarded: u64,
    /// Copies the relay dropped (loss or partition).
    pub dropped: u64,
    /// Forged or replayed copies the relay added (attacks).
    pub injected: u64,
    /// Decrypted frames whose plaintext differed from what was sent (must be 0).
    pub plaintext_mismatches: u64,
    /// Frames a receiver rejected as too old because they were sealed in the epoch before it
    /// joined (senders switch epochs up to `SWITCH_DELAY` after a commit; joiners never get
    /// earlier keys).
    pub before_join: u64,
}

/// A frame attack the relay mounts on every frame it forwards (while it is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAttack {
    /// Flip a ciphertext byte (the genuine frame follows).
    Tamper,
    /// Deliver every frame twice.
    Replay,
    /// Relabel with another stream and another sender (the genuine frame follows).
    Relabel,
}

/// One control-message rejection, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RejectionRecord {
    /// Virtual time (seconds since the meeting was created).
    pub t: f64,
    /// Who rejected it.
    pub at: String,
    /// Who sent it by the relay's account (`relay` for injected messages).
    pub from: String,
    /// The error's type (the `MeetingError` variant).
    pub kind: String,
    /// The error message.
    pub error: String,
}

/// Per-epoch security codes as the participants reported them.
#[derive(Debug, Default, Clone)]
pub struct EpochRecord {
    /// When the first participant entered the epoch (report seconds).
    pub first_seen: f64,
    /// Security code -> the participants that showed it.
    pub codes: BTreeMap<String, BTreeSet<String>>,
}

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

#[cfg(test)]
mod tests {
    use conclave_core::{FrameErrorKind, MeetingErrorKind};

    /// The report keeps the names it has always shown: the variant names of the errors.
    #[test]
    fn kind_names_are_the_variant_names() {
        for k in MeetingErrorKind::ALL {
            assert_eq!(super::kind_name(k.as_str()), format!("{k:?}"));
        }
        for k in FrameErrorKind::ALL {
            assert_eq!(super::kind_name(k.as_str()), format!("{k:?}"));
        }
        assert_eq!(super::kind_name("bad_signature"), "BadSignature");
    }
}
