//! Every valid message still decodes under strict decoding: a populated instance of each
//! message type passes the check and round-trips.
// Populated messages end in `..Default::default()` so that they keep compiling as the schema
// gains fields.
#![allow(clippy::needless_update)]

use conclave_protocol::limits::{MAX_ENVELOPE_SIZE, MAX_PATH_NODES, MAX_SUITES};
use conclave_protocol::v1::{self as pb, envelope::Body};
use conclave_protocol::{CheckedMessage, MessageKind, check_strict, decode_bounded, encode};

fn sm(tag: u8) -> pb::SignedMessage {
    pb::SignedMessage {
        content: vec![tag; 40],
        signature: vec![tag; 64],
    }
}

fn round_trip<M: CheckedMessage + PartialEq + core::fmt::Debug>(m: &M) {
    let bytes = encode(m);
    assert_eq!(check_strict::<M>(MessageKind::Envelope, &bytes), Ok(()));
    let back: M = decode_bounded(MessageKind::Envelope, &bytes, MAX_ENVELOPE_SIZE).unwrap();
    assert_eq!(&back, m);
}

fn key(s: u32) -> pb::SuiteKey {
    pb::SuiteKey {
        suite: s,
        public_key: vec![4; 65],
    }
}

#[test]
fn announcement_and_commit_messages_round_trip() {
    let ann = pb::Announcement {
        version: 1,
        meeting_id: vec![1; 16],
        participant_id: "alice".into(),
        identity_key: vec![4; 65],
        hpke_keys: (1..=MAX_SUITES as u32).map(key).collect(),
        liveness_nonce: vec![9; 24],
        ..Default::default()
    };
    let update = pb::NodeUpdate {
        node: 3,
        child: 1,
        ciphertext: vec![5; 48],
    };
    let commit = pb::Commit {
        version: 1,
        suite: 1,
        meeting_id: vec![1; 16],
        epoch: u64::MAX,
        prev_transcript_hash: vec![2; 32],
        leader_leaf: u32::MAX,
        reason: pb::CommitReason::Failover as i32,
        removes: vec![pb::Remove {
            leaf: 2,
            reason: pb::RemoveReason::TimedOut as i32,
        }],
        adds: vec![pb::Add {
            leaf: 4,
            announcement: encode(&sm(1)),
        }],
        locked: true,
        leaf_count: 8,
        updates_root: vec![3; 32],
        update_count: 1,
        rebuild: true,
        ..Default::default()
    };
    round_trip(&ann);
    round_trip(&key(1));
    round_trip(&commit);
    round_trip(&update);
    round_trip(&bundle());
}

fn bundle() -> pb::CommitBundle {
    let update = pb::NodeUpdate {
        node: 3,
        child: 1,
        ciphertext: vec![5; 48],
    };
    pb::CommitBundle {
        commit: Some(sm(2)),
        updates: vec![pb::IndexedUpdate {
            index: 0,
            update: Some(update.clone()),
        }],
        proof: vec![vec![6; 32], vec![7; 32]],
    }
}

#[test]
fn welcome_messages_round_trip() {
    let path = pb::PathSecrets {
        leaf: 4,
        nodes: (0..MAX_PATH_NODES as u32)
            .map(|n| pb::NodeSecret {
                node: n,
                key: vec![8; 32],
            })
            .collect(),
        echoed_nonce: vec![9; 24],
    };
    let gi = pb::GroupInfo {
        version: 1,
        suite: 2,
        meeting_id: vec![1; 16],
        epoch: 7,
        transcript_hash: vec![2; 32],
        leader_leaf: 0,
        locked: true,
        leaf_count: 4,
        roster: vec![pb::RosterEntry {
            leaf: 1,
            admitted_epoch: 3,
            announcement: encode(&sm(3)),
        }],
        ..Default::default()
    };
    let welcome = pb::Welcome {
        version: 1,
        suite: 1,
        meeting_id: vec![1; 16],
        epoch: 7,
        leaf: 4,
        transcript_hash: vec![2; 32],
        enc: vec![4; 65],
        ciphertext: encode(&path),
        group_info: encode(&sm(4)),
        ..Default::default()
    };
    round_trip(&path);
    round_trip(&gi);
    round_trip(&welcome);
}

#[test]
fn heartbeat_and_member_messages_round_trip() {
    let (leave, resync, live) = member_messages();
    let hb = pb::Heartbeat {
        version: 1,
        meeting_id: vec![1; 16],
        epoch: 7,
        transcript_hash: vec![2; 32],
        leader_leaf: 1,
        sequence: 9,
        prev_heartbeat_hash: vec![0; 32],
        confirmation: vec![3; 32],
        liveness_root: vec![4; 32],
        liveness_count: 2,
        ..Default::default()
    };
    round_trip(&hb);
    round_trip(&heartbeat_bundle());
    round_trip(&leave);
    round_trip(&resync);
    round_trip(&live);
    round_trip(&sm(6));
}

fn heartbeat_bundle() -> pb::HeartbeatBundle {
    pb::HeartbeatBundle {
        heartbeat: Some(sm(5)),
        echoes: vec![pb::IndexedEcho {
            index: 1,
            echo: Some(pb::LivenessEcho {
                leaf: 2,
                nonce: vec![9; 24],
            }),
        }],
        proof: vec![vec![1; 32]],
    }
}

fn member_messages() -> (pb::Leave, pb::ResyncRequest, pb::LivenessNonce) {
    let leave = pb::Leave {
        version: 1,
        meeting_id: vec![1; 16],
        epoch: 7,
        leaf: 3,
        transcript_hash: vec![5; 32],
        ..Default::default()
    };
    let resync = pb::ResyncRequest {
        version: 1,
        meeting_id: vec![1; 16],
        leaf: 3,
        have_epoch: 6,
        liveness_nonce: vec![9; 24],
        ..Default::default()
    };
    let live = pb::LivenessNonce {
        version: 1,
        meeting_id: vec![1; 16],
        leaf: 3,
        epoch: 7,
        nonce: vec![9; 24],
        ..Default::default()
    };
    (leave, resync, live)
}

#[test]
fn envelopes_round_trip() {
    round_trip(&pb::Envelope::default());
    for body in [
        Body::Announcement(sm(1)),
        Body::Commit(bundle()),
        Body::Welcome(sm(3)),
        Body::Heartbeat(heartbeat_bundle()),
        Body::Leave(sm(5)),
        Body::ResyncRequest(sm(6)),
        Body::Liveness(sm(7)),
    ] {
        round_trip(&pb::Envelope { body: Some(body) });
    }
}
