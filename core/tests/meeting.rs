//! Meeting engine scenarios over the deterministic simulation (seeded RNG, virtual clock).

use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{Event, MeetingConfig, MeetingError, RemovalReason};
use conclave_core::sim::{Faults, Sim};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"meeting-0123456789abcdef";

fn sim(seed: u64) -> Sim<ChaCha20Rng> {
    Sim::new(
        MID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    )
}

fn sec(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn assert_converged(s: &Sim<ChaCha20Rng>) -> u64 {
    match s.converged() {
        Some(e) => e,
        None => {
            let views: Vec<_> = s
                .active()
                .iter()
                .map(|id| {
                    let m = &s.participants[*id];
                    (id.to_string(), m.epoch(), m.security_code())
                })
                .collect();
            panic!(
                "not converged: {views:?}\nrejections: {:#?}",
                &s.rejections[s.rejections.len().saturating_sub(5)..]
            );
        }
    }
}

#[test]
fn three_person_meeting() {
    let mut s = sim(1);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("carol").unwrap();
    s.settle();
    assert_eq!(s.active().len(), 3);
    let epoch = assert_converged(&s);
    assert!(epoch >= 2);
    assert!(s.rejections.is_empty(), "{:#?}", s.rejections);
    let bob = &s.participants["bob"];
    assert_eq!(bob.participants().len(), 3);
    assert!(
        bob.participants()
            .iter()
            .any(|p| p.participant_id == "alice" && p.is_leader)
    );
    // Heartbeats keep everyone in sync over time, without rejections.
    s.advance(sec(60), sec(1));
    assert_converged(&s);
    assert!(s.rejections.is_empty(), "{:#?}", s.rejections);
}

#[test]
fn fifty_joins_then_twenty_leaves() {
    let mut s = sim(2);
    s.create("p00").unwrap();
    for i in 1..=50 {
        s.join(&format!("p{i:02}")).unwrap();
        if i % 10 == 0 {
            s.settle();
        }
    }
    s.settle();
    assert_eq!(s.active().len(), 51);
    let before = assert_converged(&s);
    let removed_secrets: Vec<_> = (1..=20)
        .map(|i| {
            s.participants[&format!("p{i:02}")]
                .epoch_secrets()
                .unwrap()
                .clone()
        })
        .collect();
    for i in 1..=20 {
        s.act(&format!("p{i:02}"), |m, now, rng| m.leave(now, rng))
            .unwrap();
    }
    s.settle();
    assert_eq!(s.active().len(), 31);
    let after = assert_converged(&s);
    assert!(after > before);
    let current = s.participants["p00"].epoch_secrets().unwrap().clone();
    for old in &removed_secrets {
        assert_ne!(old.epoch_secret, current.epoch_secret);
        assert_ne!(old.frame_secret, current.frame_secret);
    }
    for i in 1..=20 {
        let m = &s.participants[&format!("p{i:02}")];
        assert!(!m.is_active());
        assert!(m.epoch_secrets().is_none(), "a leaver keeps no keys");
    }
    assert!(s.rejections.is_empty(), "{:#?}", s.rejections);
}

#[test]
fn removed_member_is_locked_out() {
    let mut s = sim(3);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("mallory").unwrap();
    s.settle();
    let mallory_epoch = s.participants["mallory"].epoch();
    s.act("alice", |m, now, _| m.remove("mallory", now))
        .unwrap();
    s.settle();
    assert!(!s.participants["mallory"].is_active());
    assert!(s.events.iter().any(|(id, e)| id == "mallory"
        && *e
            == Event::Ended {
                reason: RemovalReason::Removed
            }));
    // Mallory saw the commit that removed her but holds no key of it or any later epoch.
    assert_eq!(s.participants["mallory"].epoch(), mallory_epoch + 1);
    assert!(s.participants["mallory"].epoch_secrets().is_none());
    assert!(s.participants["mallory"].security_code().is_none());
    assert_eq!(s.active().len(), 2);
    assert_converged(&s);
}

#[test]
fn leader_failover_is_deterministic() {
    let mut s = sim(4);
    s.create("alice").unwrap();
    for id in ["bob", "carol", "dave"] {
        s.join(id).unwrap();
        s.settle();
    }
    let before = assert_converged(&s);
    s.pause("alice");
    s.advance(sec(45), sec(1));
    // Bob was admitted first after Alice: he takes over, and may send media.
    assert_eq!(s.leader(), Some("bob"));
    assert!(s.participants["bob"].can_send());
    let after = assert_converged(&s);
    assert!(after > before);
    assert_eq!(s.participants["carol"].participants().len(), 3);
    assert!(s.events.iter().any(|(id, e)| id == "carol"
        && matches!(e, Event::LeaderChanged { participant_id, .. } if participant_id == "bob")));
    // The meeting goes on: a join after failover works.
    s.join("erin").unwrap();
    s.settle();
    assert_eq!(s.active().len(), 4);
    assert_converged(&s);
}

#[test]
fn leader_hands_over_and_leaves() {
    let mut s = sim(5);
    s.create("alice").unwrap();
    for id in ["bob", "carol"] {
        s.join(id).unwrap();
        s.settle();
    }
    s.act("alice", |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    assert_eq!(s.leader(), Some("bob"));
    assert_eq!(s.active().len(), 2);
    assert_converged(&s);
    assert_eq!(s.participants["carol"].participants().len(), 2);
    assert!(s.rejections.is_empty(), "{:#?}", s.rejections);
}

#[test]
fn explicit_handover_keeps_old_leader_as_member() {
    let mut s = sim(6);
    s.create("alice").unwrap();
    for id in ["bob", "carol"] {
        s.join(id).unwrap();
        s.settle();
    }
    s.act("alice", |m, now, _| m.hand_over("carol", now))
        .unwrap();
    s.settle();
    assert_eq!(s.leader(), Some("carol"));
    assert_eq!(s.active().len(), 3);
    assert_converged(&s);
    assert!(s.rejections.is_empty(), "{:#?}", s.rejections);
}

#[test]
fn lock_refuses_new_identities_but_admits_known_ones() {
    let mut s = sim(7);
    s.create("alice").unwrap();
    let bob_identity = IdentityKey::generate(&mut s.rng);
    let bob_secret = bob_identity.secret_bytes();
    s.join_with("bob", bob_identity).unwrap();
    s.settle();
    s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    s.act("alice", |m, now, _| m.lock(true, now)).unwrap();
    s.settle();
    assert!(s.participants["alice"].is_locked());
    s.join("eve").unwrap();
    s.settle();
    assert!(!s.participants["eve"].is_active());
    assert!(s.rejections.iter().any(|r| r.at == "alice"
        && matches!(&r.error, MeetingError::Refused { participant, .. } if participant == "eve")));
    // Bob rejoins with the same identity: admitted although locked, once his announcement
    // references a heartbeat he heard (ANN-10).
    s.join_with(
        "bob",
        IdentityKey::from_secret_bytes(bob_secret.as_ref()).unwrap(),
    )
    .unwrap();
    s.advance(sec(11), sec(1));
    assert!(s.participants["bob"].is_active());
    assert_converged(&s);
}

#[test]
fn rejoin_with_another_identity_is_refused() {
    let mut s = sim(8);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    s.join("bob").unwrap(); // fresh identity under the same participant id
    s.settle();
    assert!(!s.participants["bob"].is_active());
    assert!(s.rejections.iter().any(|r| matches!(&r.error,
        MeetingError::Refused { reason, .. } if reason.contains("differs"))));
}

#[test]
fn missed_commit_is_recovered_by_resync() {
    let mut s = sim(9);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("carol").unwrap();
    s.settle();
    // Carol misses the commit that admits dave.
    s.pause("carol");
    s.join("dave").unwrap();
    s.settle();
    s.resume("carol");
    // The next commit (a rotation) reaches Carol with a gap; she asks for a resync.
    s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    s.settle();
    s.advance(sec(12), sec(1));
    assert_converged(&s);
    assert!(
        s.events
            .iter()
            .any(|(id, e)| id == "carol" && matches!(e, Event::ResyncNeeded { .. }))
    );
    assert_eq!(s.participants["carol"].participants().len(), 4);
}

#[test]
fn periodic_rotation_changes_the_epoch() {
    let mut s = sim(10);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    let e0 = assert_converged(&s);
    s.advance(sec(301), sec(5));
    let e1 = assert_converged(&s);
    assert!(e1 > e0);
}

#[test]
fn converges_under_loss_reorder_and_duplication() {
    let mut worst = 0;
    for seed in 11..19 {
        let rounds = converge_under_faults(seed);
        eprintln!("seed {seed}: converged under faults after {rounds} rounds of 10 s");
        worst = worst.max(rounds);
    }
    eprintln!("worst case: {worst} rounds of 10 s");
}

/// 20% loss, 10% duplication and 20% reordering of control messages; returns the rounds of
/// 10 s it took every member to agree on epoch, transcript and security code.
fn converge_under_faults(seed: u64) -> u32 {
    let mut s = sim(seed);
    s.faults = Faults {
        drop_ppm: 200_000,
        duplicate_ppm: 100_000,
        reorder_ppm: 200_000,
    };
    // Each participant keeps its long-term identity, as a device would.
    let mut keys = std::collections::BTreeMap::new();
    for i in 0..8 {
        let k = IdentityKey::generate(&mut s.rng);
        keys.insert(format!("p{i}"), k.secret_bytes());
    }
    let identity = |keys: &std::collections::BTreeMap<String, _>, id: &str| {
        let secret: &zeroize::Zeroizing<[u8; 32]> = &keys[id];
        IdentityKey::from_secret_bytes(secret.as_ref()).unwrap()
    };
    s.create_with("p0", identity(&keys, "p0")).unwrap();
    for i in 1..8 {
        let id = format!("p{i}");
        s.join_with(&id, identity(&keys, &id)).unwrap();
        s.advance(sec(2), sec(1));
    }
    // Lost announcements and Welcomes are retried by the engine; a participant that ended
    // (timed out, or a leader deposed by a failover) rejoins with the same identity, as an app
    // would.
    let mut rounds = 0;
    loop {
        rounds += 1;
        s.advance(sec(10), sec(1));
        let ended: Vec<String> = s
            .participants
            .iter()
            .filter(|(_, m)| m.is_ended())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            s.participants.remove(&id);
            s.join_with(&id, identity(&keys, &id)).unwrap();
        }
        if s.active().len() == 8 && s.converged().is_some() {
            break;
        }
        if rounds >= 60 {
            let views: Vec<_> = s
                .participants
                .iter()
                .map(|(id, m)| {
                    (
                        id.clone(),
                        m.is_active(),
                        m.epoch(),
                        m.has_keys(),
                        m.is_leader(),
                    )
                })
                .collect();
            let last: Vec<_> = s
                .rejections
                .iter()
                .rev()
                .filter(|r| r.at == "p0" || r.from == "p4")
                .take(12)
                .collect();
            let leader_view: Vec<_> = s
                .leader()
                .map(|l| s.participants[l].participants())
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.participant_id, p.leaf, p.admitted_epoch))
                .collect();
            let stuck_events: Vec<_> = s
                .events
                .iter()
                .filter(|(id, _)| s.participants.get(id).is_some_and(|m| !m.is_active()))
                .rev()
                .take(10)
                .collect();
            panic!(
                "no convergence after {rounds} rounds: {views:?}\nleader view: {leader_view:?}\n{last:#?}\n{stuck_events:#?}"
            );
        }
    }
    s.faults = Faults::default();
    s.advance(sec(12), sec(1));
    assert_converged(&s);
    rounds
}

#[test]
fn media_flows_through_the_engine_and_removed_members_cannot_read_it() {
    let mut s = sim(20);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("mallory").unwrap();
    s.settle();
    s.advance(sec(3), sec(1)); // past the switch-over delay
    let alice = s.participants["alice"].frame_crypto();
    let bob = s.participants["bob"].frame_crypto();
    let mallory = s.participants["mallory"].frame_crypto();
    let frame = alice.encrypt(0, b"hello everyone", 0).unwrap();
    let got = bob.decrypt(&frame, s.now).unwrap();
    assert_eq!(got.plaintext, b"hello everyone");
    assert_eq!(got.sender, s.participants["alice"].own_leaf());
    assert_eq!(
        mallory.decrypt(&frame, s.now).unwrap().plaintext,
        b"hello everyone"
    );
    // Remove mallory; after the switch-over every sender uses the new epoch.
    s.act("alice", |m, now, _| m.remove("mallory", now))
        .unwrap();
    s.settle();
    s.advance(sec(3), sec(1));
    let epoch = assert_converged(&s);
    assert_eq!(alice.send_epoch(), Some(epoch));
    let secret = alice.encrypt(1, b"after mallory left", 0).unwrap();
    assert_eq!(
        bob.decrypt(&secret, s.now).unwrap().plaintext,
        b"after mallory left"
    );
    assert!(
        mallory.decrypt(&secret, s.now).is_err(),
        "a removed member reads nothing new"
    );
    // The relay never carried the plaintext.
    assert!(!secret.windows(b"after".len()).any(|w| w == b"after"));
}

#[test]
fn senders_keep_the_old_epoch_until_the_switch_over() {
    let mut s = sim(21);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    s.advance(sec(3), sec(1));
    let e1 = assert_converged(&s);
    let bob = s.participants["bob"].frame_crypto();
    s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    s.tick(); // alice commits (and queues a heartbeat certifying the new epoch)
    // Deliver only the commit to bob: hold back the heartbeat.
    let msgs: Vec<_> = s.in_flight.drain(..).collect();
    for m in msgs {
        let env: conclave_core::protocol::v1::Envelope =
            prost::Message::decode(m.payload.as_slice()).unwrap();
        if matches!(
            env.body,
            Some(conclave_core::protocol::v1::envelope::Body::Commit(_))
        ) {
            s.deliver_one(m);
        }
    }
    // Bob installed the new epoch for receiving but still sends with the old one...
    assert_eq!(s.participants["bob"].epoch(), e1 + 1);
    assert_eq!(bob.send_epoch(), Some(e1));
    // ...until a heartbeat certifies the new epoch or SWITCH_DELAY passes.
    s.advance(sec(3), sec(1));
    assert_eq!(bob.send_epoch(), Some(e1 + 1));
}

#[test]
fn failover_sealing_can_be_offloaded_to_application_threads() {
    let config = MeetingConfig {
        offload_rebuild_sealing: true,
        ..MeetingConfig::default()
    };
    let mut s = Sim::new(MID, config, ChaCha20Rng::seed_from_u64(22));
    s.create("alice").unwrap();
    for id in ["bob", "carol", "dave", "erin"] {
        s.join(id).unwrap();
        s.settle();
    }
    // Alice hands over to carol: carol rebuilds the tree and, with offloading, returns one seal
    // job per member instead of sealing inline. Run them on two threads.
    s.act("alice", |m, now, _| m.hand_over("carol", now))
        .unwrap();
    s.tick(); // alice commits the handover
    // Carol rebuilds once the handover epoch is stable (STB-2): hold the members'
    // acknowledgements to her and hand them over outside the simulation, which would otherwise
    // run the seal jobs inline.
    let acks: std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>> = Default::default();
    let held = acks.clone();
    s.tap = Some(Box::new(move |m| {
        let env: conclave_core::protocol::v1::Envelope =
            prost::Message::decode(m.payload.as_slice()).unwrap();
        if m.to == "carol"
            && matches!(
                env.body,
                Some(conclave_core::protocol::v1::envelope::Body::Liveness(_))
            )
        {
            held.borrow_mut().push(m.payload.clone());
            return conclave_core::sim::TapAction::Drop;
        }
        conclave_core::sim::TapAction::Deliver
    }));
    s.deliver_all();
    s.tap = None;
    let now = s.now;
    let mut jobs = Vec::new();
    {
        let carol = s.participants.get_mut("carol").unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for ack in acks.borrow().iter() {
            carol.handle_message(ack, now, &mut rng).unwrap();
        }
        carol.handle_timeout(now, &mut rng).unwrap();
        while let Some(j) = carol.poll_seal_job() {
            jobs.push(j);
        }
    }
    assert_eq!(jobs.len(), 4, "one Welcome per other member");
    let half = jobs.split_off(jobs.len() / 2);
    let sent: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = [jobs, half]
            .into_iter()
            .enumerate()
            .map(|(i, batch)| {
                scope.spawn(move || {
                    let mut rng = ChaCha20Rng::seed_from_u64(100 + i as u64);
                    batch
                        .into_iter()
                        .map(|j| j.run(&mut rng).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for t in sent {
        if let conclave_core::meeting::Destination::Participant(to) = t.destination {
            s.in_flight.push_back(conclave_core::sim::InFlight {
                from: "carol".into(),
                to,
                payload: t.payload,
            });
        }
    }
    s.settle();
    assert_eq!(s.leader(), Some("carol"));
    assert_converged(&s);
}
