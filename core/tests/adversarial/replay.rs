//! Replay, rollback, reordering, loss and duplication.

use crate::common::*;

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
