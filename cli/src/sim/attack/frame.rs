//! Attacks on media frames (`spec/frames.md`): for one second the relay tampers with, replays or
//! relabels every frame it forwards (the runner's frame hook), then (replay) re-sends the first
//! frames of the run.

use std::time::Duration;

use super::{Attack, AttackKind, Findings, Flavor};
use crate::CliError;
use crate::sim::records::FrameAttack;
use crate::sim::runner::Runner;

/// How long the relay attacks frames.
const FRAME_ATTACK_TIME: Duration = Duration::from_secs(1);

/// `tamper-frame`, `replay-frame` and `relabel-frame`.
pub(crate) struct FrameAttacks {
    attack: FrameAttack,
}

impl FrameAttacks {
    /// The frame attack of `kind` (a relabelling for any kind but tamper and replay).
    pub fn new(kind: AttackKind) -> Self {
        let attack = match kind {
            AttackKind::TamperFrame => FrameAttack::Tamper,
            AttackKind::ReplayFrame => FrameAttack::Replay,
            _ => FrameAttack::Relabel,
        };
        Self { attack }
    }
}

impl Attack for FrameAttacks {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn expected(&self) -> &'static [&'static str] {
        match self.attack {
            FrameAttack::Tamper => &["Tampered"],
            FrameAttack::Replay => &["Replayed", "TooOld"],
            FrameAttack::Relabel => &["Tampered", "UnknownSender", "OwnFrame"],
        }
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        r.set_frame_attack(Some(self.attack));
        let text = match self.attack {
            FrameAttack::Tamper => {
                "for one second the relay flips a ciphertext byte of every frame it \
                 forwards (and forwards the genuine frame too)"
            }
            FrameAttack::Replay => {
                "for one second the relay delivers every frame twice, then replays the \
                 first frames of the meeting"
            }
            FrameAttack::Relabel => {
                "for one second the relay relabels every frame with another stream and \
                 another sender index (and forwards the genuine frame too)"
            }
        };
        Ok(Some(text.into()))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        _: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if elapsed < FRAME_ATTACK_TIME {
            return Ok(false);
        }
        r.set_frame_attack(None);
        if self.attack == FrameAttack::Replay {
            let now = r.sim().now;
            let early = r.early_frames.clone();
            for to in r.active() {
                let fc = r.sim().participants[&to].frame_crypto();
                for (from, f) in early.iter().filter(|(from, _)| *from != to) {
                    r.frames.injected += 1;
                    if let Err(e) = fc.decrypt(f, now) {
                        r.record_frame_rejection(&to, from, &e);
                    }
                }
            }
        }
        Ok(true)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        f.notes.push(format!(
            "genuine frames kept decrypting: {} plaintext mismatches",
            r.frames.plaintext_mismatches
        ));
        f.detected()
    }
}
