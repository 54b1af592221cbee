//! False "leader left": starving one member of the leader, or a fake Leave.

use crate::common::*;

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
        transcript_hash: w.s.participants["alice"].transcript_hash().to_vec(),
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
