//! Helpers shared by the integration tests that play the relay: a simulated meeting whose
//! identity keys the test keeps, the relay's hands (taps that hold, record and forge), what a
//! participant shows, and a scanner for secrets in the bytes the relay carried.
//!
//! The forgeries themselves (envelopes, signatures, commits in someone else's name) live in
//! [`conclave_core::sim::forge`], shared with `conclave simulate --attack`.
//!
//! Test binaries include this file with `#[path = "../common/mod.rs"] mod common;` and the
//! attack modules `use crate::common::*;` (the `pub use`s below are their prelude).

#![allow(dead_code)]

pub use std::cell::RefCell;
pub use std::collections::{BTreeMap, HashSet};
pub use std::rc::Rc;
pub use std::time::Duration;

pub use conclave_core::frame::{FrameConfig, FrameCrypto, FrameError, FrameHeader, TooOldCause};
pub use conclave_core::hpke;
pub use conclave_core::meeting::{
    Event, Meeting, MeetingConfig, MeetingError, commit_bundle_for_leaf, echo_leaf, welcome_info,
};
pub use conclave_core::merkle::{self, MerkleError};
pub use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
pub use conclave_core::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
pub use conclave_core::protocol::{DecodeError, MessageKind, encode};
pub use conclave_core::schedule::{EpochSecrets, SenderKeys, labels};
pub use conclave_core::sim::forge::{self, body, envelope, sign};
pub use conclave_core::sim::{InFlight, Sim, TapAction};
pub use conclave_core::tree::{LeaderTree, Occupancy};
pub use conclave_core::{CipherSuite, IdentityKey};
pub use prost::Message;
pub use rand_chacha::ChaCha20Rng;
pub use rand_core::SeedableRng;
pub use zeroize::Zeroizing;

pub type S = Sim<ChaCha20Rng>;

pub const MID: &[u8] = b"adversarial-meeting-000001";
pub const OTHER_MID: &[u8] = b"another-meeting-0000000002";

pub fn sec(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ----- building meetings -------------------------------------------------------------------

/// A simulation whose participants' identity keys the test keeps (to play a malicious or
/// removed member, or to check that no identity secret crosses the relay).
pub struct World {
    pub s: S,
    pub keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self {
            s: Sim::new(
                MID,
                MeetingConfig::default(),
                ChaCha20Rng::seed_from_u64(seed),
            ),
            keys: BTreeMap::new(),
        }
    }

    /// `ids[0]` creates the meeting, the others join one after another (so ranks follow `ids`).
    pub fn meeting(seed: u64, ids: &[&str]) -> Self {
        let mut w = Self::new(seed);
        for (i, id) in ids.iter().enumerate() {
            let k = IdentityKey::generate(&mut w.s.rng);
            w.keys.insert(id.to_string(), k.secret_bytes());
            if i == 0 {
                w.s.create_with(id, k).unwrap();
            } else {
                w.s.join_with(id, k).unwrap();
            }
            w.s.settle();
        }
        assert_converged(&w.s);
        w
    }

    pub fn identity(&self, id: &str) -> IdentityKey {
        IdentityKey::from_secret_bytes(self.keys[id].as_ref()).unwrap()
    }

    pub fn join(&mut self, id: &str) {
        let k = IdentityKey::generate(&mut self.s.rng);
        self.keys.insert(id.to_string(), k.secret_bytes());
        self.s.join_with(id, k).unwrap();
    }
}

pub fn assert_converged(s: &S) -> u64 {
    match s.converged() {
        Some(e) => e,
        None => {
            let views: Vec<_> = s
                .active()
                .iter()
                .map(|id| {
                    let m = &s.participants[*id];
                    (id.to_string(), m.epoch(), m.security_code(), m.is_leader())
                })
                .collect();
            panic!(
                "not converged: {views:?}\nlast rejections: {:#?}",
                &s.rejections[s.rejections.len().saturating_sub(8)..]
            );
        }
    }
}

/// The meeting goes on after an attack: a newcomer joins, the leader rotates, everyone agrees.
pub fn assert_meeting_continues(w: &mut World, newcomer: &str) {
    w.s.tap = None;
    w.s.advance(sec(12), sec(1));
    let before = assert_converged(&w.s);
    let present = w.s.active().len();
    w.join(newcomer);
    w.s.settle();
    assert_eq!(w.s.active().len(), present + 1, "{newcomer} did not get in");
    let leader = w.s.leader().expect("one leader").to_string();
    w.s.act(&leader, |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.advance(sec(12), sec(1));
    let after = assert_converged(&w.s);
    assert!(after >= before + 2, "epoch {before} -> {after}");
}

// ----- what a participant shows -------------------------------------------------------------

/// Everything an attack could change in a participant's view of the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub active: bool,
    pub leader: bool,
    pub epoch: u64,
    pub transcript: [u8; 32],
    pub code: Option<String>,
    pub leader_leaf: u32,
    pub roster: Vec<(String, u32, u64)>,
    pub locked: bool,
}

pub fn view(s: &S, id: &str) -> View {
    let m = &s.participants[id];
    View {
        active: m.is_active(),
        leader: m.is_leader(),
        epoch: m.epoch(),
        transcript: m.transcript_hash(),
        code: m.security_code(),
        leader_leaf: m.leader_leaf(),
        roster: m
            .participants()
            .into_iter()
            .map(|p| (p.participant_id, p.leaf, p.admitted_epoch))
            .collect(),
        locked: m.is_locked(),
    }
}

pub fn views(s: &S) -> BTreeMap<String, View> {
    s.participants
        .keys()
        .map(|id| (id.clone(), view(s, id)))
        .collect()
}

// ----- the relay's hands ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Announcement,
    Commit,
    Welcome,
    Heartbeat,
    Leave,
    Resync,
    Liveness,
    Vote,
}

pub fn kind_of(payload: &[u8]) -> Option<Kind> {
    Some(match body(payload)? {
        Body::Announcement(_) => Kind::Announcement,
        Body::Commit(_) => Kind::Commit,
        Body::Welcome(_) => Kind::Welcome,
        Body::Heartbeat(_) => Kind::Heartbeat,
        Body::Leave(_) => Kind::Leave,
        Body::ResyncRequest(_) => Kind::Resync,
        Body::Liveness(_) => Kind::Liveness,
        Body::FailoverVote(_) => Kind::Vote,
    })
}

pub type Log = Rc<RefCell<Vec<InFlight>>>;

/// Installs a tap that drops (and keeps, in order) every message `pick` selects.
pub fn hold(s: &mut S, pick: impl Fn(&InFlight, Kind) -> bool + 'static) -> Log {
    let held: Log = Rc::default();
    let h = held.clone();
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        if kind_of(&m.payload).is_some_and(|k| pick(m, k)) {
            h.borrow_mut().push(m.clone());
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    held
}

/// Installs a tap that records every message the relay forwards and applies `attack`.
pub fn record(s: &mut S, mut attack: impl FnMut(&mut InFlight) -> TapAction + 'static) -> Log {
    let log: Log = Rc::default();
    let l = log.clone();
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        let a = attack(m);
        let mut l = l.borrow_mut();
        if a != TapAction::Drop {
            l.push(m.clone());
        }
        if let TapAction::DeliverWith(more) = &a {
            l.extend(more.iter().cloned());
        }
        a
    }));
    log
}

pub fn take(log: &Log, to: &str, kind: Kind) -> Vec<InFlight> {
    log.borrow()
        .iter()
        .filter(|m| m.to == to && kind_of(&m.payload) == Some(kind))
        .cloned()
        .collect()
}

/// Delivers crafted bytes to `to` as the relay; returns the rejection, if any.
pub fn inject(s: &mut S, to: &str, payload: Vec<u8>) -> Option<MeetingError> {
    let n = s.rejections.len();
    s.deliver_one(InFlight {
        from: "relay".into(),
        to: to.into(),
        payload,
    });
    s.rejections.get(n).map(|r| {
        assert_eq!(r.at, to);
        r.error.clone()
    })
}

/// Injects `payload` and checks that `to` rejects it as `expected` says without any change of
/// state anywhere in the meeting.
#[track_caller]
pub fn assert_rejected(
    s: &mut S,
    to: &str,
    payload: Vec<u8>,
    what: &str,
    expected: impl Fn(&MeetingError) -> bool,
) -> MeetingError {
    let before = views(s);
    let err = inject(s, to, payload).unwrap_or_else(|| panic!("{what}: accepted by {to}"));
    assert!(expected(&err), "{what}: unexpected rejection {err:?}");
    assert_eq!(views(s), before, "{what}: state changed although rejected");
    err
}

pub fn bad_sig(err: &MeetingError) -> bool {
    matches!(err, MeetingError::BadSignature { .. })
}

/// The `SignedMessage` an envelope carries.
pub fn signed_mut(b: &mut Body) -> &mut pb::SignedMessage {
    forge::signed_mut(b).expect("a signed message")
}

/// Flips one byte of the envelope's signature.
pub fn flip_signature(payload: &[u8]) -> Vec<u8> {
    let mut b = body(payload).unwrap();
    signed_mut(&mut b).signature[17] ^= 0x01;
    envelope(b)
}

/// Decodes the signed content as `M`, lets `f` change it, re-encodes it and keeps the original
/// signature: what a relay does to change a field of a signed message.
pub fn edit_content<M: Message + Default>(payload: &[u8], f: impl FnOnce(&mut M)) -> Vec<u8> {
    let mut b = body(payload).unwrap();
    let signed = signed_mut(&mut b);
    let mut m = M::decode(signed.content.as_slice()).unwrap();
    assert_eq!(
        encode(&m),
        signed.content,
        "senders encode canonically, so a re-encoding is byte-identical"
    );
    f(&mut m);
    let content = encode(&m);
    assert_ne!(content, signed.content, "the edit changed nothing");
    signed.content = content;
    envelope(b)
}

pub fn commit_bundle(payload: &[u8]) -> pb::CommitBundle {
    match body(payload) {
        Some(Body::Commit(c)) => c,
        other => panic!("not a commit: {other:?}"),
    }
}

pub fn heartbeat_bundle(payload: &[u8]) -> pb::HeartbeatBundle {
    match body(payload) {
        Some(Body::Heartbeat(h)) => h,
        other => panic!("not a heartbeat: {other:?}"),
    }
}

pub fn ct(b: &mut pb::CommitBundle, i: usize) -> &mut Vec<u8> {
    &mut b.updates[i].update.as_mut().unwrap().ciphertext
}

pub fn commit_of(bundle: &pb::CommitBundle) -> pb::Commit {
    pb::Commit::decode(bundle.commit.as_ref().unwrap().content.as_slice()).unwrap()
}

pub fn heartbeat_of(bundle: &pb::HeartbeatBundle) -> pb::Heartbeat {
    pb::Heartbeat::decode(bundle.heartbeat.as_ref().unwrap().content.as_slice()).unwrap()
}

/// Delivers held messages in order (as an honest relay finally would).
pub fn release(s: &mut S, held: &Log) {
    let msgs: Vec<InFlight> = held.borrow_mut().drain(..).collect();
    for m in msgs {
        s.deliver_one(m);
    }
    s.settle();
}

// ----- secrets the relay must never see -----------------------------------------------------

/// Every secret the test can observe, collected as the meeting runs, and every byte the relay
/// carried. `scan` fails if any secret appears anywhere in the carried bytes.
#[derive(Default)]
pub struct Secrets {
    pub items: Vec<(String, Vec<u8>)>,
    pub seen: HashSet<Vec<u8>>,
}

impl Secrets {
    pub fn add(&mut self, what: String, bytes: &[u8]) {
        if self.seen.insert(bytes.to_vec()) {
            self.items.push((what, bytes.to_vec()));
        }
    }

    /// Epoch secrets, frame secrets and every (sender, stream) frame key and salt of the epochs
    /// the participants hold now, and their identity secret keys.
    pub fn collect(&mut self, w: &World) {
        for (id, m) in &w.s.participants {
            if let Some(e) = m.epoch_secrets() {
                self.add(
                    format!("{id} epoch {} epoch_secret", e.epoch),
                    e.epoch_secret.expose(),
                );
                self.add(
                    format!("{id} epoch {} frame_secret", e.epoch),
                    e.frame_secret.expose(),
                );
                self.add(
                    format!("{id} epoch {} security code", e.epoch),
                    e.security_code.as_bytes(),
                );
                for p in m.participants() {
                    for stream in 0..2 {
                        let k = SenderKeys::derive(&e.frame_secret, p.leaf, stream);
                        self.add(format!("frame key {} {stream}", p.leaf), k.key.expose());
                        self.add(format!("frame salt {} {stream}", p.leaf), k.salt.expose());
                    }
                }
            }
        }
        for (id, k) in &w.keys {
            self.add(format!("{id} identity secret key"), k.as_ref());
        }
    }

    pub fn scan(&self, carried: &[Vec<u8>]) {
        const W: usize = 12;
        let mut windows: HashSet<&[u8]> = HashSet::new();
        for c in carried {
            for win in c.windows(W) {
                windows.insert(win);
            }
        }
        for (what, secret) in &self.items {
            assert!(secret.len() >= W, "{what} too short to scan");
            if windows.contains(&secret[..W]) {
                let full = carried
                    .iter()
                    .any(|c| c.windows(secret.len()).any(|x| x == secret.as_slice()));
                assert!(!full, "the relay carried {what}");
            }
        }
    }
}

/// A frame encryptor/decryptor holding `id`'s current epoch.
pub fn frames_of(s: &S, id: &str) -> FrameCrypto {
    let m = &s.participants[id];
    let fc = FrameCrypto::new(FrameConfig::default()).unwrap();
    fc.set_own_sender(m.own_leaf()).unwrap();
    let e = m.epoch_secrets().expect("keys");
    fc.install_epoch(e.epoch, &e.frame_secret, s.now).unwrap();
    fc
}

pub fn install_current(fc: &FrameCrypto, m: &Meeting, now: Duration) {
    let e = m.epoch_secrets().expect("keys");
    fc.install_epoch(e.epoch, &e.frame_secret, now).unwrap();
}
