//! The relay's tap on control messages: it logs every distinct message, applies loss and a
//! partition, and hands the rest to the mounted attack (if any).

use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use conclave_core::protocol::v1::envelope::Body;
use conclave_core::sim::forge::body;
use conclave_core::sim::{InFlight, TapAction};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

/// An attack on control messages: sees each message after the log and says what to do with it.
pub type Mutate = Box<dyn FnMut(&mut InFlight) -> TapAction>;

/// What the relay's tap shares with the runner.
pub struct TapState {
    /// Distinct control messages carried (first copy of each payload).
    pub log: Vec<InFlight>,
    seen: HashSet<u64>,
    /// Control messages the relay received (every copy).
    pub carried: u64,
    /// Their bytes.
    pub carried_bytes: u64,
    /// Dropped by loss or partition.
    pub dropped: u64,
    loss_ppm: u32,
    rng: ChaCha20Rng,
    /// Split view: the members on side A; messages between the sides are dropped.
    pub partition: Option<BTreeSet<String>>,
    /// An attack on control messages, applied after the log.
    pub mutate: Option<Mutate>,
    /// When set, every message dropped by loss or partition (sender, recipient, kind), until
    /// the runner takes them (`Runner::take_drops`, each step).
    pub drops: Option<Vec<Dropped>>,
}

/// A control message the relay dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Its sender.
    pub from: String,
    /// Its recipient.
    pub to: String,
    /// What it carried (`message_kind`).
    pub kind: &'static str,
}

/// The kind of message an envelope carries, as the report names it.
pub fn message_kind(payload: &[u8]) -> &'static str {
    match body(payload) {
        Some(Body::Announcement(_)) => "Announcement",
        Some(Body::Commit(_)) => "Commit",
        Some(Body::Welcome(_)) => "Welcome",
        Some(Body::Heartbeat(_)) => "Heartbeat",
        Some(Body::Leave(_)) => "Leave",
        Some(Body::ResyncRequest(_)) => "ResyncRequest",
        Some(Body::Liveness(_)) => "LivenessNonce",
        Some(Body::FailoverVote(_)) => "FailoverVote",
        None => "undecodable",
    }
}

fn payload_hash(p: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

impl TapState {
    /// A tap dropping `loss_ppm` parts per million of the messages, at random from `rng`.
    pub fn new(loss_ppm: u32, rng: ChaCha20Rng) -> Self {
        Self {
            log: Vec::new(),
            seen: HashSet::new(),
            carried: 0,
            carried_bytes: 0,
            dropped: 0,
            loss_ppm,
            rng,
            partition: None,
            mutate: None,
            drops: None,
        }
    }

    fn record_drop(&mut self, m: &InFlight) {
        self.dropped += 1;
        if let Some(d) = self.drops.as_mut() {
            d.push(Dropped {
                from: m.from.clone(),
                to: m.to.clone(),
                kind: message_kind(&m.payload),
            });
        }
    }

    /// Handles one message on its way through the relay.
    pub fn on_message(&mut self, m: &mut InFlight) -> TapAction {
        self.carried += 1;
        self.carried_bytes += m.payload.len() as u64;
        if self.seen.insert(payload_hash(&m.payload)) {
            self.log.push(m.clone());
        }
        if let Some(side) = &self.partition
            && side.contains(&m.from) != side.contains(&m.to)
            && m.from != "relay"
        {
            self.record_drop(m);
            return TapAction::Drop;
        }
        if self.loss_ppm > 0 && self.rng.next_u32() % 1_000_000 < self.loss_ppm {
            self.record_drop(m);
            return TapAction::Drop;
        }
        let action = match self.mutate.as_mut() {
            Some(f) => f(m),
            None => TapAction::Deliver,
        };
        if let TapAction::DeliverWith(more) = &action {
            for x in more {
                if self.seen.insert(payload_hash(&x.payload)) {
                    self.log.push(x.clone());
                }
            }
        }
        if self.seen.insert(payload_hash(&m.payload)) {
            self.log.push(m.clone());
        }
        action
    }
}
