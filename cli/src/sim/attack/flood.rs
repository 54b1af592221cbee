//! Attacks with forged commits for future epochs: filling a member's commit buffer (`memory`)
//! and forging an epoch gap at every member (`forged-gap`). `spec/state-machine.md` COM-5: a
//! commit ahead of the next epoch is buffered unverified within `MAX_PENDING_COMMITS` epochs and
//! `MAX_PENDING_COMMIT_BYTES`, refused beyond, and never triggers a resync on its own.

use std::time::Duration;

use conclave_core::meeting::{Event, MAX_PENDING_COMMIT_BYTES, MAX_PENDING_COMMITS};
use conclave_core::protocol::encode;
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use conclave_core::protocol::v1::{self as pb, CommitReason, envelope::Body};
use conclave_core::{CipherSuite, MeetingErrorKind};

use super::{Attack, Findings, agreed_leader, count_events, ranked};
use crate::CliError;
use crate::sim::records::MEETING_ID;
use crate::sim::runner::Runner;
use conclave_core::sim::forge::{body, envelope};

/// Rounds of in-window commits the `memory` attack sends (each round: every epoch of the
/// window once).
const MEMORY_ROUNDS: u64 = 3;
/// Bytes the `memory` attack leaves under `MAX_ENVELOPE_SIZE` in each commit.
const MEMORY_SLACK: usize = 1024;

/// An unsigned commit for epoch `epoch` of the simulated meeting, padded with one key-tree
/// entry of `padding` bytes.
fn forged_commit(epoch: u64, padding: usize) -> Vec<u8> {
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: CipherSuite::P256Sha256ChaCha20Poly1305.id(),
        meeting_id: MEETING_ID.to_vec(),
        epoch,
        prev_transcript_hash: vec![7; 32],
        leader_leaf: 0,
        reason: CommitReason::Rotation as i32,
        removes: vec![],
        adds: vec![],
        locked: false,
        leaf_count: 4,
        updates_root: vec![0; 32],
        update_count: u32::from(padding > 0),
        rebuild: false,
        votes: vec![],
        stable_heartbeat: None,
    };
    let updates = if padding > 0 {
        vec![pb::IndexedUpdate {
            index: 0,
            update: Some(pb::NodeUpdate {
                node: 1,
                child: 2,
                ciphertext: vec![0x5a; padding],
            }),
        }]
    } else {
        vec![]
    };
    envelope(Body::Commit(pb::CommitBundle {
        commit: Some(pb::SignedMessage {
            content: encode(&c),
            signature: vec![1; 64],
        }),
        updates,
        proof: vec![],
    }))
}

/// A forged commit for `epoch` as close to `MAX_ENVELOPE_SIZE` as `MEMORY_SLACK` allows.
fn near_max_commit(epoch: u64) -> Vec<u8> {
    let overhead = forged_commit(epoch, 1).len();
    let padding = MAX_ENVELOPE_SIZE.saturating_sub(overhead + MEMORY_SLACK);
    forged_commit(epoch, padding)
}

/// `memory`: the relay sends one member many near-`MAX_ENVELOPE_SIZE` commits for future
/// epochs, inside the buffering window and far beyond it.
#[derive(Default)]
pub(crate) struct Memory {
    target: String,
    peak: usize,
    in_window: u64,
    far: u64,
    far_rejected: u64,
    sent_bytes: u64,
    epoch_before: u64,
}

impl Attack for Memory {
    fn expected(&self) -> &'static [&'static str] {
        &["Gap", "Invalid"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let Some(target) = ranked(r, &leader).into_iter().next() else {
            return Ok(None);
        };
        let epoch = r.sim().participants.get(&target).map_or(0, |m| m.epoch());
        self.epoch_before = epoch;
        let window = MAX_PENDING_COMMITS as u64;
        let mut plan: Vec<(u64, bool)> = Vec::new();
        for _ in 0..MEMORY_ROUNDS {
            plan.extend((2..=window).map(|a| (epoch + a, true)));
        }
        for ahead in [window + 1, window + 2, 1_000, 1_000_000, u64::MAX / 2] {
            plan.push((epoch.saturating_add(ahead), false));
        }
        let size = near_max_commit(epoch + 2).len();
        for (e, inside) in plan {
            let payload = near_max_commit(e);
            self.sent_bytes += payload.len() as u64;
            let before = r.sim().rejections.len();
            r.inject(&target, payload);
            let rejected = r.sim().rejections.get(before..).unwrap_or_default();
            if inside {
                self.in_window += 1;
            } else {
                self.far += 1;
                let refused = rejected
                    .iter()
                    .any(|x| x.at == target && x.error.kind() == MeetingErrorKind::Invalid);
                self.far_rejected += u64::from(refused);
            }
            if let Some(m) = r.sim().participants.get(&target) {
                self.peak = self.peak.max(m.buffered_bytes());
            }
        }
        self.target = target.clone();
        f.metric("envelope_bytes", size as u64);
        Ok(Some(format!(
            "the relay sends {target} {} forged commits of {size} bytes (MAX_ENVELOPE_SIZE is \
             {MAX_ENVELOPE_SIZE}) for epochs 2 to {window} ahead, then {} for epochs beyond that \
             window (up to 2^62 ahead)",
            self.in_window, self.far
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        _: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if let Some(m) = r.sim().participants.get(&self.target) {
            self.peak = self.peak.max(m.buffered_bytes());
        }
        Ok(elapsed >= r.config.heartbeat_interval * 2)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        f.metric("peak_buffered_bytes", self.peak as u64);
        f.metric("max_pending_commit_bytes", MAX_PENDING_COMMIT_BYTES as u64);
        f.metric("sent_bytes", self.sent_bytes);
        f.metric("far_future_sent", self.far);
        f.metric("far_future_rejected", self.far_rejected);
        let bounded = self.peak <= MAX_PENDING_COMMIT_BYTES;
        let far_refused = self.far_rejected == self.far;
        let alive = r
            .sim()
            .participants
            .get(&self.target)
            .is_some_and(|m| m.is_active());
        f.notes.push(format!(
            "{} received {} MiB of forged commits and buffered at most {} bytes (the bound \
             MAX_PENDING_COMMIT_BYTES is {}){}",
            self.target,
            self.sent_bytes >> 20,
            self.peak,
            MAX_PENDING_COMMIT_BYTES,
            if bounded { "" } else { ": OVER THE BOUND" }
        ));
        f.notes.push(format!(
            "{} of {} commits beyond the window of {MAX_PENDING_COMMITS} epochs were refused \
             outright; {} is {}",
            self.far_rejected,
            self.far,
            self.target,
            if alive {
                "still in the meeting"
            } else {
                "NO LONGER in the meeting"
            }
        ));
        if bounded {
            f.evidence(
                r,
                &self.target,
                "forged commits",
                "Bounded",
                format!(
                    "at most {} bytes buffered out of {} sent (bound {MAX_PENDING_COMMIT_BYTES})",
                    self.peak, self.sent_bytes
                ),
            );
        }
        bounded && far_refused && alive
    }
}

/// `forged-gap`: the relay injects one unsigned commit for the epoch after next at every
/// member, after watching the meeting for as long as it then watches the effect.
#[derive(Default)]
pub(crate) struct ForgedGap {
    /// Counts at the start of the baseline, at the injection and at the end.
    marks: Vec<Marks>,
    targets: Vec<String>,
}

/// Counters at one moment.
#[derive(Debug, Clone, Copy)]
struct Marks {
    carried: u64,
    welcomes: u64,
    resyncs: u64,
}

fn marks(r: &Runner) -> Marks {
    let welcomes = r
        .control_log()
        .iter()
        .filter(|m| matches!(body(&m.payload), Some(Body::Welcome(_))))
        .count() as u64;
    Marks {
        carried: r.carried_messages(),
        welcomes,
        resyncs: count_events(r, 0, |_, e| matches!(e, Event::ResyncNeeded { .. })),
    }
}

/// Heartbeat intervals of the baseline and of the watch after the injection.
const GAP_WINDOW_INTERVALS: u32 = 6;

impl Attack for ForgedGap {
    fn expected(&self) -> &'static [&'static str] {
        &["Gap", "Unexpected"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        if agreed_leader(r).is_none() {
            return Ok(None);
        }
        self.marks.push(marks(r));
        Ok(Some(format!(
            "the relay watches the meeting for {GAP_WINDOW_INTERVALS} heartbeat intervals, then \
             injects one unsigned commit for epoch + 2 at every member and watches as long"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        let window = r.config.heartbeat_interval * GAP_WINDOW_INTERVALS;
        if self.marks.len() == 1 && elapsed >= window {
            self.marks.push(marks(r));
            self.targets = r.active();
            for to in self.targets.clone() {
                let epoch = r.sim().participants.get(&to).map_or(0, |m| m.epoch());
                r.inject(&to, forged_commit(epoch + 2, 0));
            }
            f.note(
                r,
                format!(
                    "the relay injects a forged commit for epoch + 2 at {}",
                    self.targets.join(", ")
                ),
            );
        } else if self.marks.len() == 2 && elapsed >= window * 2 {
            self.marks.push(marks(r));
            return Ok(true);
        }
        Ok(false)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let [start, injected, end] = match self.marks.as_slice() {
            [a, b, c] => [*a, *b, *c],
            _ => return false,
        };
        let before = injected.carried.saturating_sub(start.carried);
        let after = end.carried.saturating_sub(injected.carried);
        let resyncs = end.resyncs.saturating_sub(injected.resyncs);
        let welcomes = end.welcomes.saturating_sub(injected.welcomes);
        let welcomes_before = injected.welcomes.saturating_sub(start.welcomes);
        f.metric("resyncs_before", injected.resyncs);
        f.metric("resyncs_after", end.resyncs);
        f.metric("welcomes_before", welcomes_before);
        f.metric("welcomes_after", welcomes);
        f.metric("messages_before", before);
        f.metric("messages_after", after);
        f.notes.push(format!(
            "over {GAP_WINDOW_INTERVALS} heartbeat intervals before / after the injection: \
             {before} / {after} control messages carried, {welcomes_before} / {welcomes} new \
             Welcomes, {} / {resyncs} ResyncNeeded events",
            injected.resyncs.saturating_sub(start.resyncs),
        ));
        // A flood would be Welcomes and resync traffic on top of the usual heartbeats.
        let members = self.targets.len() as u64;
        let no_flood = welcomes == 0 && after <= before.saturating_mul(2) + 4 * members;
        if resyncs == 0 && no_flood {
            f.evidence(
                r,
                &self.targets.join(", "),
                "forged commit",
                "NoResync",
                format!(
                    "the forged gap was buffered unverified or refused: no resync, no Welcome, \
                     {after} messages after vs {before} before"
                ),
            );
        }
        resyncs == 0 && no_flood
    }
}
