//! What a malicious relay (or a malicious member) builds: envelopes taken apart and put back
//! together, messages signed with a key of its choosing, commits and heartbeats in someone
//! else's name, signed commits with a field changed.
//!
//! Shared by the adversarial test suite and `conclave simulate --attack`, so that both mount the
//! same forgeries. Nothing here panics: a payload that is not what a helper expects gives `None`.

use crate::identity::IdentityKey;
use crate::meeting::Meeting;
use crate::merkle;
use crate::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use crate::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
use crate::protocol::{MessageKind, decode_bounded, encode};
use crate::schedule::labels;
use crate::suite::CipherSuite;

/// The body of an encoded envelope, or `None` if the bytes are not an envelope.
pub fn body(payload: &[u8]) -> Option<Body> {
    decode_bounded::<pb::Envelope>(MessageKind::Envelope, payload, MAX_ENVELOPE_SIZE)
        .ok()?
        .body
}

/// An encoded envelope carrying `b`.
pub fn envelope(b: Body) -> Vec<u8> {
    encode(&pb::Envelope { body: Some(b) })
}

/// Whether `payload` is an envelope carrying a commit.
pub fn is_commit(payload: &[u8]) -> bool {
    matches!(body(payload), Some(Body::Commit(_)))
}

/// Whether `payload` is an envelope carrying a Welcome.
pub fn is_welcome(payload: &[u8]) -> bool {
    matches!(body(payload), Some(Body::Welcome(_)))
}

/// `content` signed by `identity` under `label` (any key: the forger's own, a stolen one).
pub fn sign(identity: &IdentityKey, label: &str, content: Vec<u8>) -> pb::SignedMessage {
    let signature = identity.sign(label, &content).to_vec();
    pb::SignedMessage { content, signature }
}

/// The signed message a body carries (`None` for a commit or heartbeat bundle without one).
pub fn signed_mut(b: &mut Body) -> Option<&mut pb::SignedMessage> {
    match b {
        Body::Announcement(s)
        | Body::Welcome(s)
        | Body::Leave(s)
        | Body::ResyncRequest(s)
        | Body::Liveness(s)
        | Body::FailoverVote(s) => Some(s),
        Body::Commit(c) => c.commit.as_mut(),
        Body::Heartbeat(h) => h.heartbeat.as_mut(),
    }
}

/// A next-epoch commit for `m`'s view of the meeting, signed by `signer` (who need not be the
/// leader) in the name of `leader_leaf`: it removes `removes` and adds nobody, carries no
/// key-tree entries (so it is only well formed as a `rebuild`), and claims suite 1.
pub fn forged_commit(
    m: &Meeting,
    signer: &IdentityKey,
    leader_leaf: u32,
    reason: CommitReason,
    removes: &[(u32, RemoveReason)],
    rebuild: bool,
) -> Vec<u8> {
    let width = m
        .participants()
        .iter()
        .map(|p| p.leaf)
        .filter(|l| !removes.iter().any(|(r, _)| r == l))
        .max()
        .and_then(|l| l.checked_add(1))
        .and_then(u32::checked_next_power_of_two)
        .unwrap_or(1);
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: CipherSuite::P256Sha256ChaCha20Poly1305.id(),
        meeting_id: m.meeting_id().to_vec(),
        epoch: m.epoch().saturating_add(1),
        prev_transcript_hash: m.transcript_hash().to_vec(),
        leader_leaf,
        reason: reason as i32,
        removes: removes
            .iter()
            .map(|&(leaf, r)| pb::Remove {
                leaf,
                reason: r as i32,
            })
            .collect(),
        adds: vec![],
        locked: false,
        leaf_count: width,
        updates_root: merkle::root(&[]).to_vec(),
        update_count: 0,
        rebuild,
        votes: vec![],
        stable_heartbeat: None,
    };
    envelope(Body::Commit(pb::CommitBundle {
        commit: Some(sign(signer, labels::COMMIT, encode(&c))),
        updates: vec![],
        proof: vec![],
    }))
}

/// A heartbeat of `meeting_id` for (`epoch`, transcript `th`), signed by `signer` in the name of
/// `leader_leaf`, with sequence 1, no echoes and a made-up key confirmation.
pub fn forged_heartbeat(
    meeting_id: &[u8],
    signer: &IdentityKey,
    leader_leaf: u32,
    epoch: u64,
    th: [u8; 32],
) -> Vec<u8> {
    let hb = pb::Heartbeat {
        version: PROTOCOL_VERSION,
        meeting_id: meeting_id.to_vec(),
        epoch,
        transcript_hash: th.to_vec(),
        leader_leaf,
        sequence: 1,
        prev_heartbeat_hash: vec![0; 32],
        confirmation: vec![7; 32],
        liveness_root: merkle::root(&[]).to_vec(),
        liveness_count: 0,
        stable: false,
    };
    envelope(Body::Heartbeat(pb::HeartbeatBundle {
        heartbeat: Some(sign(signer, labels::HEARTBEAT, encode(&hb))),
        echoes: vec![],
        proof: vec![],
    }))
}

/// The commit in `payload` with its lock flag flipped and its signature kept, or `None` if
/// `payload` is not a signed commit.
pub fn flip_commit_lock(payload: &[u8]) -> Option<Vec<u8>> {
    let Some(Body::Commit(mut bundle)) = body(payload) else {
        return None;
    };
    let signed = bundle.commit.as_mut()?;
    let mut c: pb::Commit =
        decode_bounded(MessageKind::Commit, &signed.content, MAX_ENVELOPE_SIZE).ok()?;
    c.locked = !c.locked;
    signed.content = encode(&c);
    Some(envelope(Body::Commit(bundle)))
}

/// The commit in `payload` with the ciphertexts of its first two key-tree entries swapped, or
/// `None` if it has fewer than two entries or their ciphertexts are equal.
pub fn swap_first_entries(payload: &[u8]) -> Option<Vec<u8>> {
    let Some(Body::Commit(mut bundle)) = body(payload) else {
        return None;
    };
    let a = bundle.updates.first()?.update.as_ref()?.ciphertext.clone();
    let b = bundle.updates.get(1)?.update.as_ref()?.ciphertext.clone();
    if a == b {
        return None;
    }
    bundle.updates.get_mut(0)?.update.as_mut()?.ciphertext = b;
    bundle.updates.get_mut(1)?.update.as_mut()?.ciphertext = a;
    Some(envelope(Body::Commit(bundle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(ciphertexts: &[&[u8]], locked: bool) -> Vec<u8> {
        let c = pb::Commit {
            locked,
            ..Default::default()
        };
        envelope(Body::Commit(pb::CommitBundle {
            commit: Some(pb::SignedMessage {
                content: encode(&c),
                signature: vec![1; 64],
            }),
            updates: ciphertexts
                .iter()
                .enumerate()
                .map(|(i, ct)| pb::IndexedUpdate {
                    index: i as u32,
                    update: Some(pb::NodeUpdate {
                        ciphertext: ct.to_vec(),
                        ..Default::default()
                    }),
                })
                .collect(),
            proof: vec![],
        }))
    }

    fn commit_of(payload: &[u8]) -> (pb::Commit, Vec<Vec<u8>>, Vec<u8>) {
        let Some(Body::Commit(b)) = body(payload) else {
            panic!("not a commit");
        };
        let signed = b.commit.unwrap_or_default();
        let c = decode_bounded(MessageKind::Commit, &signed.content, MAX_ENVELOPE_SIZE).unwrap();
        let cts = b
            .updates
            .into_iter()
            .map(|u| u.update.unwrap_or_default().ciphertext)
            .collect();
        (c, cts, signed.signature)
    }

    #[test]
    fn lock_flip_changes_only_the_flag_and_keeps_the_signature() {
        let genuine = bundle(&[b"a", b"b"], false);
        let forged = flip_commit_lock(&genuine).unwrap();
        let (c, cts, sig) = commit_of(&forged);
        assert!(c.locked);
        assert_eq!(cts, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(sig, vec![1; 64]);
        assert!(is_commit(&forged) && !is_welcome(&forged));
        assert_eq!(flip_commit_lock(b"not an envelope"), None);
    }

    #[test]
    fn swap_exchanges_the_first_two_ciphertexts_or_refuses() {
        let forged = swap_first_entries(&bundle(&[b"a", b"b", b"c"], true)).unwrap();
        let (c, cts, _) = commit_of(&forged);
        assert!(c.locked);
        assert_eq!(cts, vec![b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(swap_first_entries(&bundle(&[b"a"], false)), None);
        assert_eq!(swap_first_entries(&bundle(&[b"a", b"a"], false)), None);
    }

    #[test]
    fn every_signed_body_exposes_its_signed_message() {
        let s = pb::SignedMessage {
            content: vec![1],
            signature: vec![2],
        };
        let mut b = body(&envelope(Body::Leave(s.clone()))).unwrap();
        assert_eq!(signed_mut(&mut b), Some(&mut s.clone()));
        let mut empty = Body::Heartbeat(pb::HeartbeatBundle::default());
        assert_eq!(signed_mut(&mut empty), None);
    }
}
