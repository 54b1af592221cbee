//! The run summary: what the report is built from, taken from the runner when the run is over
//! (after the control messages are scanned against every secret of the run).

use std::collections::BTreeMap;

use conclave_core::frame::RejectionCounts;

use super::Runner;
use crate::sim::records::{EpochRecord, FrameTally, RejectionRecord, TimelineEntry};
use crate::sim::scan::Scanner;

/// Everything a finished run observed.
pub struct RunSummary {
    /// The timeline, in the order it was written.
    pub timeline: Vec<TimelineEntry>,
    /// Security codes per epoch.
    pub epochs: BTreeMap<u64, EpochRecord>,
    /// What the frame relay counted.
    pub frames: FrameTally,
    /// Frames decrypted by any participant.
    pub frames_decrypted: u64,
    /// Frame rejections by cause, over every `FrameCrypto` of the run.
    pub frames_rejected: RejectionCounts,
    /// Every control-message rejection.
    pub rejections: Vec<RejectionRecord>,
    /// Control messages the relay received (every copy), and their bytes.
    pub carried: (u64, u64),
    /// Control messages delivered, and their bytes.
    pub delivered: (u64, u64),
    /// Control messages the relay dropped.
    pub dropped: u64,
    /// The leak scanner with every secret of the run and what it found.
    pub scanner: Scanner,
    /// Whether the scanner finds a frame secret planted in carried bytes.
    pub self_test_passed: bool,
    /// Frames the confidentiality ledger sealed and identified.
    pub ledger_frames_sealed: u64,
    /// What the ledger found wrong.
    pub ledger_violations: Vec<String>,
    /// The epoch everyone agrees on at the end, if they do.
    pub converged: Option<u64>,
    /// The active, running participants at the end.
    pub active: Vec<String>,
    /// The security code the first of them shows.
    pub final_code: Option<String>,
    /// The leader at the end.
    pub leader: Option<String>,
    /// Virtual seconds the run took.
    pub virtual_time_s: f64,
}

impl Runner {
    /// Scans every control message carried against every secret of the run, and summarises it.
    pub fn into_summary(mut self) -> RunSummary {
        let log: Vec<(String, String, Vec<u8>)> = self
            .control_log()
            .iter()
            .map(|m| (m.from.clone(), m.to.clone(), m.payload.clone()))
            .collect();
        for (from, to, p) in &log {
            self.scanner
                .scan(p, || format!("a control message from {from} to {to}"));
        }
        let self_test_passed = self.last_frame_secret.as_ref().is_some_and(|s| {
            let mut planted = b"some carried bytes ".to_vec();
            planted.extend_from_slice(s);
            planted.extend_from_slice(b" more bytes");
            self.scanner.contains_any(&planted)
        });
        let (frames_decrypted, frames_rejected) = self.frame_diagnostics();
        let converged = self.converged();
        let active = self.active();
        let final_code = active
            .first()
            .and_then(|id| self.sim.participants[id].security_code());
        let (carried, dropped) = {
            let tap = self.tap.borrow();
            ((tap.carried, tap.carried_bytes), tap.dropped)
        };
        RunSummary {
            timeline: std::mem::take(&mut self.timeline),
            epochs: std::mem::take(&mut self.epochs),
            frames: self.frames.clone(),
            frames_decrypted,
            frames_rejected,
            rejections: std::mem::take(&mut self.rejections),
            carried,
            delivered: (self.sim.relay_messages, self.sim.relay_bytes),
            dropped,
            self_test_passed,
            ledger_frames_sealed: self.ledger.frames_sealed,
            ledger_violations: self.ledger.violations.clone(),
            converged,
            final_code,
            leader: self.leader(),
            virtual_time_s: self.t(),
            active,
            scanner: std::mem::take(&mut self.scanner),
        }
    }
}
