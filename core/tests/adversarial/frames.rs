//! Frames and confidentiality: the relay never learns a key or a plaintext.

use crate::common::*;

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
