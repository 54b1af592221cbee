//! Decodes arbitrary bytes as a control `Envelope` exactly as the engine does
//! (`decode_bounded` with `MAX_ENVELOPE_SIZE`), then the signed content of whatever the body
//! holds. Decoding must never panic, and a successful decode must re-encode and decode to the
//! same message, with a stable encoding.
#![no_main]

use conclave_protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_protocol::v1::{self as pb, envelope::Body};
use conclave_protocol::{CheckedMessage, MessageKind, decode_bounded, encode};
use libfuzzer_sys::fuzz_target;

fn round_trip<M: CheckedMessage + PartialEq + core::fmt::Debug>(kind: MessageKind, m: &M) {
    let once = encode(m);
    let again: M = decode_bounded(kind, &once, usize::MAX).expect("re-encoded message decodes");
    assert_eq!(&again, m, "{kind}: decode(encode(m)) != m");
    assert_eq!(encode(&again), once, "{kind}: encoding is not stable");
}

fn content<M: CheckedMessage + PartialEq + core::fmt::Debug>(
    kind: MessageKind,
    s: &pb::SignedMessage,
) {
    if let Ok(m) = decode_bounded::<M>(kind, &s.content, MAX_ENVELOPE_SIZE) {
        round_trip(kind, &m);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(env) = decode_bounded::<pb::Envelope>(MessageKind::Envelope, data, MAX_ENVELOPE_SIZE)
    else {
        return;
    };
    round_trip(MessageKind::Envelope, &env);
    match &env.body {
        None => {}
        Some(Body::Announcement(s)) => content::<pb::Announcement>(MessageKind::Announcement, s),
        Some(Body::Commit(b)) => {
            if let Some(s) = &b.commit {
                content::<pb::Commit>(MessageKind::Commit, s);
            }
        }
        Some(Body::Welcome(s)) => {
            if let Ok(w) =
                decode_bounded::<pb::Welcome>(MessageKind::Welcome, &s.content, MAX_ENVELOPE_SIZE)
            {
                round_trip(MessageKind::Welcome, &w);
                if let Ok(gi) = decode_bounded::<pb::SignedMessage>(
                    MessageKind::SignedMessage,
                    &w.group_info,
                    MAX_ENVELOPE_SIZE,
                ) {
                    content::<pb::GroupInfo>(MessageKind::GroupInfo, &gi);
                }
            }
        }
        Some(Body::Heartbeat(b)) => {
            if let Some(s) = &b.heartbeat {
                content::<pb::Heartbeat>(MessageKind::Heartbeat, s);
            }
        }
        Some(Body::Leave(s)) => content::<pb::Leave>(MessageKind::Leave, s),
        Some(Body::ResyncRequest(s)) => content::<pb::ResyncRequest>(MessageKind::ResyncRequest, s),
        Some(Body::Liveness(s)) => content::<pb::LivenessNonce>(MessageKind::LivenessNonce, s),
        Some(Body::FailoverVote(s)) => content::<pb::FailoverVote>(MessageKind::FailoverVote, s),
    }
});
