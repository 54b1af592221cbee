//! The adversarial-relay suite: the relay (SFU) is the attacker (`spec/overview.md` section 3).
//!
//! Each test mounts one attack through the simulation's tap (or by delivering crafted bytes
//! directly) and checks four things: the attack is detected (a specific [`MeetingError`] in
//! `sim.rejections`, or a specific event); nothing forged is accepted (the honest members' epoch,
//! transcript, roster, leader and security code are unchanged by the forged input); the honest
//! meeting goes on (a later join, leave or rotation still converges); and, where keys or media are
//! involved, no byte the relay carried contains a secret or a known plaintext.
//!
//! `spec/security.md` maps every attack to the rule that stops it and to its test here.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use conclave_core::frame::{FrameConfig, FrameCrypto, FrameError, FrameHeader, TooOldCause};
use conclave_core::hpke;
use conclave_core::meeting::{
    Event, Meeting, MeetingConfig, MeetingError, commit_bundle_for_leaf, echo_leaf, welcome_info,
};
use conclave_core::merkle::{self, MerkleError};
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use conclave_core::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
use conclave_core::protocol::{DecodeError, MessageKind, decode_bounded, encode};
use conclave_core::schedule::{EpochSecrets, SenderKeys, labels};
use conclave_core::sim::{InFlight, Sim, TapAction};
use conclave_core::tree::{LeaderTree, Occupancy};
use conclave_core::{CipherSuite, IdentityKey};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

type S = Sim<ChaCha20Rng>;

const MID: &[u8] = b"adversarial-meeting-000001";
const OTHER_MID: &[u8] = b"another-meeting-0000000002";

fn sec(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ----- building meetings -------------------------------------------------------------------

/// A simulation whose participants' identity keys the test keeps (to play a malicious or
/// removed member, or to check that no identity secret crosses the relay).
struct World {
    s: S,
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl World {
    fn new(seed: u64) -> Self {
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
    fn meeting(seed: u64, ids: &[&str]) -> Self {
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

    fn identity(&self, id: &str) -> IdentityKey {
        IdentityKey::from_secret_bytes(self.keys[id].as_ref()).unwrap()
    }

    fn join(&mut self, id: &str) {
        let k = IdentityKey::generate(&mut self.s.rng);
        self.keys.insert(id.to_string(), k.secret_bytes());
        self.s.join_with(id, k).unwrap();
    }
}

fn assert_converged(s: &S) -> u64 {
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
fn assert_meeting_continues(w: &mut World, newcomer: &str) {
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
struct View {
    active: bool,
    leader: bool,
    epoch: u64,
    transcript: [u8; 32],
    code: Option<String>,
    leader_leaf: u32,
    roster: Vec<(String, u32, u64)>,
    locked: bool,
}

fn view(s: &S, id: &str) -> View {
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

fn views(s: &S) -> BTreeMap<String, View> {
    s.participants
        .keys()
        .map(|id| (id.clone(), view(s, id)))
        .collect()
}

// ----- the relay's hands ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Announcement,
    Commit,
    Welcome,
    Heartbeat,
    Leave,
    Resync,
    Liveness,
    Vote,
}

fn body(payload: &[u8]) -> Option<Body> {
    decode_bounded::<pb::Envelope>(MessageKind::Envelope, payload, MAX_ENVELOPE_SIZE)
        .ok()?
        .body
}

fn kind_of(payload: &[u8]) -> Option<Kind> {
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

fn envelope(b: Body) -> Vec<u8> {
    encode(&pb::Envelope { body: Some(b) })
}

type Log = Rc<RefCell<Vec<InFlight>>>;

/// Installs a tap that drops (and keeps, in order) every message `pick` selects.
fn hold(s: &mut S, pick: impl Fn(&InFlight, Kind) -> bool + 'static) -> Log {
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
fn record(s: &mut S, mut attack: impl FnMut(&mut InFlight) -> TapAction + 'static) -> Log {
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

fn take(log: &Log, to: &str, kind: Kind) -> Vec<InFlight> {
    log.borrow()
        .iter()
        .filter(|m| m.to == to && kind_of(&m.payload) == Some(kind))
        .cloned()
        .collect()
}

/// Delivers crafted bytes to `to` as the relay; returns the rejection, if any.
fn inject(s: &mut S, to: &str, payload: Vec<u8>) -> Option<MeetingError> {
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
fn assert_rejected(
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

fn bad_sig(err: &MeetingError) -> bool {
    matches!(err, MeetingError::BadSignature { .. })
}

/// The `SignedMessage` an envelope carries.
fn signed_mut(b: &mut Body) -> &mut pb::SignedMessage {
    match b {
        Body::Announcement(s)
        | Body::Welcome(s)
        | Body::Leave(s)
        | Body::ResyncRequest(s)
        | Body::Liveness(s)
        | Body::FailoverVote(s) => s,
        Body::Commit(c) => c.commit.as_mut().unwrap(),
        Body::Heartbeat(h) => h.heartbeat.as_mut().unwrap(),
    }
}

/// Flips one byte of the envelope's signature.
fn flip_signature(payload: &[u8]) -> Vec<u8> {
    let mut b = body(payload).unwrap();
    signed_mut(&mut b).signature[17] ^= 0x01;
    envelope(b)
}

/// Decodes the signed content as `M`, lets `f` change it, re-encodes it and keeps the original
/// signature: what a relay does to change a field of a signed message.
fn edit_content<M: Message + Default>(payload: &[u8], f: impl FnOnce(&mut M)) -> Vec<u8> {
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

fn commit_bundle(payload: &[u8]) -> pb::CommitBundle {
    match body(payload) {
        Some(Body::Commit(c)) => c,
        other => panic!("not a commit: {other:?}"),
    }
}

fn heartbeat_bundle(payload: &[u8]) -> pb::HeartbeatBundle {
    match body(payload) {
        Some(Body::Heartbeat(h)) => h,
        other => panic!("not a heartbeat: {other:?}"),
    }
}

fn ct(b: &mut pb::CommitBundle, i: usize) -> &mut Vec<u8> {
    &mut b.updates[i].update.as_mut().unwrap().ciphertext
}

fn commit_of(bundle: &pb::CommitBundle) -> pb::Commit {
    pb::Commit::decode(bundle.commit.as_ref().unwrap().content.as_slice()).unwrap()
}

fn heartbeat_of(bundle: &pb::HeartbeatBundle) -> pb::Heartbeat {
    pb::Heartbeat::decode(bundle.heartbeat.as_ref().unwrap().content.as_slice()).unwrap()
}

fn sign(identity: &IdentityKey, label: &str, content: Vec<u8>) -> pb::SignedMessage {
    let signature = identity.sign(label, &content).to_vec();
    pb::SignedMessage { content, signature }
}

/// Delivers held messages in order (as an honest relay finally would).
fn release(s: &mut S, held: &Log) {
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
struct Secrets {
    items: Vec<(String, Vec<u8>)>,
    seen: HashSet<Vec<u8>>,
}

impl Secrets {
    fn add(&mut self, what: String, bytes: &[u8]) {
        if self.seen.insert(bytes.to_vec()) {
            self.items.push((what, bytes.to_vec()));
        }
    }

    /// Epoch secrets, frame secrets and every (sender, stream) frame key and salt of the epochs
    /// the participants hold now, and their identity secret keys.
    fn collect(&mut self, w: &World) {
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

    fn scan(&self, carried: &[Vec<u8>]) {
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
fn frames_of(s: &S, id: &str) -> FrameCrypto {
    let m = &s.participants[id];
    let fc = FrameCrypto::new(FrameConfig::default()).unwrap();
    fc.set_own_sender(m.own_leaf()).unwrap();
    let e = m.epoch_secrets().expect("keys");
    fc.install_epoch(e.epoch, &e.frame_secret, s.now).unwrap();
    fc
}

fn install_current(fc: &FrameCrypto, m: &Meeting, now: Duration) {
    let e = m.epoch_secrets().expect("keys");
    fc.install_epoch(e.epoch, &e.frame_secret, now).unwrap();
}

// =============================================================================================
// Tampering: one byte of each message type, in the signed content and in the signature.
// =============================================================================================

#[test]
fn tampered_announcement_is_rejected() {
    let mut w = World::meeting(101, &["alice", "bob"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Announcement && m.to == "alice");
    w.join("erin");
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "announcement nonce byte",
            edit_content::<pb::Announcement>(&genuine, |a| a.liveness_nonce[3] ^= 1),
        ),
        (
            "announcement participant id",
            edit_content::<pb::Announcement>(&genuine, |a| a.participant_id = "erim".into()),
        ),
        (
            "announcement HPKE key byte",
            edit_content::<pb::Announcement>(&genuine, |a| a.hpke_keys[0].public_key[40] ^= 1),
        ),
        ("announcement signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        let err = assert_rejected(&mut w.s, "alice", payload, what, |e| {
            bad_sig(e)
                || matches!(
                    e,
                    MeetingError::Invalid {
                        message: "announcement",
                        ..
                    }
                )
        });
        // A flipped HPKE key byte may leave the curve: rejected by field validation (wire.md 5.3)
        // before the signature; every other change fails the signature (ANN-2).
        if what != "announcement HPKE key byte" {
            assert!(bad_sig(&err), "{what}: {err:?}");
        }
    }
    // Nothing was queued: no commit follows.
    let epoch = w.s.participants["alice"].epoch();
    w.s.settle();
    assert_eq!(w.s.participants["alice"].epoch(), epoch);
    assert!(!w.s.participants["erin"].is_active());

    // The genuine announcement still admits erin.
    release(&mut w.s, &held);
    assert!(w.s.participants["erin"].is_active());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "frank");
}

#[test]
fn tampered_commit_content_and_signature_are_rejected() {
    let mut w = World::meeting(102, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, _| m.to == "bob");
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = take(&held, "bob", Kind::Commit)[0].payload.clone();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "commit prev_transcript_hash byte",
            edit_content::<pb::Commit>(&genuine, |c| c.prev_transcript_hash[5] ^= 1),
        ),
        (
            "commit updates_root byte",
            edit_content::<pb::Commit>(&genuine, |c| c.updates_root[0] ^= 1),
        ),
        (
            "commit remove reason",
            edit_content::<pb::Commit>(&genuine, |c| {
                c.removes[0].reason = RemoveReason::Left as i32
            }),
        ),
        (
            "commit remove of another member",
            edit_content::<pb::Commit>(&genuine, |c| c.removes[0].leaf = 2),
        ),
        (
            "commit lock flag",
            edit_content::<pb::Commit>(&genuine, |c| c.locked = true),
        ),
        (
            "commit leader leaf (handover to bob)",
            edit_content::<pb::Commit>(&genuine, |c| {
                c.leader_leaf = 1;
                c.reason = CommitReason::Handover as i32;
                c.removes.clear();
                c.update_count = 0;
            }),
        ),
        ("commit signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "bob", payload, what, bad_sig);
    }
    // A forged failover commit is stopped before its signature: it carries no quorum of votes
    // (FO-2).
    let forged = edit_content::<pb::Commit>(&genuine, |c| {
        c.reason = CommitReason::Failover as i32;
        c.removes = vec![pb::Remove {
            leaf: 0,
            reason: RemoveReason::LeaderFailed as i32,
        }];
        c.leader_leaf = 1;
        c.rebuild = true;
    });
    assert_rejected(&mut w.s, "bob", forged, "failover commit", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    release(&mut w.s, &held);
    assert_converged(&w.s);
    assert_eq!(w.s.participants["bob"].participants().len(), 3);
    assert_meeting_continues(&mut w, "erin");
}

/// Key-tree entries swapped or relabelled, and Merkle proofs altered (COM-6.16).
#[test]
fn tampered_commit_updates_and_proof_are_rejected() {
    let mut w = World::meeting(103, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, _| m.to == "bob");
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = take(&held, "bob", Kind::Commit)[0].payload.clone();
    let full = commit_bundle(&genuine);
    let wraps: Vec<(u32, u32)> = full
        .updates
        .iter()
        .map(|iu| {
            let u = iu.update.as_ref().unwrap();
            (u.node, u.child)
        })
        .collect();
    // Removing leaf 3 of 4: fresh keys for node 5 (under carol's leaf node 4) and the root 3
    // (under nodes 1 and 5), in Merkle order: wrapped under a refreshed child first.
    assert_eq!(wraps, vec![(3, 5), (5, 4), (3, 1)]);
    let bob_slice = commit_bundle_for_leaf(&full, &[(3, 1)]);
    assert_eq!(bob_slice.updates.len(), 1);
    assert!(!bob_slice.proof.is_empty());

    let edit = |f: &dyn Fn(&mut pb::CommitBundle), base: &pb::CommitBundle| {
        let mut b = base.clone();
        f(&mut b);
        envelope(Body::Commit(b))
    };
    let root_mismatch = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::RootMismatch {
                message: "commit",
                ..
            }
        )
    };
    let bad_proof = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::BadProof {
                message: "commit",
                ..
            }
        )
    };

    let flipped = edit(&|b| ct(b, 0)[7] ^= 1, &full);
    assert_rejected(
        &mut w.s,
        "bob",
        flipped,
        "update ciphertext byte",
        root_mismatch,
    );

    let swapped = edit(
        &|b| {
            let a = ct(b, 0).clone();
            let c = ct(b, 1).clone();
            *ct(b, 0) = c;
            *ct(b, 1) = a;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        swapped,
        "swapped ciphertexts",
        root_mismatch,
    );

    // The same wrapped key presented as the wrap under the other child of the root: the
    // (node, child) pair is what the Merkle leaf hashes, so the root no longer matches.
    let relabelled = edit(
        &|b| {
            let ct0 = b.updates[0].update.as_ref().unwrap().ciphertext.clone();
            let u = b.updates[1].update.as_mut().unwrap();
            u.ciphertext = ct0;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        relabelled,
        "bob's wrap relabelled as the wrap under node 5",
        root_mismatch,
    );

    // Bob's slice relabelled as the entry of index 0, (3, 5): the plan accepts the pair, the
    // Merkle leaf differs.
    let moved = edit(
        &|b| {
            b.updates[0].index = 0;
            b.updates[0].update.as_mut().unwrap().child = 5;
        },
        &bob_slice,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        moved,
        "slice entry moved to index 0",
        |e| root_mismatch(e) || bad_proof(e),
    );

    // An entry whose (node, child) is not the plan's at its index.
    let wrong_pair = edit(&|b| b.updates[0].update.as_mut().unwrap().child = 4, &full);
    assert_rejected(&mut w.s, "bob", wrong_pair, "node/child off plan", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    // Two entries swapped whole (index and update): out of order.
    let reordered = edit(&|b| b.updates.swap(0, 1), &full);
    assert_rejected(&mut w.s, "bob", reordered, "entries out of order", |e| {
        bad_proof(e) || matches!(e, MeetingError::BadRoster { .. })
    });

    let proof_byte = edit(&|b| b.proof[0][9] ^= 1, &bob_slice);
    assert_rejected(
        &mut w.s,
        "bob",
        proof_byte,
        "proof hash byte",
        root_mismatch,
    );
    let short = edit(
        &|b| {
            b.proof.pop();
        },
        &bob_slice,
    );
    assert_rejected(&mut w.s, "bob", short, "proof hash dropped", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooShort,
                ..
            }
        )
    });
    let long = edit(&|b| b.proof.push(vec![0u8; 32]), &bob_slice);
    assert_rejected(&mut w.s, "bob", long, "proof hash added", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooLong(1),
                ..
            }
        )
    });
    let stripped = edit(
        &|b| {
            b.updates.clear();
            b.proof.clear();
        },
        &full,
    );
    assert_rejected(&mut w.s, "bob", stripped, "all updates stripped", bad_proof);
    let short_ct = edit(&|b| ct(b, 0).truncate(47), &full);
    assert_rejected(&mut w.s, "bob", short_ct, "47-byte ciphertext", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    // The honest slice is accepted and gives bob the same keys as everyone.
    let sliced_hb: Vec<InFlight> = held
        .borrow()
        .iter()
        .filter(|m| kind_of(&m.payload) != Some(Kind::Commit))
        .cloned()
        .collect();
    assert!(inject(&mut w.s, "bob", envelope(Body::Commit(bob_slice))).is_none());
    held.borrow_mut().clear();
    for m in sliced_hb {
        w.s.deliver_one(m);
    }
    w.s.settle();
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn tampered_welcome_is_rejected() {
    let mut w = World::meeting(104, &["alice", "bob"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Welcome && m.to == "carol");
    w.join("carol");
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();

    let regroup = |f: &dyn Fn(&mut pb::SignedMessage)| {
        edit_content::<pb::Welcome>(&genuine, |wl| {
            let mut gi = pb::SignedMessage::decode(wl.group_info.as_slice()).unwrap();
            f(&mut gi);
            wl.group_info = encode(&gi);
        })
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "welcome HPKE ciphertext byte",
            edit_content::<pb::Welcome>(&genuine, |wl| wl.ciphertext[3] ^= 1),
        ),
        (
            "welcome enc byte",
            edit_content::<pb::Welcome>(&genuine, |wl| wl.enc[30] ^= 1),
        ),
        ("welcome signature", flip_signature(&genuine)),
        ("group info signature", regroup(&|gi| gi.signature[20] ^= 1)),
        (
            "group info lock flag",
            regroup(&|gi| {
                let mut g = pb::GroupInfo::decode(gi.content.as_slice()).unwrap();
                g.locked = true;
                gi.content = encode(&g);
            }),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    // Welcome and GroupInfo disagreeing on the transcript: rejected before any signature.
    let th = edit_content::<pb::Welcome>(&genuine, |wl| wl.transcript_hash[0] ^= 1);
    assert_rejected(&mut w.s, "carol", th, "welcome transcript", |e| {
        matches!(e, MeetingError::Invalid { .. })
    });
    assert!(!w.s.participants["carol"].is_active());

    release(&mut w.s, &held);
    assert!(w.s.participants["carol"].is_active());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_heartbeat_echoes_and_proof_are_rejected() {
    let mut w = World::meeting(105, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Heartbeat && m.to == "bob");
    w.s.advance(sec(10), sec(10));
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let full = heartbeat_bundle(&genuine);
    let bob_leaf = w.s.participants["bob"].own_leaf();
    let leaves: Vec<[u8; 32]> = full
        .echoes
        .iter()
        .map(|ie| {
            let e = ie.echo.as_ref().unwrap();
            echo_leaf(e.leaf, &e.nonce)
        })
        .collect();
    let idx = full
        .echoes
        .iter()
        .position(|ie| ie.echo.as_ref().unwrap().leaf == bob_leaf)
        .unwrap();
    let slice = pb::HeartbeatBundle {
        heartbeat: full.heartbeat.clone(),
        echoes: vec![full.echoes[idx].clone()],
        proof: merkle::prove(&leaves, &[idx])
            .unwrap()
            .iter()
            .map(|h| h.to_vec())
            .collect(),
    };
    assert!(!slice.proof.is_empty());
    let edit = |f: &dyn Fn(&mut pb::HeartbeatBundle), base: &pb::HeartbeatBundle| {
        let mut b = base.clone();
        f(&mut b);
        envelope(Body::Heartbeat(b))
    };
    let root_mismatch = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::RootMismatch {
                message: "heartbeat",
                ..
            }
        )
    };

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "heartbeat confirmation byte",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.confirmation[0] ^= 1),
        ),
        (
            "heartbeat sequence",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.sequence += 5),
        ),
        (
            "heartbeat liveness root byte",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.liveness_root[31] ^= 1),
        ),
        ("heartbeat signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "bob", payload, what, bad_sig);
    }
    let echo_nonce = edit(
        &|b| b.echoes[idx].echo.as_mut().unwrap().nonce[2] ^= 1,
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        echo_nonce,
        "echo nonce byte",
        root_mismatch,
    );
    let echo_leaf_moved = edit(
        &|b| {
            let other = if idx == 0 { 1 } else { 0 };
            let n = b.echoes[other].echo.as_ref().unwrap().nonce.clone();
            b.echoes[idx].echo.as_mut().unwrap().nonce = n;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        echo_leaf_moved,
        "another member's nonce echoed at bob's leaf",
        root_mismatch,
    );
    let proof_byte = edit(&|b| b.proof[0][4] ^= 1, &slice);
    assert_rejected(
        &mut w.s,
        "bob",
        proof_byte,
        "echo proof byte",
        root_mismatch,
    );
    let short = edit(
        &|b| {
            b.proof.pop();
        },
        &slice,
    );
    assert_rejected(&mut w.s, "bob", short, "echo proof hash dropped", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooShort,
                ..
            }
        )
    });

    // The genuine heartbeat is accepted (none of the rejected copies advanced the sequence),
    // and a replay of it, sliced or whole, is then refused (HB-6).
    assert_eq!(
        inject(&mut w.s, "bob", envelope(Body::Heartbeat(slice.clone()))),
        None
    );
    for replay in [genuine, envelope(Body::Heartbeat(slice))] {
        assert_rejected(&mut w.s, "bob", replay, "replayed heartbeat", |e| {
            matches!(e, MeetingError::ReplayedHeartbeat { .. })
        });
    }
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn tampered_leave_is_rejected() {
    let mut w = World::meeting(106, &["alice", "bob", "carol"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Leave && m.to == "alice");
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "leave re-addressed to carol's leaf",
            edit_content::<pb::Leave>(&genuine, |l| l.leaf = 2),
        ),
        (
            "leave re-addressed to the leader's leaf",
            edit_content::<pb::Leave>(&genuine, |l| l.leaf = 0),
        ),
        (
            "leave epoch",
            edit_content::<pb::Leave>(&genuine, |l| l.epoch -= 1),
        ),
        ("leave signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 3);
    release(&mut w.s, &held);
    assert_eq!(w.s.participants["carol"].participants().len(), 2);
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_resync_request_is_rejected() {
    let mut w = World::meeting(107, &["alice", "bob", "carol"]);
    // Bob misses a commit; the heartbeat that follows tells him he is behind (HB-4).
    let to_bob = hold(&mut w.s, |m, k| {
        (m.to == "bob" && k == Kind::Commit)
            || (m.to == "alice" && m.from == "bob" && k == Kind::Resync)
    });
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    let genuine = take(&to_bob, "alice", Kind::Resync)[0].payload.clone();
    let welcomes = hold(&mut w.s, |m, k| m.to == "bob" && k == Kind::Welcome);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "resync nonce byte",
            edit_content::<pb::ResyncRequest>(&genuine, |r| r.liveness_nonce[0] ^= 1),
        ),
        (
            "resync re-addressed to carol's leaf",
            edit_content::<pb::ResyncRequest>(&genuine, |r| r.leaf = 2),
        ),
        ("resync signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    w.s.settle();
    assert!(
        welcomes.borrow().is_empty(),
        "a forged request was answered"
    );
    w.s.tap = None;
    to_bob.borrow_mut().clear();
    assert_eq!(inject(&mut w.s, "alice", genuine), None);
    w.s.settle();
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_liveness_nonce_is_rejected() {
    let mut w = World::meeting(108, &["alice", "bob", "carol"]);
    let held = hold(&mut w.s, |m, k| {
        m.to == "alice" && m.from == "bob" && k == Kind::Liveness
    });
    w.s.advance(sec(10), sec(10));
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "liveness nonce byte",
            edit_content::<pb::LivenessNonce>(&genuine, |l| l.nonce[23] ^= 1),
        ),
        (
            "liveness re-addressed to carol's leaf",
            edit_content::<pb::LivenessNonce>(&genuine, |l| l.leaf = 2),
        ),
        ("liveness signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    // A nonce of the wrong length is a field error, before the signature.
    let short = edit_content::<pb::LivenessNonce>(&genuine, |l| {
        l.nonce.pop();
    });
    assert_rejected(&mut w.s, "alice", short, "23-byte nonce", |e| {
        matches!(e, MeetingError::Invalid { .. })
    });
    assert_eq!(inject(&mut w.s, "alice", genuine), None);
    assert_meeting_continues(&mut w, "dave");
}

// =============================================================================================
// Replay, rollback, reordering, loss and duplication.
// =============================================================================================

#[test]
fn replayed_old_commits_are_rejected() {
    let mut w = World::meeting(201, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.join("dave");
    w.s.settle();
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let old: Vec<Vec<u8>> = take(&log, "bob", Kind::Commit)
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(old.len(), 3);
    for c in &old {
        assert_rejected(&mut w.s, "bob", c.clone(), "replayed commit", |e| {
            matches!(
                e,
                MeetingError::StaleEpoch {
                    message: "commit",
                    ..
                }
            )
        });
        // The leader applies only its own commits (COM-3).
        assert_rejected(
            &mut w.s,
            "alice",
            c.clone(),
            "replayed commit at leader",
            |e| matches!(e, MeetingError::Unexpected { .. }),
        );
    }
    // A commit replayed from another meeting (the relay serves both).
    let foreign = {
        let mut o = Sim::new(
            OTHER_MID,
            MeetingConfig::default(),
            ChaCha20Rng::seed_from_u64(203),
        );
        o.create("xavier").unwrap();
        let l = record(&mut o, |_| TapAction::Deliver);
        o.join("yvonne").unwrap();
        o.settle();
        let c = take(&l, "yvonne", Kind::Commit);
        c[0].payload.clone()
    };
    assert_rejected(&mut w.s, "bob", foreign, "another meeting's commit", |e| {
        matches!(e, MeetingError::WrongMeeting { message: "commit" })
    });
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn replayed_old_heartbeats_are_rejected() {
    let mut w = World::meeting(204, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.s.advance(sec(30), sec(5));
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.advance(sec(20), sec(5));
    w.s.tap = None;
    let epoch = w.s.participants["bob"].epoch();
    let hbs: Vec<Vec<u8>> = take(&log, "bob", Kind::Heartbeat)
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert!(hbs.len() >= 5);
    for hb in hbs {
        let old_epoch = heartbeat_of(&heartbeat_bundle(&hb)).epoch < epoch;
        assert_rejected(&mut w.s, "bob", hb, "replayed heartbeat", |e| {
            if old_epoch {
                matches!(
                    e,
                    MeetingError::StaleEpoch {
                        message: "heartbeat",
                        ..
                    }
                )
            } else {
                matches!(e, MeetingError::ReplayedHeartbeat { .. })
            }
        });
    }
    assert_meeting_continues(&mut w, "dave");
}

/// Old Welcomes (sealed path keys) replayed to a member and to a participant who rejoins.
#[test]
fn replayed_old_welcomes_are_rejected() {
    let mut w = World::meeting(205, &["alice", "bob"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.join("carol");
    w.s.settle();
    // A handover makes bob rebuild and send Welcomes without group info.
    w.s.act("alice", |m, now, _| m.hand_over("bob", now))
        .unwrap();
    w.s.settle();
    w.s.act("bob", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let old = take(&log, "carol", Kind::Welcome);
    assert!(old.len() >= 2, "a join Welcome and a rebuild Welcome");
    for m in &old {
        assert_rejected(
            &mut w.s,
            "carol",
            m.payload.clone(),
            "replayed Welcome",
            |e| {
                matches!(
                    e,
                    MeetingError::StaleEpoch {
                        message: "welcome",
                        ..
                    }
                )
            },
        );
    }
    // Carol leaves and rejoins with the same identity and a fresh announcement. The relay
    // replays her first Welcome to the new join: its roster holds her old announcement and it
    // echoes an old nonce (WEL-6.5).
    w.s.act("carol", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    let carol = w.identity("carol");
    w.s.participants.remove("carol");
    let held = hold(&mut w.s, |m, k| m.to == "carol" && k == Kind::Welcome);
    w.s.join_with("carol", carol).unwrap();
    // A rejoin is admitted once it references a heartbeat it heard (ANN-10).
    w.s.advance(sec(11), sec(1));
    assert!(
        !held.borrow().is_empty(),
        "carol was admitted; her Welcome is held"
    );
    assert!(!w.s.participants["carol"].is_active());
    assert_rejected(
        &mut w.s,
        "carol",
        old[0].payload.clone(),
        "first Welcome replayed to the rejoin",
        |e| {
            matches!(
                e,
                MeetingError::Invalid {
                    message: "welcome",
                    ..
                }
            )
        },
    );
    assert!(!w.s.participants["carol"].is_active());
    release(&mut w.s, &held);
    w.s.tap = None;
    assert!(w.s.participants["carol"].is_active());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

/// A Leave from an earlier membership of the same identity cannot remove the current one (LEA-1).
#[test]
fn replayed_leave_from_earlier_membership_is_rejected() {
    let mut w = World::meeting(206, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    let old_leave = take(&log, "alice", Kind::Leave)[0].payload.clone();
    let bob = w.identity("bob");
    w.s.participants.remove("bob");
    w.s.join_with("bob", bob).unwrap();
    // A rejoin is admitted once it references a heartbeat it heard (ANN-10).
    w.s.advance(sec(11), sec(1));
    w.s.tap = None;
    assert!(w.s.participants["bob"].is_active());
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    // The rejoined bob got the same leaf back: a stale Leave names it with an older epoch.
    assert_eq!(edit_leaf(&old_leave), w.s.participants["bob"].own_leaf());
    assert_rejected(&mut w.s, "alice", old_leave, "old Leave", |e| {
        matches!(
            e,
            MeetingError::StaleEpoch {
                message: "leave",
                ..
            }
        )
    });
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 3);
    assert_meeting_continues(&mut w, "dave");
}

fn edit_leaf(payload: &[u8]) -> u32 {
    let mut b = body(payload).unwrap();
    pb::Leave::decode(signed_mut(&mut b).content.as_slice())
        .unwrap()
        .leaf
}

/// Rollback: the relay replays the whole recorded history, newest first, to one member.
#[test]
fn rollback_to_an_older_epoch_is_rejected() {
    let mut w = World::meeting(207, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.join("dave");
    w.s.settle();
    w.s.advance(sec(20), sec(5));
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.act("alice", |m, now, _| m.lock(true, now)).unwrap();
    w.s.settle();
    w.s.advance(sec(10), sec(5));
    w.s.tap = None;
    let before = views(&w.s);
    let history: Vec<InFlight> = log.borrow().iter().rev().cloned().collect();
    let mut rejected = 0;
    for m in history {
        for to in ["bob", "carol"] {
            if let Some(e) = inject(&mut w.s, to, m.payload.clone()) {
                rejected += 1;
                assert!(
                    matches!(
                        e,
                        MeetingError::StaleEpoch { .. } | MeetingError::ReplayedHeartbeat { .. }
                    ),
                    "{e:?}"
                );
            }
        }
        assert_eq!(views(&w.s), before, "replaying {:?}", kind_of(&m.payload));
    }
    assert!(rejected > 10);
    assert!(w.s.participants["bob"].is_locked());
    w.s.act("alice", |m, now, _| m.lock(false, now)).unwrap();
    w.s.settle();
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn reordered_commits_are_buffered_and_applied_in_order() {
    let mut w = World::meeting(208, &["alice", "bob", "carol"]);
    let held = hold(&mut w.s, |m, _| m.to == "bob");
    w.join("dave");
    w.s.settle();
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let commits = take(&held, "bob", Kind::Commit);
    assert_eq!(commits.len(), 2);
    held.borrow_mut().clear();
    let e = w.s.participants["bob"].epoch();
    let err = inject(&mut w.s, "bob", commits[1].payload.clone());
    assert_eq!(
        err,
        Some(MeetingError::Gap {
            epoch: e + 2,
            expected: e + 1
        })
    );
    assert_eq!(w.s.participants["bob"].epoch(), e);
    assert_eq!(inject(&mut w.s, "bob", commits[0].payload.clone()), None);
    assert_eq!(
        w.s.participants["bob"].epoch(),
        e + 2,
        "buffered commit applied"
    );
    w.s.settle();
    w.s.advance(sec(12), sec(1));
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn dropped_messages_and_missing_updates_are_recovered() {
    let mut w = World::meeting(209, &["alice", "bob", "carol", "dave"]);
    // The relay gives bob carol's slice of a leave commit: valid, but without bob's update.
    let mut sliced_once = false;
    let log = record(&mut w.s, move |m| {
        if m.to == "bob" && kind_of(&m.payload) == Some(Kind::Commit) && !sliced_once {
            sliced_once = true;
            let full = commit_bundle(&m.payload);
            let carol_only = commit_bundle_for_leaf(&full, &[(3, 5), (5, 4)]);
            m.payload = envelope(Body::Commit(carol_only));
        }
        TapAction::Deliver
    });
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.advance(sec(12), sec(1));
    assert!(w.s.events.iter().any(|(id, e)| id == "bob"
        && matches!(e, Event::ResyncNeeded { reason } if reason.contains("epoch"))));
    assert_converged(&w.s);
    drop(log);
    // 30% loss on every message for a while: joins, leaves and rotations still converge.
    w.s.faults.drop_ppm = 300_000;
    w.join("erin");
    w.s.advance(sec(20), sec(1));
    w.s.act("carol", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.advance(sec(20), sec(1));
    w.s.faults.drop_ppm = 0;
    w.s.advance(sec(30), sec(1));
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "frank");
}

#[test]
fn duplicated_messages_are_harmless() {
    let mut w = World::meeting(210, &["alice", "bob", "carol"]);
    let _log = record(&mut w.s, |m| TapAction::DeliverWith(vec![m.clone()]));
    let n = w.s.rejections.len();
    w.join("dave");
    w.s.settle();
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.advance(sec(30), sec(1));
    assert_converged(&w.s);
    assert_eq!(w.s.participants["alice"].participants().len(), 3);
    let removed =
        w.s.events
            .iter()
            .filter(|(id, e)| id == "carol" && matches!(e, Event::ParticipantRemoved { .. }))
            .count();
    assert_eq!(removed, 1, "bob's leave applied once");
    for r in &w.s.rejections[n..] {
        assert!(
            matches!(
                r.error,
                MeetingError::StaleEpoch { .. } | MeetingError::ReplayedHeartbeat { .. }
            ),
            "{r:?}"
        );
    }
    assert!(w.s.rejections.len() > n, "duplicates were detected");
    assert_meeting_continues(&mut w, "erin");
}

// =============================================================================================
// Forged announcements.
// =============================================================================================

/// A genuine announcement (envelope bytes) of a fresh participant for `meeting_id`.
fn announcement(
    s: &mut S,
    meeting_id: &[u8],
    id: &str,
    identity: IdentityKey,
) -> (Vec<u8>, Meeting) {
    let now = s.now;
    let mut m = Meeting::join(
        MeetingConfig::default(),
        meeting_id,
        id,
        identity,
        now,
        &mut s.rng,
    )
    .unwrap();
    let t = m.poll_transmit().unwrap();
    (t.payload, m)
}

#[test]
fn announcement_for_another_meeting_is_rejected() {
    let mut w = World::meeting(301, &["alice", "bob"]);
    let k = IdentityKey::generate(&mut w.s.rng);
    let (payload, _) = announcement(&mut w.s, OTHER_MID, "mallory", k);
    assert_rejected(&mut w.s, "alice", payload, "foreign announcement", |e| {
        matches!(
            e,
            MeetingError::WrongMeeting {
                message: "announcement"
            }
        )
    });
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 2);
    assert_meeting_continues(&mut w, "carol");
}

#[test]
fn announcement_with_bad_signature_is_rejected() {
    let mut w = World::meeting(302, &["alice", "bob"]);
    let k = IdentityKey::generate(&mut w.s.rng);
    let (payload, _) = announcement(&mut w.s, MID, "mallory", k);
    // Signed by a key other than the one it names.
    let other = IdentityKey::generate(&mut w.s.rng);
    let mut b = body(&payload).unwrap();
    let content = signed_mut(&mut b).content.clone();
    *signed_mut(&mut b) = sign(&other, labels::ANNOUNCEMENT, content.clone());
    assert_rejected(
        &mut w.s,
        "alice",
        envelope(b),
        "signed by another key",
        bad_sig,
    );
    // Signed under another label (a signature made for a different message type).
    let mut b = body(&payload).unwrap();
    let k2 = IdentityKey::from_secret_bytes(announcement_key_secret(&mut w, "mallory2").as_ref())
        .unwrap();
    let mut a = pb::Announcement::decode(content.as_slice()).unwrap();
    a.identity_key = k2.public().as_bytes().to_vec();
    *signed_mut(&mut b) = sign(&k2, labels::LIVENESS, encode(&a));
    assert_rejected(
        &mut w.s,
        "alice",
        envelope(b),
        "signed under another label",
        bad_sig,
    );
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 2);
    assert_meeting_continues(&mut w, "carol");
}

fn announcement_key_secret(w: &mut World, id: &str) -> Zeroizing<[u8; 32]> {
    let k = IdentityKey::generate(&mut w.s.rng);
    let s = k.secret_bytes();
    w.keys.insert(id.to_string(), s.clone());
    s
}

#[test]
fn announcement_with_someone_elses_identity_key_is_rejected() {
    let mut w = World::meeting(303, &["alice", "bob"]);
    let bob_key = w.s.participants["bob"].identity().as_bytes().to_vec();
    let k = IdentityKey::generate(&mut w.s.rng);
    let (payload, _) = announcement(&mut w.s, MID, "bob-laptop", k.clone_for_test());
    // The relay puts bob's identity key in its own announcement, under a new participant id,
    // and signs with its own key: it cannot sign with bob's.
    let forged = {
        let mut b = body(&payload).unwrap();
        let mut a = pb::Announcement::decode(signed_mut(&mut b).content.as_slice()).unwrap();
        a.identity_key = bob_key;
        *signed_mut(&mut b) = sign(&k, labels::ANNOUNCEMENT, encode(&a));
        envelope(b)
    };
    assert_rejected(&mut w.s, "alice", forged, "bob's identity key", bad_sig);
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 2);
    assert_meeting_continues(&mut w, "carol");
}

trait CloneForTest {
    fn clone_for_test(&self) -> IdentityKey;
}

impl CloneForTest for IdentityKey {
    fn clone_for_test(&self) -> IdentityKey {
        IdentityKey::from_secret_bytes(self.secret_bytes().as_ref()).unwrap()
    }
}

#[test]
fn announcement_reusing_a_participant_id_with_another_identity_is_refused() {
    let mut w = World::meeting(304, &["alice", "bob", "carol"]);
    // While bob is present.
    let k = IdentityKey::generate(&mut w.s.rng);
    let (payload, _) = announcement(&mut w.s, MID, "bob", k);
    assert_rejected(
        &mut w.s,
        "alice",
        payload,
        "bob's id, present",
        |e| matches!(e, MeetingError::Refused { participant, .. } if participant == "bob"),
    );
    // After bob left: the id stays pinned to his identity (ANN-5.2).
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    let k = IdentityKey::generate(&mut w.s.rng);
    let (payload, _) = announcement(&mut w.s, MID, "bob", k);
    assert_rejected(
        &mut w.s,
        "alice",
        payload,
        "bob's id, pinned",
        |e| matches!(e, MeetingError::Refused { reason, .. } if reason.contains("differs")),
    );
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 2);
    assert_meeting_continues(&mut w, "dave");
}

// =============================================================================================
// Commits and heartbeats from the wrong signer.
// =============================================================================================

/// A next-epoch commit for `m`'s current state that removes `remove` (no updates needed when it
/// is a rebuild), signed by `signer`.
fn forged_commit(
    m: &Meeting,
    signer: &IdentityKey,
    leader_leaf: u32,
    reason: CommitReason,
    removes: Vec<(u32, RemoveReason)>,
    rebuild: bool,
) -> Vec<u8> {
    let occupied: Vec<u32> = m
        .participants()
        .iter()
        .map(|p| p.leaf)
        .filter(|l| !removes.iter().any(|(r, _)| r == l))
        .collect();
    let width = occupied
        .iter()
        .max()
        .map(|l| (l + 1).next_power_of_two())
        .unwrap_or(1);
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch: m.epoch() + 1,
        prev_transcript_hash: m.transcript_hash().to_vec(),
        leader_leaf,
        reason: reason as i32,
        removes: removes
            .into_iter()
            .map(|(leaf, r)| pb::Remove {
                leaf,
                reason: r as i32,
            })
            .collect(),
        adds: vec![],
        locked: false,
        leaf_count: width,
        updates_root: merkle::root(&[]).to_vec(),
        update_count: 0,
        rebuild,
        votes: vec![],
        stable_heartbeat: None,
    };
    envelope(Body::Commit(pb::CommitBundle {
        commit: Some(sign(signer, labels::COMMIT, encode(&c))),
        updates: vec![],
        proof: vec![],
    }))
}

#[test]
fn commit_signed_by_a_non_leader_is_rejected() {
    let mut w = World::meeting(401, &["alice", "bob", "carol"]);
    let bob = w.identity("bob");
    let carol = &w.s.participants["carol"];
    let cases = vec![
        (
            "bob removes carol in alice's name",
            forged_commit(
                carol,
                &bob,
                0,
                CommitReason::Membership,
                vec![(2, RemoveReason::Removed)],
                true,
            ),
        ),
        (
            "bob hands leadership to himself",
            forged_commit(carol, &bob, 1, CommitReason::Handover, vec![], false),
        ),
        (
            "bob rebuilds as leader",
            forged_commit(carol, &bob, 1, CommitReason::Handover, vec![], true),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    let carol = &w.s.participants["carol"];
    let failover = forged_commit(
        carol,
        &bob,
        1,
        CommitReason::Failover,
        vec![(0, RemoveReason::LeaderFailed)],
        true,
    );
    // No quorum of votes elected bob: the failover is refused whoever signed it (FO-2).
    assert_rejected(&mut w.s, "carol", failover, "bob's failover", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });
    assert_meeting_continues(&mut w, "dave");
}

/// COM-3: a running leader never accepts a commit it did not make, in particular not a failover
/// commit that removes it. Here the failover commit is signed by the leader's successor (a
/// malicious member, or an honest one the relay starved of heartbeats, see
/// `starving_the_successor_does_not_depose_the_leader`).
#[test]

fn running_leader_rejects_a_failover_commit_that_removes_it() {
    let mut w = World::meeting(404, &["alice", "bob", "carol"]);
    let bob = w.identity("bob");
    let failover = forged_commit(
        &w.s.participants["alice"],
        &bob,
        1,
        CommitReason::Failover,
        vec![(0, RemoveReason::LeaderFailed)],
        true,
    );
    assert_rejected(
        &mut w.s,
        "alice",
        failover,
        "failover at the running leader",
        |e| matches!(e, MeetingError::Unexpected { .. }),
    );
    assert!(w.s.participants["alice"].is_leader());
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn commit_by_a_removed_former_leader_is_rejected() {
    let mut w = World::meeting(402, &["alice", "bob", "carol"]);
    let alice = w.identity("alice");
    w.s.act("alice", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    assert_eq!(w.s.leader(), Some("bob"));
    assert_converged(&w.s);
    let carol = &w.s.participants["carol"];
    let cases = vec![
        (
            "alice keeps committing",
            forged_commit(carol, &alice, 0, CommitReason::Rotation, vec![], true),
        ),
        (
            "alice removes bob",
            forged_commit(
                carol,
                &alice,
                2,
                CommitReason::Membership,
                vec![(1, RemoveReason::Removed)],
                true,
            ),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    // A heartbeat of alice for the current epoch: not the leader (HB-3).
    let m = &w.s.participants["carol"];
    let hb = forged_heartbeat(&alice, 0, m.epoch(), m.transcript_hash());
    assert_rejected(&mut w.s, "carol", hb, "alice's heartbeat", |e| {
        matches!(e, MeetingError::NotLeader { .. })
    });
    assert_meeting_continues(&mut w, "dave");
}

fn forged_heartbeat(signer: &IdentityKey, leader_leaf: u32, epoch: u64, th: [u8; 32]) -> Vec<u8> {
    let hb = pb::Heartbeat {
        version: PROTOCOL_VERSION,
        meeting_id: MID.to_vec(),
        epoch,
        transcript_hash: th.to_vec(),
        leader_leaf,
        sequence: 1,
        prev_heartbeat_hash: vec![0; 32],
        confirmation: vec![7; 32],
        liveness_root: merkle::root(&[]).to_vec(),
        liveness_count: 0,
        stable: false,
    };
    envelope(Body::Heartbeat(pb::HeartbeatBundle {
        heartbeat: Some(sign(signer, labels::HEARTBEAT, encode(&hb))),
        echoes: vec![],
        proof: vec![],
    }))
}

/// A removed member (here a participant the relay registered, so the relay holds its identity
/// key) signs a heartbeat claiming a branch far ahead. HB-3 requires `leader_leaf` to be the
/// member's leader: the member must reject it and keep its keys. If it instead "follows" the
/// forged branch, the relay answers its resync request with a Welcome of its own and the member
/// ends up encrypting media under keys the removed member chose.
#[test]

fn removed_member_cannot_capture_a_member_with_a_forged_branch() {
    let mut w = World::meeting(403, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.join("mallory");
    w.s.settle();
    let mallory_leaf = w.s.participants["mallory"].own_leaf();
    w.s.act("alice", |m, now, _| m.remove("mallory", now))
        .unwrap();
    w.s.settle();
    assert!(!w.s.participants["mallory"].is_active());
    let mallory = w.identity("mallory");
    let bob_before = view(&w.s, "bob");

    // From now on the relay keeps bob's resync requests from the leader (it reads them).
    let requests = hold(&mut w.s, |m, k| m.from == "bob" && k == Kind::Resync);
    let fake_epoch = bob_before.epoch + 1000;
    let hb = forged_heartbeat(&mallory, mallory_leaf, fake_epoch, [9; 32]);
    let err = inject(&mut w.s, "bob", hb);
    let captured_view = view(&w.s, "bob");
    // Complete the capture as the relay would, to show the impact: answer bob's resync request
    // with a Welcome of mallory's branch, sealed to bob's announced HPKE key.
    w.s.settle();
    let request = requests.borrow().last().cloned();
    let mut frame_secret_known_to_mallory = false;
    if let Some(req) = request {
        let mut b = body(&req.payload).unwrap();
        let r = pb::ResyncRequest::decode(signed_mut(&mut b).content.as_slice()).unwrap();
        let (welcome, secrets) =
            capture_welcome(&mut w, &log, &mallory, mallory_leaf, fake_epoch, &r);
        let _ = inject(&mut w.s, "bob", welcome);
        frame_secret_known_to_mallory = w.s.participants["bob"]
            .epoch_secrets()
            .is_some_and(|e| e.frame_secret.expose() == secrets.frame_secret.expose());
    }
    assert!(
        !frame_secret_known_to_mallory,
        "bob now encrypts with a frame secret chosen by removed member mallory"
    );
    assert!(
        matches!(err, Some(MeetingError::NotLeader { .. })),
        "HB-3: a heartbeat from a non-leader must be rejected, got {err:?}"
    );
    assert_eq!(captured_view, bob_before);
    assert_meeting_continues(&mut w, "dave");
}

/// The relay (holding removed mallory's key) answers bob's resync request with a Welcome of its
/// own: a one-member-plus-bob group at `epoch` led by mallory, echoing bob's nonce.
fn capture_welcome(
    w: &mut World,
    log: &Log,
    mallory: &IdentityKey,
    mallory_leaf: u32,
    epoch: u64,
    req: &pb::ResyncRequest,
) -> (Vec<u8>, EpochSecrets) {
    // The relay saw both announcements in the commits that admitted bob and mallory.
    let mut anns: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut keep = |bytes: Vec<u8>| {
        let s = pb::SignedMessage::decode(bytes.as_slice()).unwrap();
        let a = pb::Announcement::decode(s.content.as_slice()).unwrap();
        anns.insert(a.participant_id, bytes);
    };
    for m in log.borrow().iter() {
        match body(&m.payload) {
            Some(Body::Commit(c)) => commit_of(&c)
                .adds
                .into_iter()
                .for_each(|a| keep(a.announcement)),
            Some(Body::Welcome(s)) => {
                let wl = pb::Welcome::decode(s.content.as_slice()).unwrap();
                if !wl.group_info.is_empty() {
                    let gs = pb::SignedMessage::decode(wl.group_info.as_slice()).unwrap();
                    let gi = pb::GroupInfo::decode(gs.content.as_slice()).unwrap();
                    gi.roster.into_iter().for_each(|e| keep(e.announcement));
                }
            }
            _ => {}
        }
    }
    let bob_leaf = req.leaf;
    let bob_ann = anns.get("bob").cloned().unwrap_or_default();
    let mallory_ann = anns.get("mallory").cloned().unwrap_or_default();
    let bob_pk = {
        let s = pb::SignedMessage::decode(bob_ann.as_slice()).unwrap();
        let a = pb::Announcement::decode(s.content.as_slice()).unwrap();
        a.hpke_keys[0].public_key.clone()
    };
    let width = (bob_leaf.max(mallory_leaf) + 1).next_power_of_two();
    let occ = Occupancy::from_parts(width, [bob_leaf, mallory_leaf]).unwrap();
    let tree = LeaderTree::rebuild(occ, &mut w.s.rng);
    let th = [9u8; 32];
    let secrets = EpochSecrets::derive(MID, epoch, &th, tree.root_key().unwrap());
    let path = tree.path_secrets(bob_leaf).unwrap();
    let ps = pb::PathSecrets {
        leaf: bob_leaf,
        nodes: path
            .iter()
            .map(|(node, key)| pb::NodeSecret {
                node: *node,
                key: key.expose().to_vec(),
            })
            .collect(),
        echoed_nonce: req.liveness_nonce.clone(),
    };
    let (enc, ciphertext) = hpke::seal(
        CipherSuite::P256Sha256ChaCha20Poly1305,
        &bob_pk,
        &welcome_info(MID, epoch, bob_leaf),
        &th,
        &encode(&ps),
        &mut w.s.rng,
    )
    .unwrap();
    let mut roster = vec![
        pb::RosterEntry {
            leaf: bob_leaf,
            admitted_epoch: 1,
            announcement: bob_ann,
        },
        pb::RosterEntry {
            leaf: mallory_leaf,
            admitted_epoch: 1,
            announcement: mallory_ann,
        },
    ];
    roster.sort_by_key(|e| e.leaf);
    let gi = pb::GroupInfo {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        transcript_hash: th.to_vec(),
        leader_leaf: mallory_leaf,
        locked: false,
        leaf_count: width,
        roster,
        previous_roster_size: 0,
    };
    let welcome = pb::Welcome {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        leaf: bob_leaf,
        transcript_hash: th.to_vec(),
        enc,
        ciphertext,
        group_info: encode(&sign(mallory, labels::GROUP_INFO, encode(&gi))),
    };
    (
        envelope(Body::Welcome(sign(
            mallory,
            labels::WELCOME,
            encode(&welcome),
        ))),
        secrets,
    )
}

// =============================================================================================
// False "leader left": starving one member of the leader, or a fake Leave.
// =============================================================================================

/// The relay drops every message of the leader to its successor only. The successor times out
/// and collects pre-votes, but nobody else misses the leader: without a quorum (FO-2) it makes
/// no failover commit at all, and the leader stays leader.
#[test]

fn starving_the_successor_does_not_depose_the_leader() {
    let mut w = World::meeting(501, &["alice", "bob", "carol", "dave"]);
    let n = w.s.rejections.len();
    let _log = record(&mut w.s, |m| {
        if m.from == "alice" && m.to == "bob" {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    });
    w.s.advance(sec(45), sec(1));
    assert!(
        w.s.events
            .iter()
            .any(|(id, e)| id == "bob" && matches!(e, Event::HeartbeatMissed { missed: 3, .. })),
        "bob noticed the silence"
    );
    let bob_committed = w.s.rejections[n..]
        .iter()
        .any(|r| r.from == "bob" && matches!(r.error, MeetingError::BadRoster { .. }));
    assert!(
        !bob_committed,
        "bob made a failover commit without a quorum"
    );
    assert!(!w.s.participants["bob"].is_leader(), "bob took over alone");
    assert!(
        w.s.participants["alice"].is_active(),
        "the leader was deposed"
    );
    assert!(w.s.participants["alice"].is_leader());
    for id in ["carol", "dave"] {
        assert_eq!(
            w.s.participants[id].leader_leaf(),
            0,
            "{id} left the live leader"
        );
        assert_eq!(
            w.s.participants[id].security_code(),
            w.s.participants["alice"].security_code()
        );
    }
    // Healed: bob hears alice again (a candidate is bound by no vote) and everyone agrees.
    w.s.tap = None;
    w.s.advance(sec(30), sec(1));
    assert_eq!(w.s.leader(), Some("alice"));
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

/// The relay drops every message of the leader to one member that is not the successor, for
/// longer than two heartbeat limits. That member suspects the leader and then the successor and
/// becomes a candidate itself; everyone else still hears the leader, so it never gathers a
/// quorum (FO-2), makes no commit, and the leader keeps leading.
#[test]

fn starving_a_member_does_not_hand_it_the_meeting() {
    let mut w = World::meeting(503, &["alice", "bob", "carol", "dave"]);
    let n = w.s.rejections.len();
    let _log = record(&mut w.s, |m| {
        if m.from == "alice" && m.to == "carol" {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    });
    w.s.advance(sec(75), sec(1));
    // Carol, starved, could not take over: nobody else voted.
    assert!(
        !w.s.participants["carol"].is_leader(),
        "carol took over without a quorum"
    );
    for id in ["alice", "bob", "dave"] {
        assert!(
            !w.s.rejections[n..].iter().any(|r| r.at == id
                && r.from == "carol"
                && matches!(r.error, MeetingError::BadRoster { .. })),
            "carol sent {id} a failover commit"
        );
    }
    assert!(
        w.s.participants["alice"].is_leader(),
        "the live leader was deposed"
    );
    for id in ["bob", "dave"] {
        let v = view(&w.s, id);
        assert_eq!(v.leader_leaf, 0, "{id} left the live leader");
        assert_eq!(
            v.code,
            view(&w.s, "alice").code,
            "{id} lost the leader's keys"
        );
    }
    w.s.tap = None;
    w.s.advance(sec(30), sec(1));
    assert_eq!(w.s.leader(), Some("alice"));
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

/// The relay injects a Leave for the leader: forged (it cannot sign as the leader), or sent to
/// members (who ignore Leaves). The leader is not deposed.
#[test]
fn fake_leave_of_the_leader_is_rejected_or_ignored() {
    let mut w = World::meeting(502, &["alice", "bob", "carol"]);
    let before = views(&w.s);
    let mallory = IdentityKey::generate(&mut w.s.rng);
    let leave = pb::Leave {
        version: PROTOCOL_VERSION,
        meeting_id: MID.to_vec(),
        epoch: before["alice"].epoch,
        leaf: 0,
        voted: false,
    };
    let forged = envelope(Body::Leave(sign(&mallory, labels::LEAVE, encode(&leave))));
    assert_rejected(
        &mut w.s,
        "alice",
        forged.clone(),
        "forged Leave of the leader",
        bad_sig,
    );
    for id in ["bob", "carol"] {
        assert_eq!(
            inject(&mut w.s, id, forged.clone()),
            None,
            "members ignore Leaves"
        );
    }
    // Even a genuine Leave of the leader's own leaf is ignored (LEA-2): here signed by alice
    // for a past leave the relay kept.
    let alice = w.identity("alice");
    let own = envelope(Body::Leave(sign(&alice, labels::LEAVE, encode(&leave))));
    assert_eq!(inject(&mut w.s, "alice", own), None);
    w.s.settle();
    w.s.advance(sec(40), sec(1));
    assert_eq!(w.s.leader(), Some("alice"));
    assert_eq!(views(&w.s)["bob"].leader_leaf, 0);
    assert_meeting_continues(&mut w, "dave");
}

// =============================================================================================
// Stale key material and stale views.
// =============================================================================================

/// A resync answer held back by the relay and delivered after the member moved on to newer
/// liveness nonces is refused by the nonce check (WEL-6.6, WEL-7).
#[test]
fn stale_resync_answer_is_rejected_by_the_liveness_nonce() {
    let mut w = World::meeting(601, &["alice", "bob", "carol", "dave"]);
    // Bob gets a valid slice without his update: he accepts the commit, lacks its keys and asks
    // for a resync (COM-6.17).
    let held: Log = Rc::default();
    let mut sliced = false;
    let h = held.clone();
    w.s.tap = Some(Box::new(move |m: &mut InFlight| {
        let k = kind_of(&m.payload);
        if m.to == "bob" && k == Some(Kind::Commit) && !sliced {
            sliced = true;
            let full = commit_bundle(&m.payload);
            m.payload = envelope(Body::Commit(commit_bundle_for_leaf(
                &full,
                &[(3, 5), (5, 4)],
            )));
        }
        if m.to == "bob" && k == Some(Kind::Welcome) {
            h.borrow_mut().push(m.clone());
            return TapAction::Drop;
        }
        TapAction::Deliver
    }));
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    assert!(!w.s.participants["bob"].has_keys());
    assert_eq!(held.borrow().len(), 1, "the first answer");
    let first = held.borrow()[0].payload.clone();
    // Bob keeps drawing nonces (liveness and resync retries) while the relay sits on the answer.
    w.s.advance(sec(25), sec(1));
    assert!(!w.s.participants["bob"].has_keys());
    assert_rejected(
        &mut w.s,
        "bob",
        first,
        "stale resync answer",
        |e| matches!(e, MeetingError::Invalid { message: "welcome", reason } if reason.contains("nonce")),
    );
    w.s.tap = None;
    w.s.advance(sec(12), sec(1));
    assert!(w.s.participants["bob"].has_keys());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

/// The relay keeps the leader from learning bob's fresh nonces, so no heartbeat echoes them:
/// bob reports `StaleView` and stops sending (LIV, SW-4) until an echo arrives.
#[test]
fn unechoed_liveness_nonce_reports_stale_view() {
    let mut w = World::meeting(602, &["alice", "bob", "carol"]);
    let n_events = w.s.events.len();
    let _log = record(&mut w.s, |m| {
        let k = kind_of(&m.payload);
        if m.from == "bob" && m.to == "alice" && matches!(k, Some(Kind::Liveness | Kind::Resync)) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    });
    w.s.advance(sec(45), sec(1));
    let stale = w.s.events[n_events..]
        .iter()
        .any(|(id, e)| id == "bob" && matches!(e, Event::StaleView { .. }));
    assert!(stale, "bob reported a stale view");
    assert!(!w.s.participants["bob"].can_send(), "bob stopped sending");
    assert!(w.s.participants["carol"].can_send());
    assert!(
        !w.s.events[n_events..]
            .iter()
            .any(|(id, e)| id == "carol" && matches!(e, Event::StaleView { .. }))
    );
    w.s.tap = None;
    w.s.advance(sec(15), sec(1));
    assert!(
        w.s.participants["bob"].can_send(),
        "an echo clears the stale view"
    );
    assert_meeting_continues(&mut w, "dave");
}

// =============================================================================================
// Split views.
// =============================================================================================

/// Security codes agree exactly when (epoch, transcript) agree: a split is always visible.
fn assert_codes_tell_branches_apart(s: &S) {
    let v: Vec<(String, View)> = s
        .active()
        .iter()
        .map(|id| (id.to_string(), view(s, id)))
        .collect();
    for (a, va) in &v {
        for (b, vb) in &v {
            if let (Some(ca), Some(cb)) = (&va.code, &vb.code) {
                let same_state = va.epoch == vb.epoch && va.transcript == vb.transcript;
                assert_eq!(
                    ca == cb,
                    same_state,
                    "{a} and {b}: equal codes must mean an equal history"
                );
            }
        }
    }
}

/// The relay withholds commits from one member, then partitions the meeting in two so that each
/// half elects its own leader; it also shows each half the other's commits. Members of different
/// branches never show the same security code; the other branch's commits are refused.
#[test]
fn split_views_give_different_security_codes() {
    let mut w = World::meeting(701, &["alice", "bob", "carol", "dave"]);
    // 1. A commit withheld from dave.
    let held = hold(&mut w.s, |m, _| m.to == "dave");
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    assert_codes_tell_branches_apart(&w.s);
    assert_ne!(
        w.s.participants["dave"].security_code(),
        w.s.participants["bob"].security_code()
    );
    assert!(w.s.converged().is_none());
    w.s.tap = None;
    held.borrow_mut().clear();
    w.s.advance(sec(12), sec(1));
    assert_converged(&w.s);

    // 2. Partition {alice, bob} | {carol, dave}: neither half is a majority of 4, so neither
    //    elects a leader (FO-2) and no second branch is ever created; at most alice's side
    //    makes one more epoch, which cannot become stable (STB-1).
    let e0 = w.s.participants["alice"].epoch();
    let side = |id: &str| matches!(id, "alice" | "bob");
    let _log = record(&mut w.s, move |m| {
        if side(&m.from) != side(&m.to) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    });
    for _ in 0..90 {
        w.s.advance(sec(1), sec(1));
        assert_codes_tell_branches_apart(&w.s);
        for c in ["carol", "dave"] {
            if let Some(m) = w.s.participants.get(c) {
                assert!(!m.is_leader(), "{c} became a second leader");
                assert!(
                    m.epoch() <= e0,
                    "{c} moved to a new epoch on a second branch"
                );
            }
        }
        if let Some(a) = w.s.participants.get("alice") {
            assert!(
                a.epoch() <= e0 + 1,
                "alice's branch grew past one unstable epoch"
            );
        }
    }
    w.s.tap = None;
    // 4. Healed or not, codes never claim agreement the histories do not have.
    for _ in 0..60 {
        w.s.advance(sec(1), sec(1));
        assert_codes_tell_branches_apart(&w.s);
    }
}

// =============================================================================================
// Oversized and truncated messages.
// =============================================================================================

#[test]
fn oversized_and_truncated_messages_are_rejected() {
    let mut w = World::meeting(801, &["alice", "bob", "carol"]);
    let too_large = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::Decode(DecodeError::TooLarge {
                kind: MessageKind::Envelope,
                ..
            })
        )
    };
    assert_rejected(
        &mut w.s,
        "bob",
        vec![0u8; MAX_ENVELOPE_SIZE + 1],
        "oversized garbage",
        too_large,
    );
    // A genuine commit padded past the limit with an unknown field.
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    w.s.advance(sec(10), sec(10));
    w.join("dave");
    w.s.settle();
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let commit = take(&log, "carol", Kind::Commit)[0].payload.clone();
    let mut padded = commit.clone();
    padded.extend_from_slice(&[0x7a]); // field 15, length-delimited
    let pad = MAX_ENVELOPE_SIZE;
    let mut len = pad;
    while len >= 0x80 {
        padded.push((len as u8) | 0x80);
        len >>= 7;
    }
    padded.push(len as u8);
    padded.resize(padded.len() + pad, 0);
    assert_rejected(&mut w.s, "carol", padded, "padded commit", too_large);
    // A small envelope whose length prefix claims gigabytes: rejected without allocating it.
    let huge = vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    assert_rejected(&mut w.s, "carol", huge, "huge length prefix", |e| {
        matches!(e, MeetingError::Decode(DecodeError::Invalid { .. }))
    });
    // Every truncation of every message type is rejected (it breaks the single length-delimited
    // body of the Envelope) and changes nothing.
    let samples: Vec<(String, Vec<u8>)> = [
        Kind::Announcement,
        Kind::Commit,
        Kind::Welcome,
        Kind::Heartbeat,
        Kind::Leave,
        Kind::Resync,
        Kind::Liveness,
    ]
    .iter()
    .filter_map(|k| {
        log.borrow()
            .iter()
            .find(|m| kind_of(&m.payload) == Some(*k))
            .map(|m| (m.to.clone(), m.payload.clone()))
    })
    .collect();
    assert!(samples.len() >= 6, "{}", samples.len());
    for (to, payload) in samples {
        let to = if w.s.participants[&to].is_active() {
            to
        } else {
            "carol".to_string()
        };
        for cut in 1..payload.len() {
            assert_rejected(
                &mut w.s,
                &to,
                payload[..cut].to_vec(),
                &format!("{:?} cut to {cut}", kind_of(&payload)),
                |e| matches!(e, MeetingError::Decode(_)),
            );
        }
    }
    assert_meeting_continues(&mut w, "erin");
}

// =============================================================================================
// Frames and confidentiality.
// =============================================================================================

#[test]
fn relabelled_tampered_and_replayed_frames_are_rejected() {
    let mut w = World::meeting(901, &["alice", "bob", "carol"]);
    let alice = frames_of(&w.s, "alice");
    let bob = frames_of(&w.s, "bob");
    let now = w.s.now;
    let f0 = alice
        .encrypt(0, b"\x90stream zero frame of alice", 1)
        .unwrap();
    let f1 = alice
        .encrypt(1, b"\x90stream one frame of alice", 1)
        .unwrap();
    let relabel = |frame: &[u8], f: &dyn Fn(&mut FrameHeader)| -> Vec<u8> {
        let p = FrameHeader::parse(frame).unwrap();
        let mut h = p.header;
        f(&mut h);
        // Keeps the body, clear prefix and tag.
        h.relabel(frame).unwrap()
    };
    let tampered = |e: FrameError| matches!(e, FrameError::Tampered { .. });
    // Another sender (carol, leaf 2) and another stream.
    let as_carol = relabel(&f0, &|h| h.sender = 2);
    assert!(tampered(bob.decrypt(&as_carol, now).unwrap_err()));
    let as_stream1 = relabel(&f0, &|h| h.stream = 1);
    assert!(tampered(bob.decrypt(&as_stream1, now).unwrap_err()));
    let counter = relabel(&f0, &|h| h.counter += 1);
    assert!(tampered(bob.decrypt(&counter, now).unwrap_err()));
    for i in 0..f0.len() {
        let mut x = f0.clone();
        x[i] ^= 0x40;
        let e = bob.decrypt(&x, now).unwrap_err();
        assert!(
            !matches!(e, FrameError::Replayed { .. }),
            "byte {i}: a tampered frame must not touch the replay window: {e:?}"
        );
    }
    // The genuine frames decrypt, once.
    assert_eq!(
        bob.decrypt(&f0, now).unwrap().plaintext,
        b"\x90stream zero frame of alice"
    );
    assert_eq!(bob.decrypt(&f1, now).unwrap().stream, 1);
    assert!(matches!(
        bob.decrypt(&f0, now).unwrap_err(),
        FrameError::Replayed { sender: 0, .. }
    ));
    // Old frames after a rotation and the grace period: dropped with their epoch.
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    install_current(&bob, &w.s.participants["bob"], w.s.now);
    let later = w.s.now + sec(11);
    bob.expire(later);
    let f2 = alice.encrypt(0, b"\x90late old-epoch frame", 1).unwrap();
    assert!(matches!(
        bob.decrypt(&f2, later).unwrap_err(),
        FrameError::TooOld {
            cause: TooOldCause::EpochDropped { .. },
            ..
        }
    ));
    // A joiner cannot decrypt what was sent before it joined.
    w.join("dave");
    w.s.settle();
    let dave = frames_of(&w.s, "dave");
    let e = dave.decrypt(&f1, w.s.now).unwrap_err();
    assert!(
        matches!(e, FrameError::TooOld { .. } | FrameError::Tampered { .. }),
        "{e:?}"
    );
    assert_meeting_continues(&mut w, "erin");
}

/// Every byte the relay carries through a whole meeting (joins, frames, leave, rotation,
/// handover, failover, resync, rejoin) is scanned for every epoch secret, frame secret, frame
/// key and salt, identity secret key, security code and known media plaintext.
#[test]
fn relay_never_sees_keys_or_plaintext() {
    let mut w = World::meeting(1001, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    let mut secrets = Secrets::default();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let plaintext: Vec<u8> =
        b"known plaintext of a media frame that the relay must never read".to_vec();
    secrets.add("media plaintext".into(), &plaintext[1..]);
    let step = |w: &mut World, frames: &mut Vec<Vec<u8>>, secrets: &mut Secrets| {
        w.s.settle();
        secrets.collect(w);
        for id in
            w.s.active()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        {
            if w.s.participants[&id].has_keys() {
                let fc = frames_of(&w.s, &id);
                frames.push(fc.encrypt(0, &plaintext, 1).unwrap());
                frames.push(fc.encrypt(1, &plaintext, 0).unwrap());
            }
        }
    };
    step(&mut w, &mut frames, &mut secrets);
    w.join("dave");
    step(&mut w, &mut frames, &mut secrets);
    w.s.advance(sec(10), sec(5));
    step(&mut w, &mut frames, &mut secrets);
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    step(&mut w, &mut frames, &mut secrets);
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    step(&mut w, &mut frames, &mut secrets);
    w.s.act("alice", |m, now, _| m.hand_over("carol", now))
        .unwrap();
    step(&mut w, &mut frames, &mut secrets);
    w.s.pause("carol");
    w.s.advance(sec(45), sec(1));
    step(&mut w, &mut frames, &mut secrets);
    w.join("erin");
    step(&mut w, &mut frames, &mut secrets);
    w.s.advance(sec(20), sec(2));
    step(&mut w, &mut frames, &mut secrets);
    assert!(secrets.items.len() > 50, "{}", secrets.items.len());
    let kinds: HashSet<Option<Kind>> = log.borrow().iter().map(|m| kind_of(&m.payload)).collect();
    assert!(kinds.len() >= 6, "{kinds:?}");
    let mut carried: Vec<Vec<u8>> = log.borrow().iter().map(|m| m.payload.clone()).collect();
    carried.extend(frames);
    secrets.scan(&carried);
    // Sanity: the scanner does find a secret that is carried.
    let e = w.s.participants["alice"].epoch_secrets().unwrap();
    let mut leaky = carried.clone();
    leaky.push([b"x".as_slice(), e.frame_secret.expose()].concat());
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| secrets.scan(&leaky)));
    assert!(found.is_err(), "the scan detects a leaked frame secret");
}
