//! Security round 2: the findings of the second adversarial review, one test per class, each
//! run with the confidentiality ledger (`conclave_core::sim::Ledger`) checking that no (key,
//! nonce) is ever sealed twice and that a stably removed member never holds a later epoch.
//!
//! `spec/security.md` maps each finding to its rule and to its test here.

use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{
    Event, MAX_PENDING_COMMIT_BYTES, MAX_PENDING_COMMITS, MeetingConfig, MeetingError,
    RemovalReason,
};
use conclave_core::protocol::encode;
use conclave_core::protocol::limits::PROTOCOL_VERSION;
use conclave_core::protocol::v1::{self as pb, CommitReason, envelope::Body};
use conclave_core::sim::{InFlight, Ledger, Sim, TapAction};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type S = Sim<ChaCha20Rng>;

const MID: &[u8] = b"security-round-2-meeting-01";

fn sec(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `ids[0]` creates, the others join in order (ranks follow `ids`).
fn meeting(seed: u64, ids: &[&str]) -> S {
    let mut s = Sim::new(
        MID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    for (i, id) in ids.iter().enumerate() {
        if i == 0 {
            s.create(id).unwrap();
        } else {
            s.join(id).unwrap();
        }
        s.settle();
    }
    s.advance(sec(12), sec(1));
    assert!(s.converged().is_some(), "setup did not converge");
    s
}

/// Advances `d` seconds, one second at a time, observing and sealing frames at each step.
fn run(s: &mut S, ledger: &mut Ledger, d: u64) {
    for _ in 0..d {
        s.advance(sec(1), sec(1));
        ledger.observe(s);
        ledger.seal_frames(s);
    }
}

fn assert_clean(ledger: &Ledger) {
    assert!(
        ledger.violations.is_empty(),
        "invariant violations: {:#?}",
        ledger.violations
    );
    assert!(ledger.frames_sealed > 0, "the ledger sealed no frame");
}

fn ended(s: &S, id: &str) -> Option<RemovalReason> {
    s.events.iter().rev().find_map(|(at, e)| match e {
        Event::Ended { reason } if at == id => Some(*reason),
        _ => None,
    })
}

/// Finding 2: the relay partitions {carol, mallory} from the rest while the leader removes
/// mallory. Carol never sees the removal; without a majority she cannot fail over (FO-2), so
/// mallory never gets the keys of any later epoch, on any branch, for 600 s.
#[test]
fn partition_cannot_bring_a_removed_member_back() {
    let mut s = meeting(11, &["alice", "bob", "carol", "dave", "mallory"]);
    let mut ledger = Ledger::new();
    run(&mut s, &mut ledger, 2);
    let cut = |id: &str| matches!(id, "carol" | "mallory");
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        if cut(&m.from) != cut(&m.to) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    let before = s.participants["mallory"].epoch();
    s.act("alice", |m, now, _| m.remove("mallory", now))
        .unwrap();
    run(&mut s, &mut ledger, 600);
    assert_clean(&ledger);
    assert!(
        !s.participants["carol"].is_leader(),
        "the minority elected a leader"
    );
    assert!(s.participants["mallory"].epoch() <= before);
    // The majority side goes on; carol, cut off, ends by the out-of-date timeout.
    assert!(s.participants["alice"].is_leader());
    assert_eq!(ended(&s, "carol"), Some(RemovalReason::TimedOut));
    for id in ["bob", "dave"] {
        assert_eq!(
            s.participants[id].security_code(),
            s.participants["alice"].security_code()
        );
    }
}

/// Finding 1: the relay withholds the leader's messages from its successor long enough to fail
/// over, then lets them through. The successor cannot take over alone; it returns to the live
/// leader and no (key, nonce) is ever sealed twice (FR-SEND, checked by the ledger).
#[test]
fn starving_the_successor_never_reuses_a_nonce() {
    let mut s = meeting(12, &["alice", "bob", "carol", "dave"]);
    let mut ledger = Ledger::new();
    run(&mut s, &mut ledger, 3);
    s.tap = Some(Box::new(|m: &mut InFlight| {
        if m.from == "alice" && m.to == "bob" {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    run(&mut s, &mut ledger, 70);
    s.tap = None;
    run(&mut s, &mut ledger, 40);
    assert_clean(&ledger);
    assert_eq!(s.leader(), Some("alice"));
    assert!(
        s.converged().is_some(),
        "no agreement after the relay healed"
    );
}

/// Finding 1, second form: a split brain that the relay heals. With quorum failover there is
/// at most one branch that makes progress; whatever each side installs, no (key, nonce) repeats.
#[test]
fn a_healed_split_never_reuses_a_nonce() {
    let mut s = meeting(13, &["alice", "bob", "carol", "dave", "erin"]);
    let mut ledger = Ledger::new();
    run(&mut s, &mut ledger, 3);
    // {alice, bob} | {carol, dave, erin}: the majority side fails over.
    let side = |id: &str| matches!(id, "alice" | "bob");
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        if side(&m.from) != side(&m.to) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    run(&mut s, &mut ledger, 80);
    assert!(
        s.participants["carol"].is_leader(),
        "the majority side elected its successor"
    );
    s.tap = None;
    run(&mut s, &mut ledger, 120);
    assert_clean(&ledger);
    // The old leader's side could not make a stable epoch: alice ends.
    assert!(!s.participants["alice"].is_active());
}

/// An honest leader crash: a majority votes, the successor takes over, everyone converges.
#[test]
fn a_crashed_leader_is_replaced_by_quorum() {
    let mut s = meeting(14, &["alice", "bob", "carol", "dave"]);
    let mut ledger = Ledger::new();
    run(&mut s, &mut ledger, 2);
    let crash = s.now;
    s.pause("alice");
    let mut took_over = None;
    for _ in 0..120 {
        run(&mut s, &mut ledger, 1);
        if took_over.is_none() && s.participants["bob"].is_leader() {
            took_over = Some(s.now - crash);
        }
        if took_over.is_some() && s.converged().is_some() {
            break;
        }
    }
    let took_over = took_over.expect("bob took over");
    assert!(took_over <= sec(45), "failover took {took_over:?}");
    assert!(s.converged().is_some());
    run(&mut s, &mut ledger, 20);
    assert_clean(&ledger);
}

/// Finding 8: the relay drops only the handover commit on its way to the successor. The old
/// leader re-sends it (HO-1); the successor rebuilds and there is one branch and one code.
#[test]
fn a_dropped_handover_commit_does_not_split_the_meeting() {
    let mut s = meeting(15, &["alice", "bob", "carol", "dave"]);
    let mut ledger = Ledger::new();
    run(&mut s, &mut ledger, 2);
    let mut dropped = false;
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        let handover = matches!(
            conclave_core::protocol::decode_bounded::<pb::Envelope>(
                conclave_core::protocol::MessageKind::Envelope,
                &m.payload,
                usize::MAX,
            )
            .ok()
            .and_then(|e| e.body),
            Some(Body::Commit(_))
        );
        if !dropped && handover && m.from == "alice" && m.to == "bob" {
            dropped = true;
            return TapAction::Drop;
        }
        TapAction::Deliver
    }));
    s.act("alice", |m, now, rng| m.leave(now, rng)).unwrap();
    run(&mut s, &mut ledger, 40);
    assert_clean(&ledger);
    assert_eq!(s.leader(), Some("bob"));
    assert!(s.converged().is_some(), "the meeting split");
    assert_eq!(s.active().len(), 3);
}

/// A commit for a future epoch, signed or not, built on the receiver's state.
fn future_commit(s: &S, to: &str, ahead: u64, padding: usize) -> Vec<u8> {
    let m = &s.participants[to];
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch: m.epoch() + ahead,
        prev_transcript_hash: vec![7; 32],
        leader_leaf: 0,
        reason: CommitReason::Rotation as i32,
        removes: vec![],
        // Padding that decodes as one (unverified) add of `padding` bytes.
        adds: if padding > 0 {
            vec![pb::Add {
                leaf: 1,
                announcement: vec![0; padding],
            }]
        } else {
            vec![]
        },
        locked: false,
        leaf_count: 4,
        updates_root: vec![0; 32],
        update_count: 0,
        rebuild: false,
        votes: vec![],
        stable_heartbeat: None,
    };
    encode(&pb::Envelope {
        body: Some(Body::Commit(pb::CommitBundle {
            commit: Some(pb::SignedMessage {
                content: encode(&c),
                signature: vec![1; 64],
            }),
            updates: vec![],
            proof: vec![],
        })),
    })
}

/// Finding 4: one forged commit for epoch + 2 sent to every member. It is buffered (or
/// refused), never verified, and makes nobody ask for a resync: O(1) cost, not O(time).
#[test]
fn a_forged_gap_costs_nothing() {
    let mut s = meeting(16, &["alice", "bob", "carol", "dave"]);
    let resyncs_before = s
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::ResyncNeeded { .. }))
        .count();
    let msgs_before = s.relay_messages;
    for id in ["bob", "carol", "dave"] {
        let forged = future_commit(&s, id, 2, 0);
        s.deliver_one(InFlight {
            from: "relay".into(),
            to: id.into(),
            payload: forged,
        });
    }
    s.advance(sec(280), sec(1));
    let resyncs = s
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::ResyncNeeded { .. }))
        .count();
    assert_eq!(resyncs, resyncs_before, "a forged gap triggered resyncs");
    // Heartbeats (28 rounds) and liveness nonces only: no Welcome flood. 4 members, about one
    // message per member per interval each way.
    let per_interval = (s.relay_messages - msgs_before) / 28;
    assert!(per_interval < 40, "{per_interval} messages per interval");
    assert!(s.converged().is_some());
}

/// Finding 3: commits far ahead are not buffered at all; commits inside the window are kept
/// within `MAX_PENDING_COMMITS` and `MAX_PENDING_COMMIT_BYTES`, whatever the relay sends.
#[test]
fn buffered_commits_are_bounded_in_bytes() {
    let mut s = meeting(17, &["alice", "bob"]);
    // Far future: refused outright.
    let far = future_commit(&s, "bob", 1_000_000, 0);
    let e = s.participants.get_mut("bob").unwrap().handle_message(
        &far,
        s.now,
        &mut ChaCha20Rng::seed_from_u64(1),
    );
    assert!(matches!(e, Err(MeetingError::Invalid { .. })), "{e:?}");
    // Inside the window: 3 MiB each, many times; the buffer never passes its byte budget.
    for round in 0..40u64 {
        let ahead = 2 + round % (MAX_PENDING_COMMITS as u64 - 1);
        let big = future_commit(&s, "bob", ahead, 3 * 1024 * 1024);
        let m = s.participants.get_mut("bob").unwrap();
        let _ = m.handle_message(&big, s.now, &mut ChaCha20Rng::seed_from_u64(round));
        assert!(m.buffered_bytes() <= MAX_PENDING_COMMIT_BYTES);
    }
    assert!(s.participants["bob"].buffered_bytes() > 0);
    s.advance(sec(30), sec(1));
    assert!(s.converged().is_some());
}

/// The relay registers a participant of its own and tries to stand it as a failover candidate:
/// votes must come from present members of the same epoch, so its forged votes do not count.
#[test]
fn forged_votes_do_not_elect_anyone() {
    let mut s = meeting(18, &["alice", "bob", "carol"]);
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let stranger = IdentityKey::generate(&mut rng);
    let bob = &s.participants["bob"];
    let vote = pb::FailoverVote {
        version: PROTOCOL_VERSION,
        meeting_id: MID.to_vec(),
        epoch: bob.epoch(),
        transcript_hash: bob.transcript_hash().to_vec(),
        voter_leaf: 2,
        candidate_leaf: 1,
        failed_leaves: vec![0],
        binding: true,
    };
    let content = encode(&vote);
    let signature = stranger
        .sign(conclave_core::schedule::labels::FAILOVER_VOTE, &content)
        .to_vec();
    let payload = encode(&pb::Envelope {
        body: Some(Body::FailoverVote(pb::SignedMessage { content, signature })),
    });
    let e = s
        .participants
        .get_mut("bob")
        .unwrap()
        .handle_message(&payload, s.now, &mut rng);
    assert!(matches!(e, Err(MeetingError::BadSignature { .. })), "{e:?}");
    s.advance(sec(15), sec(1));
    assert_eq!(s.leader(), Some("alice"));
}
