//! Forged announcements.

use crate::common::*;

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
