//! One target for every wire message decoder: the first byte selects the message, the rest is
//! decoded with `decode_bounded` and that message's limit. Decoding must never panic, must
//! reject oversized input before parsing, and a successful decode must re-encode and decode to
//! the same message with a stable encoding.
//!
//! Selector (first byte modulo 14): 0 Envelope, 1 SignedMessage, 2 Announcement, 3 Commit,
//! 4 Welcome, 5 GroupInfo, 6 PathSecrets, 7 Heartbeat, 8 CommitBundle, 9 HeartbeatBundle,
//! 10 Leave, 11 ResyncRequest, 12 LivenessNonce, 13 NodeUpdate. `seeds.rs` writes seeds with
//! the same numbering.
#![no_main]

use conclave_protocol::limits::{MAX_ANNOUNCEMENT_SIZE, MAX_ENVELOPE_SIZE, MAX_GROUP_INFO_SIZE};
use conclave_protocol::v1 as pb;
use conclave_protocol::{CheckedMessage, DecodeError, MessageKind, decode_bounded, encode};
use libfuzzer_sys::fuzz_target;

/// Largest decrypted `PathSecrets` the engine accepts (`meeting::MAX_PATH_SECRETS_SIZE`).
const MAX_PATH_SECRETS: usize = conclave_core::meeting::MAX_PATH_SECRETS_SIZE;

fn check<M: CheckedMessage + PartialEq + core::fmt::Debug>(
    kind: MessageKind,
    bytes: &[u8],
    max: usize,
) {
    match decode_bounded::<M>(kind, bytes, max) {
        Ok(m) => {
            assert!(bytes.len() <= max);
            let once = encode(&m);
            let again: M = decode_bounded(kind, &once, usize::MAX).expect("re-encoding decodes");
            assert_eq!(again, m, "{kind}: decode(encode(m)) != m");
            assert_eq!(encode(&again), once, "{kind}: encoding is not stable");
            // (Re-encoding may grow: a negative enum read from a 5-byte varint is written
            // back in the canonical 10-byte form.)
        }
        Err(DecodeError::TooLarge { len, max: m, .. }) => {
            assert_eq!((len, m), (bytes.len(), max));
            assert!(bytes.len() > max);
        }
        Err(
            DecodeError::Malformed { .. }
            | DecodeError::Invalid { .. }
            | DecodeError::NoSchema { .. },
        ) => assert!(bytes.len() <= max),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let env = MAX_ENVELOPE_SIZE;
    match sel % 14 {
        0 => check::<pb::Envelope>(MessageKind::Envelope, bytes, env),
        1 => check::<pb::SignedMessage>(MessageKind::SignedMessage, bytes, env),
        2 => check::<pb::Announcement>(MessageKind::Announcement, bytes, MAX_ANNOUNCEMENT_SIZE),
        3 => check::<pb::Commit>(MessageKind::Commit, bytes, env),
        4 => check::<pb::Welcome>(MessageKind::Welcome, bytes, env),
        5 => check::<pb::GroupInfo>(MessageKind::GroupInfo, bytes, MAX_GROUP_INFO_SIZE),
        6 => check::<pb::PathSecrets>(MessageKind::PathSecrets, bytes, MAX_PATH_SECRETS),
        7 => check::<pb::Heartbeat>(MessageKind::Heartbeat, bytes, env),
        8 => check::<pb::CommitBundle>(MessageKind::Commit, bytes, env),
        9 => check::<pb::HeartbeatBundle>(MessageKind::Heartbeat, bytes, env),
        10 => check::<pb::Leave>(MessageKind::Leave, bytes, env),
        11 => check::<pb::ResyncRequest>(MessageKind::ResyncRequest, bytes, env),
        12 => check::<pb::LivenessNonce>(MessageKind::LivenessNonce, bytes, env),
        _ => check::<pb::NodeUpdate>(MessageKind::Commit, bytes, env),
    }
    // Small limits must be enforced before parsing, whatever the bytes.
    if bytes.len() > 8 {
        let r = decode_bounded::<pb::Envelope>(MessageKind::Envelope, bytes, 8);
        assert!(matches!(r, Err(DecodeError::TooLarge { .. })));
    }
});
