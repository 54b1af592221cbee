//! Oversized and truncated messages.

use crate::common::*;

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
