//! Split views.

use crate::common::*;

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
