//! Per-participant media counters, shared between GStreamer's streaming threads and the main
//! thread, and their JSON report.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

/// Most distinct (sender, media) rows kept; further senders are counted in one overflow row.
pub const MAX_STAT_ROWS: usize = 64;
/// Most distinct epochs remembered per row.
pub const MAX_EPOCHS_PER_ROW: usize = 64;

/// What this participant sent, per media kind.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// Frames out of the encoder.
    pub encoded: u64,
    /// Frames `conclaveenc` encrypted and passed to the payloader (the others it dropped: no
    /// send keys, before admission or after leaving).
    pub sealed: u64,
    /// Frames tampered with on purpose after sealing (test only).
    pub tampered: u64,
    /// Epoch tags (epoch mod 256) frames were sealed in.
    pub epochs: BTreeSet<u64>,
}

/// What this participant received from one Janus feed, per media kind.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Frames out of the depayloader.
    pub received: u64,
    /// Frames that decrypted.
    pub decrypted: u64,
    /// Frames rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Frames out of the decoder.
    pub decoded: u64,
    /// Epoch tags (epoch mod 256, from the authenticated trailer) of the frames that decrypted.
    pub epochs: BTreeSet<u64>,
    /// Sender leaves named by the frames that decrypted (authenticated, unlike the feed name).
    pub leaves: BTreeSet<u32>,
}

/// All counters of one participant.
#[derive(Debug, Default)]
pub struct Stats {
    /// Per media kind (`video`, `audio`).
    pub sent: BTreeMap<&'static str, Sent>,
    /// Per (feed display name as Janus reports it, media kind).
    pub received: BTreeMap<(String, &'static str), Received>,
}

/// Shared handle to [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct SharedStats(Arc<Mutex<Stats>>);

impl SharedStats {
    /// Locks the counters (a poisoned lock still gives them: counters stay usable).
    pub fn lock(&self) -> MutexGuard<'_, Stats> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the sent counters of `kind`.
    pub fn sent(&self, kind: &'static str, f: impl FnOnce(&mut Sent)) {
        f(self.lock().sent.entry(kind).or_default());
    }

    /// Runs `f` on the received counters of (`feed`, `kind`).
    pub fn received(&self, feed: &str, kind: &'static str, f: impl FnOnce(&mut Received)) {
        let mut s = self.lock();
        let key = if s.received.len() >= MAX_STAT_ROWS
            && !s.received.contains_key(&(feed.to_string(), kind))
        {
            ("(others)".to_string(), kind)
        } else {
            (feed.to_string(), kind)
        };
        f(s.received.entry(key).or_default());
    }
}

/// Reasons `conclavedec` reports (`FrameErrorKind::as_str`) as counted here; others count as
/// `other` (the reason comes from a bus message: keys of the counters stay bounded).
const REASONS: [&str; 12] = [
    "malformed",
    "unknown_epoch",
    "too_old",
    "replayed",
    "tampered",
    "unknown_sender",
    "own_frame",
    "epoch_retired",
    "too_large",
    "no_keys",
    "invalid_media",
    "stream_limit",
];

/// The counter key of a rejection `reason`.
pub fn reason_key(reason: &str) -> &'static str {
    REASONS
        .iter()
        .find(|r| **r == reason)
        .copied()
        .unwrap_or("other")
}

/// Adds `epoch` to `set` unless it is full.
pub fn note_epoch(set: &mut BTreeSet<u64>, epoch: u64) {
    if set.len() < MAX_EPOCHS_PER_ROW {
        set.insert(epoch);
    }
}

impl Stats {
    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let sent: serde_json::Map<String, Value> = self
            .sent
            .iter()
            .map(|(k, s)| {
                (
                    (*k).to_string(),
                    json!({"encoded": s.encoded, "sealed": s.sealed, "dropped": s.encoded.saturating_sub(s.sealed),
                           "tampered": s.tampered,
                           "epochs": s.epochs}),
                )
            })
            .collect();
        let received: Vec<Value> = self
            .received
            .iter()
            .map(|((feed, kind), r)| {
                json!({"feed": feed, "kind": kind, "received": r.received,
                       "decrypted": r.decrypted, "rejected": r.rejected, "decoded": r.decoded,
                       "epochs": r.epochs, "leaves": r.leaves})
            })
            .collect();
        json!({"sent": sent, "received": received})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_bounded() {
        let s = SharedStats::default();
        for i in 0..(MAX_STAT_ROWS + 10) {
            s.received(&format!("feed{i}"), "video", |r| r.received += 1);
        }
        let st = s.lock();
        assert_eq!(st.received.len(), MAX_STAT_ROWS + 1);
        let others = st
            .received
            .get(&("(others)".to_string(), "video"))
            .map(|r| r.received);
        assert_eq!(others, Some(10));
    }

    #[test]
    fn reasons_map_to_bounded_keys() {
        assert_eq!(reason_key("tampered"), "tampered");
        assert_eq!(reason_key("anything the relay makes up"), "other");
    }

    #[test]
    fn epochs_are_bounded() {
        let mut set = BTreeSet::new();
        for e in 0..1000 {
            note_epoch(&mut set, e);
        }
        assert_eq!(set.len(), MAX_EPOCHS_PER_ROW);
    }
}
