//! Identity pins and durable refusals (`spec/state-machine.md` ANN-5.2, ANN-11, ANN-13).
//!
//! A pin binds a participant id to the identity key it was admitted with, so another identity
//! cannot take the id and a rejoin of the same identity can be told from a replay (ANN-10). A
//! durable refusal (a removal or a denied request) keeps an identity out until the application
//! admits it again. Both tables are bounded: when the pin table is full, the least recently
//! admitted pin of an identity that is neither present nor refused makes room; when the refusal
//! table is full, the oldest denial (or, if none, the oldest removal) lapses.

use std::collections::BTreeMap;

use conclave_protocol::limits::{MAX_PARTICIPANTS, P256_PUBLIC_KEY_LEN};

use super::admission::JoinRefusal;
use crate::identity::PublicIdentity;

/// Most distinct identities a meeting pins; when full, the least recently admitted pin of an
/// identity that is neither present nor durably refused is dropped (ANN-13).
pub const MAX_PINNED_IDENTITIES: usize = 4 * MAX_PARTICIPANTS;
/// Most identities kept durably refused (removed or denied); beyond it the oldest denial, else
/// the oldest removal, lapses (ANN-11).
pub const MAX_REMOVED_IDENTITIES: usize = MAX_PARTICIPANTS;

// Present members and refused identities are never evicted, so a full table always holds an
// evictable pin: exhaustion cannot block an identity the application admits.
const _: () = assert!(MAX_PINNED_IDENTITIES > MAX_PARTICIPANTS + MAX_REMOVED_IDENTITIES);

type IdentityBytes = [u8; P256_PUBLIC_KEY_LEN];

#[derive(Clone, Debug)]
struct Pin {
    identity: PublicIdentity,
    /// Admission order (larger is more recent).
    seq: u64,
    /// Epoch of the identity's last admission or departure (ANN-10).
    since_epoch: u64,
    present: bool,
}

#[derive(Clone, Debug)]
struct Refusal {
    participant_id: String,
    reason: JoinRefusal,
    seq: u64,
}

/// The identity pins and durable refusals one participant keeps for a meeting.
///
/// Every participant keeps them (from the commits it applies), so that a new leader enforces the
/// same pins and removals. Bounded by [`MAX_PINNED_IDENTITIES`] and [`MAX_REMOVED_IDENTITIES`].
#[derive(Clone, Debug, Default)]
pub struct PinTable {
    pins: BTreeMap<String, Pin>,
    /// Pins that may be evicted (neither present nor refused), by admission order.
    evictable: BTreeMap<u64, String>,
    refused: BTreeMap<IdentityBytes, Refusal>,
    next_seq: u64,
}

impl PinTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of pinned participant ids.
    pub fn len(&self) -> usize {
        self.pins.len()
    }

    /// Whether no id is pinned.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }

    /// The identity pinned to `participant_id`.
    pub fn pinned(&self, participant_id: &str) -> Option<&PublicIdentity> {
        self.pins.get(participant_id).map(|p| &p.identity)
    }

    /// The epoch of the last admission or departure of the identity pinned to `participant_id`.
    pub(crate) fn since_epoch(&self, participant_id: &str) -> Option<u64> {
        self.pins.get(participant_id).map(|p| p.since_epoch)
    }

    /// Why `identity` is durably refused, if it is ([`JoinRefusal::Removed`] or
    /// [`JoinRefusal::Denied`]).
    pub fn refusal(&self, identity: &PublicIdentity) -> Option<JoinRefusal> {
        self.refused.get(identity.as_bytes()).map(|r| r.reason)
    }

    fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        s
    }

    /// Records that `identity` was admitted as `participant_id` (present) in `epoch`: pins it,
    /// lifts any durable refusal of the identity, and when the table is full evicts the least
    /// recently admitted pin that is neither present nor refused. Returns whether the id is
    /// pinned (false only if nothing could be evicted, which the limits rule out).
    pub fn admit(&mut self, participant_id: &str, identity: &PublicIdentity, epoch: u64) -> bool {
        self.refused.remove(identity.as_bytes());
        let seq = self.seq();
        if let Some(old) = self.pins.get(participant_id) {
            self.evictable.remove(&old.seq);
        } else if self.pins.len() >= MAX_PINNED_IDENTITIES {
            let Some((_, victim)) = self.evictable.pop_first() else {
                return false;
            };
            self.pins.remove(&victim);
        }
        self.pins.insert(
            participant_id.to_string(),
            Pin {
                identity: identity.clone(),
                seq,
                since_epoch: epoch,
                present: true,
            },
        );
        true
    }

    /// Records that the member `participant_id` left the roster in `epoch` (any reason): its pin
    /// may now be evicted, unless its identity is refused.
    pub fn depart(&mut self, participant_id: &str, epoch: u64) {
        let Some(pin) = self.pins.get_mut(participant_id) else {
            return;
        };
        pin.present = false;
        pin.since_epoch = pin.since_epoch.max(epoch);
        if !self.refused.contains_key(pin.identity.as_bytes()) {
            self.evictable.insert(pin.seq, participant_id.to_string());
        }
    }

    /// Marks exactly the ids in `present` as present (after adopting a roster from a
    /// `GroupInfo`); pins them first if needed, with `since_epoch` = their admission epoch.
    pub(crate) fn sync_present<'a>(
        &mut self,
        present: impl Iterator<Item = (&'a str, &'a PublicIdentity, u64)>,
    ) {
        let mut ids = std::collections::BTreeSet::new();
        for (pid, identity, admitted) in present {
            if self.pinned(pid) != Some(identity) {
                self.admit(pid, identity, admitted);
            }
            ids.insert(pid);
        }
        let gone: Vec<String> = self
            .pins
            .iter()
            .filter(|(pid, p)| p.present && !ids.contains(pid.as_str()))
            .map(|(pid, _)| pid.clone())
            .collect();
        for pid in gone {
            self.depart(&pid, 0);
        }
        for pid in ids {
            if let Some(p) = self.pins.get_mut(pid) {
                p.present = true;
                self.evictable.remove(&p.seq);
            }
        }
    }

    /// Refuses `identity` (admitted or asking as `participant_id`) durably for `reason`
    /// ([`JoinRefusal::Removed`] or [`JoinRefusal::Denied`]) until [`PinTable::lift`].
    pub fn refuse(&mut self, participant_id: &str, identity: &PublicIdentity, reason: JoinRefusal) {
        let key = *identity.as_bytes();
        if !self.refused.contains_key(&key) && self.refused.len() >= MAX_REMOVED_IDENTITIES {
            self.lapse_oldest_refusal();
        }
        let seq = self.seq();
        self.refused.insert(
            key,
            Refusal {
                participant_id: participant_id.to_string(),
                reason,
                seq,
            },
        );
        if let Some(pin) = self.pins.get(participant_id)
            && pin.identity == *identity
        {
            self.evictable.remove(&pin.seq);
        }
    }

    fn lapse_oldest_refusal(&mut self) {
        let oldest = |denied_only: bool| {
            self.refused
                .iter()
                .filter(|(_, r)| !denied_only || r.reason == JoinRefusal::Denied)
                .min_by_key(|(_, r)| r.seq)
                .map(|(k, _)| *k)
        };
        if let Some(key) = oldest(true).or_else(|| oldest(false)) {
            self.unrefuse(&key);
        }
    }

    fn unrefuse(&mut self, key: &IdentityBytes) {
        let Some(r) = self.refused.remove(key) else {
            return;
        };
        if let Some(pin) = self.pins.get(&r.participant_id)
            && pin.identity.as_bytes() == key
            && !pin.present
        {
            self.evictable.insert(pin.seq, r.participant_id);
        }
    }

    /// Lifts every durable refusal recorded for `participant_id`, and that of the identity
    /// pinned to it. Returns whether one was lifted.
    pub fn lift(&mut self, participant_id: &str) -> bool {
        let pinned = self.pinned(participant_id).map(|p| *p.as_bytes());
        let keys: Vec<IdentityBytes> = self
            .refused
            .iter()
            .filter(|(k, r)| r.participant_id == participant_id || Some(**k) == pinned)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            self.unrefuse(k);
        }
        !keys.is_empty()
    }

    /// Drops the pin of `participant_id` so that another identity may take the id. Returns
    /// whether there was one. Present members keep their pins (the caller checks).
    pub fn release(&mut self, participant_id: &str) -> bool {
        match self.pins.remove(participant_id) {
            Some(p) => {
                self.evictable.remove(&p.seq);
                true
            }
            None => false,
        }
    }
}
