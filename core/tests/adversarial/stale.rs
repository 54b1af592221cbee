//! Stale key material and stale views.

use crate::common::*;

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
