//! messages.json: the exact encoding of one instance of every wire message of conclave.proto,
//! built from fixed values around one small meeting, with real signatures, a real Welcome seal,
//! real Merkle roots and proofs.

use conclave_core::hpke::HpkeKeyPair;
use conclave_core::protocol::v1::{
    Add, Announcement, Commit, CommitBundle, CommitReason, Envelope, GroupInfo, Heartbeat,
    HeartbeatBundle, IndexedEcho, IndexedUpdate, Leave, LivenessEcho, LivenessNonce, NodeSecret,
    NodeUpdate, PathSecrets, Remove, RemoveReason, ResyncRequest, RosterEntry, SignedMessage,
    SuiteKey, Welcome, envelope,
};
use conclave_core::protocol::{MessageKind, decode_bounded, encode, limits};
use conclave_core::schedule::{EpochSecrets, labels, transcript_next};
use conclave_core::tree::{self, LeaderTree};
use conclave_core::{CipherSuite, IdentityKey, PublicIdentity, merkle};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Map, Value, json};

use super::hpke_vectors::{seal_fixed, welcome_info};
use super::identity_vectors::static_label;
use super::{file, h, hx, hx32, list, num, rand_bytes, rand32, spec, text};

const SEED: u64 = 0x4d53_0001;
const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

// ---- JSON rendering of every message's fields (bytes as hex, enums as numbers) ----

fn signed_json(m: &SignedMessage) -> Value {
    json!({"content": h(&m.content), "signature": h(&m.signature)})
}

fn opt_signed(m: &Option<SignedMessage>) -> Value {
    m.as_ref().map_or(Value::Null, signed_json)
}

fn announcement_json(m: &Announcement) -> Value {
    json!({
        "version": m.version,
        "meeting_id": h(&m.meeting_id),
        "participant_id": m.participant_id,
        "identity_key": h(&m.identity_key),
        "hpke_keys": m.hpke_keys.iter().map(|k| json!({"suite": k.suite, "public_key": h(&k.public_key)})).collect::<Vec<_>>(),
        "liveness_nonce": h(&m.liveness_nonce),
        "recent_heartbeat": h(&m.recent_heartbeat),
    })
}

fn node_update_json(u: &NodeUpdate) -> Value {
    json!({"node": u.node, "child": u.child, "ciphertext": h(&u.ciphertext)})
}

fn commit_json(m: &Commit) -> Value {
    json!({
        "version": m.version,
        "suite": m.suite,
        "meeting_id": h(&m.meeting_id),
        "epoch": m.epoch,
        "prev_transcript_hash": h(&m.prev_transcript_hash),
        "leader_leaf": m.leader_leaf,
        "reason": m.reason,
        "removes": m.removes.iter().map(|r| json!({"leaf": r.leaf, "reason": r.reason})).collect::<Vec<_>>(),
        "adds": m.adds.iter().map(|a| json!({"leaf": a.leaf, "announcement": h(&a.announcement)})).collect::<Vec<_>>(),
        "locked": m.locked,
        "leaf_count": m.leaf_count,
        "updates_root": h(&m.updates_root),
        "update_count": m.update_count,
        "rebuild": m.rebuild,
    })
}

fn commit_bundle_json(m: &CommitBundle) -> Value {
    json!({
        "commit": opt_signed(&m.commit),
        "updates": m.updates.iter().map(|u| json!({
            "index": u.index,
            "update": u.update.as_ref().map_or(Value::Null, node_update_json),
        })).collect::<Vec<_>>(),
        "proof": m.proof.iter().map(h).collect::<Vec<_>>(),
    })
}

fn path_secrets_json(m: &PathSecrets) -> Value {
    json!({
        "leaf": m.leaf,
        "nodes": m.nodes.iter().map(|n| json!({"node": n.node, "key": h(&n.key)})).collect::<Vec<_>>(),
        "echoed_nonce": h(&m.echoed_nonce),
    })
}

fn group_info_json(m: &GroupInfo) -> Value {
    json!({
        "version": m.version,
        "suite": m.suite,
        "meeting_id": h(&m.meeting_id),
        "epoch": m.epoch,
        "transcript_hash": h(&m.transcript_hash),
        "leader_leaf": m.leader_leaf,
        "locked": m.locked,
        "leaf_count": m.leaf_count,
        "roster": m.roster.iter().map(|r| json!({
            "leaf": r.leaf,
            "admitted_epoch": r.admitted_epoch,
            "announcement": h(&r.announcement),
        })).collect::<Vec<_>>(),
    })
}

fn welcome_json(m: &Welcome) -> Value {
    json!({
        "version": m.version,
        "suite": m.suite,
        "meeting_id": h(&m.meeting_id),
        "epoch": m.epoch,
        "leaf": m.leaf,
        "transcript_hash": h(&m.transcript_hash),
        "enc": h(&m.enc),
        "ciphertext": h(&m.ciphertext),
        "group_info": h(&m.group_info),
    })
}

fn heartbeat_json(m: &Heartbeat) -> Value {
    json!({
        "version": m.version,
        "meeting_id": h(&m.meeting_id),
        "epoch": m.epoch,
        "transcript_hash": h(&m.transcript_hash),
        "leader_leaf": m.leader_leaf,
        "sequence": m.sequence,
        "prev_heartbeat_hash": h(&m.prev_heartbeat_hash),
        "confirmation": h(&m.confirmation),
        "liveness_root": h(&m.liveness_root),
        "liveness_count": m.liveness_count,
    })
}

fn heartbeat_bundle_json(m: &HeartbeatBundle) -> Value {
    json!({
        "heartbeat": opt_signed(&m.heartbeat),
        "echoes": m.echoes.iter().map(|e| json!({
            "index": e.index,
            "echo": e.echo.as_ref().map_or(Value::Null, |x| json!({"leaf": x.leaf, "nonce": h(&x.nonce)})),
        })).collect::<Vec<_>>(),
        "proof": m.proof.iter().map(h).collect::<Vec<_>>(),
    })
}

fn leave_json(m: &Leave) -> Value {
    json!({"version": m.version, "meeting_id": h(&m.meeting_id), "epoch": m.epoch, "leaf": m.leaf})
}

fn resync_json(m: &ResyncRequest) -> Value {
    json!({
        "version": m.version,
        "meeting_id": h(&m.meeting_id),
        "leaf": m.leaf,
        "have_epoch": m.have_epoch,
        "liveness_nonce": h(&m.liveness_nonce),
    })
}

fn liveness_json(m: &LivenessNonce) -> Value {
    json!({
        "version": m.version,
        "meeting_id": h(&m.meeting_id),
        "leaf": m.leaf,
        "epoch": m.epoch,
        "nonce": h(&m.nonce),
        "transcript_hash": h(&m.transcript_hash),
    })
}

fn envelope_json(m: &Envelope) -> Value {
    let (name, body) = match m.body.as_ref().expect("body set") {
        envelope::Body::Announcement(s) => ("announcement", signed_json(s)),
        envelope::Body::Commit(b) => ("commit", commit_bundle_json(b)),
        envelope::Body::Welcome(s) => ("welcome", signed_json(s)),
        envelope::Body::Heartbeat(b) => ("heartbeat", heartbeat_bundle_json(b)),
        envelope::Body::Leave(s) => ("leave", signed_json(s)),
        envelope::Body::ResyncRequest(s) => ("resync_request", signed_json(s)),
        envelope::Body::Liveness(s) => ("liveness", signed_json(s)),
        envelope::Body::FailoverVote(s) => ("failover_vote", signed_json(s)),
    };
    let mut m = Map::new();
    m.insert(name.into(), body);
    Value::Object(m)
}

/// One message of any wire type.
#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Envelope(Envelope),
    SignedMessage(SignedMessage),
    Announcement(Announcement),
    Commit(Commit),
    CommitBundle(CommitBundle),
    PathSecrets(PathSecrets),
    GroupInfo(GroupInfo),
    Welcome(Welcome),
    Heartbeat(Heartbeat),
    HeartbeatBundle(HeartbeatBundle),
    Leave(Leave),
    ResyncRequest(ResyncRequest),
    LivenessNonce(LivenessNonce),
}

impl Msg {
    fn type_name(&self) -> &'static str {
        match self {
            Msg::Envelope(_) => "Envelope",
            Msg::SignedMessage(_) => "SignedMessage",
            Msg::Announcement(_) => "Announcement",
            Msg::Commit(_) => "Commit",
            Msg::CommitBundle(_) => "CommitBundle",
            Msg::PathSecrets(_) => "PathSecrets",
            Msg::GroupInfo(_) => "GroupInfo",
            Msg::Welcome(_) => "Welcome",
            Msg::Heartbeat(_) => "Heartbeat",
            Msg::HeartbeatBundle(_) => "HeartbeatBundle",
            Msg::Leave(_) => "Leave",
            Msg::ResyncRequest(_) => "ResyncRequest",
            Msg::LivenessNonce(_) => "LivenessNonce",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Envelope(m) => m.encode_to_vec(),
            Msg::SignedMessage(m) => m.encode_to_vec(),
            Msg::Announcement(m) => m.encode_to_vec(),
            Msg::Commit(m) => m.encode_to_vec(),
            Msg::CommitBundle(m) => m.encode_to_vec(),
            Msg::PathSecrets(m) => m.encode_to_vec(),
            Msg::GroupInfo(m) => m.encode_to_vec(),
            Msg::Welcome(m) => m.encode_to_vec(),
            Msg::Heartbeat(m) => m.encode_to_vec(),
            Msg::HeartbeatBundle(m) => m.encode_to_vec(),
            Msg::Leave(m) => m.encode_to_vec(),
            Msg::ResyncRequest(m) => m.encode_to_vec(),
            Msg::LivenessNonce(m) => m.encode_to_vec(),
        }
    }

    fn fields(&self) -> Value {
        match self {
            Msg::Envelope(m) => envelope_json(m),
            Msg::SignedMessage(m) => signed_json(m),
            Msg::Announcement(m) => announcement_json(m),
            Msg::Commit(m) => commit_json(m),
            Msg::CommitBundle(m) => commit_bundle_json(m),
            Msg::PathSecrets(m) => path_secrets_json(m),
            Msg::GroupInfo(m) => group_info_json(m),
            Msg::Welcome(m) => welcome_json(m),
            Msg::Heartbeat(m) => heartbeat_json(m),
            Msg::HeartbeatBundle(m) => heartbeat_bundle_json(m),
            Msg::Leave(m) => leave_json(m),
            Msg::ResyncRequest(m) => resync_json(m),
            Msg::LivenessNonce(m) => liveness_json(m),
        }
    }

    /// Decodes `bytes` as `type_name` with the bound that applies to it.
    fn decode(type_name: &str, bytes: &[u8]) -> Msg {
        use limits::{
            MAX_ANNOUNCEMENT_SIZE as ANN, MAX_ENVELOPE_SIZE as ENV, MAX_GROUP_INFO_SIZE as GI,
        };
        match type_name {
            "Envelope" => Msg::Envelope(decode_bounded(MessageKind::Envelope, bytes, ENV).unwrap()),
            "SignedMessage" => {
                Msg::SignedMessage(decode_bounded(MessageKind::SignedMessage, bytes, ENV).unwrap())
            }
            "Announcement" => {
                Msg::Announcement(decode_bounded(MessageKind::Announcement, bytes, ANN).unwrap())
            }
            "Commit" => Msg::Commit(decode_bounded(MessageKind::Commit, bytes, ENV).unwrap()),
            "CommitBundle" => {
                Msg::CommitBundle(decode_bounded(MessageKind::Envelope, bytes, ENV).unwrap())
            }
            "PathSecrets" => {
                Msg::PathSecrets(decode_bounded(MessageKind::PathSecrets, bytes, ENV).unwrap())
            }
            "GroupInfo" => {
                Msg::GroupInfo(decode_bounded(MessageKind::GroupInfo, bytes, GI).unwrap())
            }
            "Welcome" => Msg::Welcome(decode_bounded(MessageKind::Welcome, bytes, ENV).unwrap()),
            "Heartbeat" => {
                Msg::Heartbeat(decode_bounded(MessageKind::Heartbeat, bytes, ENV).unwrap())
            }
            "HeartbeatBundle" => {
                Msg::HeartbeatBundle(decode_bounded(MessageKind::Envelope, bytes, ENV).unwrap())
            }
            "Leave" => Msg::Leave(decode_bounded(MessageKind::Leave, bytes, ENV).unwrap()),
            "ResyncRequest" => {
                Msg::ResyncRequest(decode_bounded(MessageKind::ResyncRequest, bytes, ENV).unwrap())
            }
            "LivenessNonce" => {
                Msg::LivenessNonce(decode_bounded(MessageKind::LivenessNonce, bytes, ENV).unwrap())
            }
            other => panic!("unknown message type {other}"),
        }
    }
}

/// A named message, and for a `SignedMessage` its label, signer and inner type.
struct Case {
    name: &'static str,
    msg: Msg,
    signed: Option<(&'static str, Vec<u8>, &'static str)>,
}

/// The meeting the messages belong to, and the secrets a reader needs to check them.
struct World {
    cases: Vec<Case>,
    context: Value,
    /// What `rejected.rs` mutates into invalid envelopes.
    rejected_inputs: RejectedInputs,
}

/// The meeting id, keys and well-formed messages the rejected cases start from.
pub(super) struct RejectedInputs {
    pub mid: Vec<u8>,
    pub bob: IdentityKey,
    pub erin: IdentityKey,
    pub bob_announcement: Announcement,
    pub bob_liveness: LivenessNonce,
}

fn sign(key: &IdentityKey, label: &'static str, content: Vec<u8>) -> SignedMessage {
    let signature = key.sign(label, &content).to_vec();
    SignedMessage { content, signature }
}

fn announce(
    key: &IdentityKey,
    mid: &[u8],
    participant: &str,
    hpke: &HpkeKeyPair,
    nonce: &[u8],
    recent_heartbeat: &[u8],
) -> (Announcement, SignedMessage) {
    let a = Announcement {
        version: 1,
        meeting_id: mid.to_vec(),
        participant_id: participant.into(),
        identity_key: key.public().as_bytes().to_vec(),
        hpke_keys: vec![SuiteKey {
            suite: SUITE.id(),
            public_key: hpke.public_key().to_vec(),
        }],
        liveness_nonce: nonce.to_vec(),
        recent_heartbeat: recent_heartbeat.to_vec(),
    };
    let s = sign(key, labels::ANNOUNCEMENT, encode(&a));
    (a, s)
}

fn build() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mid = rand_bytes(&mut rng, 32);
    let (alice_sk, bob_sk, erin_sk) = (rand32(&mut rng), rand32(&mut rng), rand32(&mut rng));
    let alice = IdentityKey::from_secret_bytes(&alice_sk).unwrap();
    let bob = IdentityKey::from_secret_bytes(&bob_sk).unwrap();
    let erin = IdentityKey::from_secret_bytes(&erin_sk).unwrap();
    let (alice_ikm, bob_ikm, erin_ikm) = (rand32(&mut rng), rand32(&mut rng), rand32(&mut rng));
    let alice_hpke = HpkeKeyPair::derive(SUITE, &alice_ikm);
    let bob_hpke = HpkeKeyPair::derive(SUITE, &bob_ikm);
    let erin_hpke = HpkeKeyPair::derive(SUITE, &erin_ikm);
    let nonces: Vec<Vec<u8>> = (0..6).map(|_| rand_bytes(&mut rng, 24)).collect();
    let (_, alice_ann) = announce(
        &alice,
        &mid,
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        &alice_hpke,
        &nonces[0],
        &[],
    );
    // Bob rejoins (he held leaf 1 before): his announcement references a heartbeat of epoch 2
    // that he heard while joining (state-machine.md ANN-10).
    let heard = Heartbeat {
        version: 1,
        meeting_id: mid.clone(),
        epoch: 2,
        transcript_hash: vec![0x22; 32],
        leader_leaf: 0,
        sequence: 4,
        prev_heartbeat_hash: vec![0x44; 32],
        confirmation: vec![0xcc; 32],
        liveness_root: merkle::root(&[]).to_vec(),
        liveness_count: 0,
        stable: false,
    };
    let bob_recent_heartbeat = spec::labeled_hash("heartbeat chain", &encode(&heard));
    let (bob_ann_msg, bob_ann) = announce(
        &bob,
        &mid,
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        &bob_hpke,
        &nonces[1],
        &bob_recent_heartbeat,
    );
    let (_, erin_ann) = announce(
        &erin,
        &mid,
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        &erin_hpke,
        &nonces[2],
        &[],
    );

    // The key tree: alice creates (epoch 1), two members join (epoch 2: leaves 1 and 2), then
    // the commit of these vectors (epoch 3) removes leaf 1 and admits bob, who takes leaf 1.
    let mut tree_rng = ChaCha20Rng::seed_from_u64(SEED + 1);
    let mut leader = LeaderTree::create(&mut tree_rng);
    let p = tree::plan(leader.occupancy(), &[], 2, false).unwrap();
    leader.apply(&p, &mid, 2, &mut tree_rng).unwrap();
    let p = tree::plan(leader.occupancy(), &[1], 1, false).unwrap();
    assert_eq!(p.added_leaves, [1]);
    let updates = leader.apply(&p, &mid, 3, &mut tree_rng).unwrap();
    assert_eq!(updates.len(), 2);
    let update_leaves: Vec<[u8; 32]> = updates
        .iter()
        .map(|(n, c, ct)| spec::update_leaf(*n, *c, ct))
        .collect();

    let prev_th = rand32(&mut rng);
    let commit = Commit {
        version: 1,
        suite: SUITE.id(),
        meeting_id: mid.clone(),
        epoch: 3,
        prev_transcript_hash: prev_th.to_vec(),
        leader_leaf: 0,
        reason: CommitReason::Membership as i32,
        removes: vec![Remove {
            leaf: 1,
            reason: RemoveReason::Removed as i32,
        }],
        adds: vec![Add {
            leaf: 1,
            announcement: encode(&bob_ann),
        }],
        locked: false,
        leaf_count: p.after.width(),
        updates_root: merkle::root(&update_leaves).to_vec(),
        update_count: updates.len() as u32,
        rebuild: false,
        votes: vec![],
        stable_heartbeat: None,
    };
    let signed_commit = sign(&alice, labels::COMMIT, encode(&commit));
    let th = transcript_next(&prev_th, &signed_commit.content);
    let indexed = |i: usize| IndexedUpdate {
        index: i as u32,
        update: Some(NodeUpdate {
            node: updates[i].0,
            child: updates[i].1,
            ciphertext: updates[i].2.clone(),
        }),
    };
    let bundle_full = CommitBundle {
        commit: Some(signed_commit.clone()),
        updates: (0..updates.len()).map(indexed).collect(),
        proof: vec![],
    };
    // Leaf 2's subset: the updates on its path, with a multiproof.
    let wanted = p.wraps_for_leaf(2);
    let idx: Vec<usize> = wanted
        .iter()
        .map(|w| updates.iter().position(|u| (u.0, u.1) == *w).unwrap())
        .collect();
    let bundle_partial = CommitBundle {
        commit: Some(signed_commit.clone()),
        updates: idx.iter().map(|&i| indexed(i)).collect(),
        proof: merkle::prove(&update_leaves, &idx)
            .unwrap()
            .iter()
            .map(|x| x.to_vec())
            .collect(),
    };

    let root_key = leader.root_key().unwrap().clone();
    let epoch = EpochSecrets::derive(&mid, 3, &th, &root_key);

    let group_info = GroupInfo {
        version: 1,
        suite: SUITE.id(),
        meeting_id: mid.clone(),
        epoch: 3,
        transcript_hash: th.to_vec(),
        leader_leaf: 0,
        locked: false,
        leaf_count: p.after.width(),
        roster: vec![
            RosterEntry {
                leaf: 0,
                admitted_epoch: 1,
                announcement: encode(&alice_ann),
            },
            RosterEntry {
                leaf: 1,
                admitted_epoch: 3,
                announcement: encode(&bob_ann),
            },
            RosterEntry {
                leaf: 2,
                admitted_epoch: 2,
                announcement: encode(&erin_ann),
            },
        ],
        previous_roster_size: 0,
    };
    let signed_gi = sign(&alice, labels::GROUP_INFO, encode(&group_info));
    let path_secrets = PathSecrets {
        leaf: 1,
        nodes: leader
            .path_secrets(1)
            .unwrap()
            .iter()
            .map(|(n, k)| NodeSecret {
                node: *n,
                key: k.expose().to_vec(),
            })
            .collect(),
        echoed_nonce: bob_ann_msg.liveness_nonce.clone(),
    };
    let ikm_e = rand32(&mut rng);
    let (enc, ct) = seal_fixed(
        bob_hpke.public_key(),
        &ikm_e,
        &welcome_info(&mid, 3, 1),
        &th,
        &encode(&path_secrets),
    );
    let welcome = Welcome {
        version: 1,
        suite: SUITE.id(),
        meeting_id: mid.clone(),
        epoch: 3,
        leaf: 1,
        transcript_hash: th.to_vec(),
        enc,
        ciphertext: ct,
        group_info: encode(&signed_gi),
    };
    let signed_welcome = sign(&alice, labels::WELCOME, encode(&welcome));

    // Liveness echoes of the members other than the leader (state-machine.md section 10.4):
    // leaves 1 and 2, ascending, committed by the heartbeat.
    let echoes: Vec<LivenessEcho> = [(1u32, &nonces[1]), (2, &nonces[2])]
        .iter()
        .map(|(leaf, n)| LivenessEcho {
            leaf: *leaf,
            nonce: n.to_vec(),
        })
        .collect();
    let echo_leaves: Vec<[u8; 32]> = echoes
        .iter()
        .map(|e| spec::echo_leaf(e.leaf, &e.nonce))
        .collect();
    let heartbeat = Heartbeat {
        version: 1,
        meeting_id: mid.clone(),
        epoch: 3,
        transcript_hash: th.to_vec(),
        leader_leaf: 0,
        sequence: 1,
        prev_heartbeat_hash: vec![0u8; 32],
        confirmation: epoch.confirmation.to_vec(),
        liveness_root: merkle::root(&echo_leaves).to_vec(),
        liveness_count: echoes.len() as u32,
        stable: false,
    };
    let signed_hb = sign(&alice, labels::HEARTBEAT, encode(&heartbeat));
    let hb_bundle = HeartbeatBundle {
        heartbeat: Some(signed_hb.clone()),
        echoes: vec![IndexedEcho {
            index: 0,
            echo: Some(echoes[0].clone()),
        }],
        proof: merkle::prove(&echo_leaves, &[0])
            .unwrap()
            .iter()
            .map(|x| x.to_vec())
            .collect(),
    };

    let leave = Leave {
        version: 1,
        meeting_id: mid.clone(),
        epoch: 3,
        leaf: 2,
        voted: false,
        transcript_hash: th.to_vec(),
    };
    let signed_leave = sign(&erin, labels::LEAVE, encode(&leave));
    let resync = ResyncRequest {
        version: 1,
        meeting_id: mid.clone(),
        leaf: 1,
        have_epoch: 3,
        liveness_nonce: nonces[3].clone(),
    };
    let signed_resync = sign(&bob, labels::RESYNC_REQUEST, encode(&resync));
    let liveness = LivenessNonce {
        version: 1,
        meeting_id: mid.clone(),
        leaf: 1,
        epoch: 3,
        nonce: nonces[4].clone(),
        transcript_hash: th.to_vec(),
        probe: false,
    };
    let signed_liveness = sign(&bob, labels::LIVENESS, encode(&liveness));
    let (rejected_announcement, rejected_liveness) = (bob_ann_msg.clone(), liveness.clone());
    let env = |b: envelope::Body| Msg::Envelope(Envelope { body: Some(b) });
    let (a, b, e) = (
        alice.public().as_bytes().to_vec(),
        bob.public().as_bytes().to_vec(),
        erin.public().as_bytes().to_vec(),
    );
    let cases = vec![
        Case {
            name: "announcement",
            msg: Msg::Announcement(bob_ann_msg.clone()),
            signed: None,
        },
        Case {
            name: "signed_announcement",
            msg: Msg::SignedMessage(bob_ann.clone()),
            signed: Some((labels::ANNOUNCEMENT, b.clone(), "Announcement")),
        },
        Case {
            name: "commit",
            msg: Msg::Commit(commit),
            signed: None,
        },
        Case {
            name: "signed_commit",
            msg: Msg::SignedMessage(signed_commit),
            signed: Some((labels::COMMIT, a.clone(), "Commit")),
        },
        Case {
            name: "commit_bundle_full",
            msg: Msg::CommitBundle(bundle_full.clone()),
            signed: None,
        },
        Case {
            name: "commit_bundle_subset_leaf_2",
            msg: Msg::CommitBundle(bundle_partial),
            signed: None,
        },
        Case {
            name: "path_secrets",
            msg: Msg::PathSecrets(path_secrets),
            signed: None,
        },
        Case {
            name: "group_info",
            msg: Msg::GroupInfo(group_info),
            signed: None,
        },
        Case {
            name: "signed_group_info",
            msg: Msg::SignedMessage(signed_gi),
            signed: Some((labels::GROUP_INFO, a.clone(), "GroupInfo")),
        },
        Case {
            name: "welcome",
            msg: Msg::Welcome(welcome),
            signed: None,
        },
        Case {
            name: "signed_welcome",
            msg: Msg::SignedMessage(signed_welcome.clone()),
            signed: Some((labels::WELCOME, a.clone(), "Welcome")),
        },
        Case {
            name: "heartbeat",
            msg: Msg::Heartbeat(heartbeat),
            signed: None,
        },
        Case {
            name: "signed_heartbeat",
            msg: Msg::SignedMessage(signed_hb),
            signed: Some((labels::HEARTBEAT, a.clone(), "Heartbeat")),
        },
        Case {
            name: "heartbeat_bundle_subset_leaf_1",
            msg: Msg::HeartbeatBundle(hb_bundle.clone()),
            signed: None,
        },
        Case {
            name: "leave",
            msg: Msg::Leave(leave),
            signed: None,
        },
        Case {
            name: "signed_leave",
            msg: Msg::SignedMessage(signed_leave.clone()),
            signed: Some((labels::LEAVE, e.clone(), "Leave")),
        },
        Case {
            name: "resync_request",
            msg: Msg::ResyncRequest(resync),
            signed: None,
        },
        Case {
            name: "signed_resync_request",
            msg: Msg::SignedMessage(signed_resync.clone()),
            signed: Some((labels::RESYNC_REQUEST, b.clone(), "ResyncRequest")),
        },
        Case {
            name: "liveness_nonce",
            msg: Msg::LivenessNonce(liveness),
            signed: None,
        },
        Case {
            name: "signed_liveness_nonce",
            msg: Msg::SignedMessage(signed_liveness.clone()),
            signed: Some((labels::LIVENESS, b.clone(), "LivenessNonce")),
        },
        Case {
            name: "envelope_announcement",
            msg: env(envelope::Body::Announcement(bob_ann)),
            signed: None,
        },
        Case {
            name: "envelope_commit",
            msg: env(envelope::Body::Commit(bundle_full)),
            signed: None,
        },
        Case {
            name: "envelope_welcome",
            msg: env(envelope::Body::Welcome(signed_welcome)),
            signed: None,
        },
        Case {
            name: "envelope_heartbeat",
            msg: env(envelope::Body::Heartbeat(hb_bundle)),
            signed: None,
        },
        Case {
            name: "envelope_leave",
            msg: env(envelope::Body::Leave(signed_leave)),
            signed: None,
        },
        Case {
            name: "envelope_resync_request",
            msg: env(envelope::Body::ResyncRequest(signed_resync)),
            signed: None,
        },
        Case {
            name: "envelope_liveness",
            msg: env(envelope::Body::Liveness(signed_liveness)),
            signed: None,
        },
    ];
    let context = json!({
        "meeting_id": h(&mid),
        "epoch": 3,
        "prev_transcript_hash": h(prev_th),
        "transcript_hash": h(th),
        "root_key": h(root_key.expose()),
        "welcome_ikm_e": h(ikm_e),
        "participants": [
            {"name": "alice", "leaf": 0, "identity_secret_key": h(alice_sk), "identity_public_key": h(&a), "hpke_ikm": h(alice_ikm), "hpke_public_key": h(alice_hpke.public_key())},
            {"name": "bob", "leaf": 1, "identity_secret_key": h(bob_sk), "identity_public_key": h(&b), "hpke_ikm": h(bob_ikm), "hpke_public_key": h(bob_hpke.public_key())},
            {"name": "erin", "leaf": 2, "identity_secret_key": h(erin_sk), "identity_public_key": h(&e), "hpke_ikm": h(erin_ikm), "hpke_public_key": h(erin_hpke.public_key())},
        ],
    });
    let rejected_inputs = RejectedInputs {
        mid: mid.clone(),
        bob: IdentityKey::from_secret_bytes(&bob_sk).unwrap(),
        erin: IdentityKey::from_secret_bytes(&erin_sk).unwrap(),
        bob_announcement: rejected_announcement,
        bob_liveness: rejected_liveness,
    };
    World {
        cases,
        context,
        rejected_inputs,
    }
}

pub fn generate() -> Value {
    let world = build();
    let cases: Vec<Value> = world
        .cases
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("name".into(), json!(c.name));
            m.insert("message".into(), json!(c.msg.type_name()));
            m.insert("fields".into(), c.msg.fields());
            m.insert("encoded".into(), h(c.msg.encode()));
            if let Some((label, signer, inner)) = &c.signed {
                m.insert("label".into(), json!(label));
                m.insert("signer".into(), h(signer));
                m.insert("content_type".into(), json!(inner));
            }
            Value::Object(m)
        })
        .collect();
    file(
        "Conclave v1 wire messages (protocol/proto/conclave/v1/conclave.proto, spec/wire.md): \
         the canonical protobuf encoding of one instance of every message, around one meeting: \
         alice (leaf 0, leader) commits epoch 3, which removes leaf 1 and admits bob at leaf 1; \
         erin holds leaf 2. SignedMessage signatures are IdentityKey::sign(label, content) of \
         spec/key-schedule.md section 3 (deterministic, so reproducible). The Welcome seals bob's \
         PathSecrets to his announced HPKE key with ephemeral ikm context.welcome_ikm_e. \
         cases.rejected: envelopes that the leader alice, with bob at leaf 1, MUST reject, each \
         with the rule it breaks and the error kind it produces (spec/wire.md section 2.1).",
        vec![("seed", json!(SEED)), ("context", world.context)],
        vec![
            ("messages", json!(cases)),
            (
                "rejected",
                super::rejected_vectors::generate(&world.rejected_inputs),
            ),
        ],
    )
}

fn participant<'a>(ctx: &'a Value, name: &str) -> &'a Value {
    list(ctx, "participants")
        .iter()
        .find(|p| text(p, "name") == name)
        .unwrap()
}

pub fn verify(v: &Value) {
    let world = build();
    let ctx = field_ctx(v);
    let cases = list(&v["cases"], "messages");
    assert_eq!(cases.len(), world.cases.len());
    let mut decoded_by_name = std::collections::BTreeMap::new();
    for (c, built) in cases.iter().zip(&world.cases) {
        let name = text(c, "name");
        assert_eq!(name, built.name);
        let bytes = hx(c, "encoded");
        let decoded = Msg::decode(text(c, "message"), &bytes);
        assert_eq!(decoded, built.msg, "{name}: decoded message differs");
        assert_eq!(decoded.encode(), bytes, "{name}: re-encoding differs");
        assert_eq!(&decoded.fields(), &c["fields"], "{name}: fields differ");
        if let Msg::SignedMessage(s) = &decoded {
            let label = static_label(text(c, "label"));
            let signer = PublicIdentity::from_bytes(&hx(c, "signer")).unwrap();
            signer.verify(label, &s.content, &s.signature).unwrap();
            // Independently: the signed bytes are LabeledContent(label, content).
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&hx(c, "signer")).unwrap();
            p256::ecdsa::signature::Verifier::verify(
                &vk,
                &spec::labeled_content(label, &s.content),
                &p256::ecdsa::Signature::from_slice(&s.signature).unwrap(),
            )
            .unwrap();
            // The content decodes as the inner type and is the matching unsigned case.
            let inner = Msg::decode(text(c, "content_type"), &s.content);
            assert_eq!(inner.encode(), s.content);
        }
        decoded_by_name.insert(name.to_string(), decoded);
    }
    // Cross-message facts a reader can check from the file alone.
    let mid = hx(&ctx, "meeting_id");
    let th = hx32(&ctx, "transcript_hash");
    let Some(Msg::SignedMessage(sc)) = decoded_by_name.get("signed_commit") else {
        panic!()
    };
    let mut input = hx(&ctx, "prev_transcript_hash");
    input.extend_from_slice(&sc.content);
    assert_eq!(spec::labeled_hash("transcript", &input), th);
    let Some(Msg::Commit(commit)) = decoded_by_name.get("commit") else {
        panic!()
    };
    assert_eq!(encode(commit), sc.content);
    for name in ["commit_bundle_full", "commit_bundle_subset_leaf_2"] {
        let Some(Msg::CommitBundle(b)) = decoded_by_name.get(name) else {
            panic!()
        };
        let entries: Vec<(usize, [u8; 32])> = b
            .updates
            .iter()
            .map(|u| {
                let x = u.update.as_ref().unwrap();
                (
                    u.index as usize,
                    spec::update_leaf(x.node, x.child, &x.ciphertext),
                )
            })
            .collect();
        let proof: Vec<[u8; 32]> = b
            .proof
            .iter()
            .map(|p| p.clone().try_into().unwrap())
            .collect();
        let n = commit.update_count as usize;
        assert_eq!(
            spec::multiproof_root(n, &entries, &proof).unwrap()[..],
            commit.updates_root[..]
        );
        assert_eq!(
            merkle::compute_root(n, &entries, &proof).unwrap()[..],
            commit.updates_root[..]
        );
    }
    let Some(Msg::HeartbeatBundle(hb)) = decoded_by_name.get("heartbeat_bundle_subset_leaf_1")
    else {
        panic!()
    };
    let Some(Msg::Heartbeat(heartbeat)) = decoded_by_name.get("heartbeat") else {
        panic!()
    };
    let entries: Vec<(usize, [u8; 32])> = hb
        .echoes
        .iter()
        .map(|e| {
            let x = e.echo.as_ref().unwrap();
            (e.index as usize, spec::echo_leaf(x.leaf, &x.nonce))
        })
        .collect();
    let proof: Vec<[u8; 32]> = hb
        .proof
        .iter()
        .map(|p| p.clone().try_into().unwrap())
        .collect();
    assert_eq!(
        spec::multiproof_root(heartbeat.liveness_count as usize, &entries, &proof).unwrap()[..],
        heartbeat.liveness_root[..]
    );
    // The heartbeat's confirmation is that of the epoch secret of the root key.
    let e = spec::epoch(&mid, num(&ctx, "epoch"), &th, &hx(&ctx, "root_key"));
    assert_eq!(heartbeat.confirmation, e.confirmation);
    // Bob opens the Welcome with his HPKE key and finds the path_secrets case; the path ends at
    // the root key.
    let Some(Msg::Welcome(w)) = decoded_by_name.get("welcome") else {
        panic!()
    };
    let bob = participant(&ctx, "bob");
    let kp = HpkeKeyPair::derive(SUITE, &hx(bob, "hpke_ikm"));
    assert_eq!(kp.public_key(), &hx(bob, "hpke_public_key")[..]);
    let mut info = spec::vec(&mid);
    info.extend_from_slice(&w.epoch.to_be_bytes());
    info.extend_from_slice(&w.leaf.to_be_bytes());
    let info = spec::labeled_content("welcome seal", &info);
    let pt = kp
        .open(&w.enc, &info, &w.transcript_hash, &w.ciphertext)
        .unwrap();
    let Some(Msg::PathSecrets(ps)) = decoded_by_name.get("path_secrets") else {
        panic!()
    };
    assert_eq!(&pt[..], &encode(ps)[..]);
    assert_eq!(ps.nodes.last().unwrap().key, hx(&ctx, "root_key"));
    for p in list(&ctx, "participants") {
        let k = IdentityKey::from_secret_bytes(&hx(p, "identity_secret_key")).unwrap();
        assert_eq!(k.public().as_bytes()[..], hx(p, "identity_public_key")[..]);
        let kp = HpkeKeyPair::derive(SUITE, &hx(p, "hpke_ikm"));
        assert_eq!(kp.public_key(), &hx(p, "hpke_public_key")[..]);
    }
}

fn field_ctx(v: &Value) -> Value {
    v.get("context").cloned().expect("context")
}
