//! Commits and heartbeats from the wrong signer.

use crate::common::*;

#[test]
fn commit_signed_by_a_non_leader_is_rejected() {
    let mut w = World::meeting(401, &["alice", "bob", "carol"]);
    let bob = w.identity("bob");
    let carol = &w.s.participants["carol"];
    let cases = vec![
        (
            "bob removes carol in alice's name",
            forge::forged_commit(
                carol,
                &bob,
                0,
                CommitReason::Membership,
                &[(2, RemoveReason::Removed)],
                true,
            ),
        ),
        (
            "bob hands leadership to himself",
            forge::forged_commit(carol, &bob, 1, CommitReason::Handover, &[], false),
        ),
        (
            "bob rebuilds as leader",
            forge::forged_commit(carol, &bob, 1, CommitReason::Handover, &[], true),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    let carol = &w.s.participants["carol"];
    let failover = forge::forged_commit(
        carol,
        &bob,
        1,
        CommitReason::Failover,
        &[(0, RemoveReason::LeaderFailed)],
        true,
    );
    // No quorum of votes elected bob: the failover is refused whoever signed it (FO-2).
    assert_rejected(&mut w.s, "carol", failover, "bob's failover", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });
    assert_meeting_continues(&mut w, "dave");
}

/// COM-3: a running leader never accepts a commit it did not make, in particular not a failover
/// commit that removes it. Here the failover commit is signed by the leader's successor (a
/// malicious member, or an honest one the relay starved of heartbeats, see
/// `starving_the_successor_does_not_depose_the_leader`).
#[test]

fn running_leader_rejects_a_failover_commit_that_removes_it() {
    let mut w = World::meeting(404, &["alice", "bob", "carol"]);
    let bob = w.identity("bob");
    let failover = forge::forged_commit(
        &w.s.participants["alice"],
        &bob,
        1,
        CommitReason::Failover,
        &[(0, RemoveReason::LeaderFailed)],
        true,
    );
    assert_rejected(
        &mut w.s,
        "alice",
        failover,
        "failover at the running leader",
        |e| matches!(e, MeetingError::Unexpected { .. }),
    );
    assert!(w.s.participants["alice"].is_leader());
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn commit_by_a_removed_former_leader_is_rejected() {
    let mut w = World::meeting(402, &["alice", "bob", "carol"]);
    let alice = w.identity("alice");
    w.s.act("alice", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    assert_eq!(w.s.leader(), Some("bob"));
    assert_converged(&w.s);
    let carol = &w.s.participants["carol"];
    let cases = vec![
        (
            "alice keeps committing",
            forge::forged_commit(carol, &alice, 0, CommitReason::Rotation, &[], true),
        ),
        (
            "alice removes bob",
            forge::forged_commit(
                carol,
                &alice,
                2,
                CommitReason::Membership,
                &[(1, RemoveReason::Removed)],
                true,
            ),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    // A heartbeat of alice for the current epoch: not the leader (HB-3).
    let m = &w.s.participants["carol"];
    let hb = forge::forged_heartbeat(MID, &alice, 0, m.epoch(), m.transcript_hash());
    assert_rejected(&mut w.s, "carol", hb, "alice's heartbeat", |e| {
        matches!(e, MeetingError::NotLeader { .. })
    });
    assert_meeting_continues(&mut w, "dave");
}

/// A removed member (here a participant the relay registered, so the relay holds its identity
/// key) signs a heartbeat claiming a branch far ahead. HB-3 requires `leader_leaf` to be the
/// member's leader: the member must reject it and keep its keys. If it instead "follows" the
/// forged branch, the relay answers its resync request with a Welcome of its own and the member
/// ends up encrypting media under keys the removed member chose.
#[test]

fn removed_member_cannot_capture_a_member_with_a_forged_branch() {
    let mut w = World::meeting(403, &["alice", "bob", "carol"]);
    let log = record(&mut w.s, |_| TapAction::Deliver);
    w.join("mallory");
    w.s.settle();
    let mallory_leaf = w.s.participants["mallory"].own_leaf();
    w.s.act("alice", |m, now, _| m.remove("mallory", now))
        .unwrap();
    w.s.settle();
    assert!(!w.s.participants["mallory"].is_active());
    let mallory = w.identity("mallory");
    let bob_before = view(&w.s, "bob");

    // From now on the relay keeps bob's resync requests from the leader (it reads them).
    let requests = hold(&mut w.s, |m, k| m.from == "bob" && k == Kind::Resync);
    let fake_epoch = bob_before.epoch + 1000;
    let hb = forge::forged_heartbeat(MID, &mallory, mallory_leaf, fake_epoch, [9; 32]);
    let err = inject(&mut w.s, "bob", hb);
    let captured_view = view(&w.s, "bob");
    // Complete the capture as the relay would, to show the impact: answer bob's resync request
    // with a Welcome of mallory's branch, sealed to bob's announced HPKE key.
    w.s.settle();
    let request = requests.borrow().last().cloned();
    let mut frame_secret_known_to_mallory = false;
    if let Some(req) = request {
        let mut b = body(&req.payload).unwrap();
        let r = pb::ResyncRequest::decode(signed_mut(&mut b).content.as_slice()).unwrap();
        let (welcome, secrets) =
            capture_welcome(&mut w, &log, &mallory, mallory_leaf, fake_epoch, &r);
        let _ = inject(&mut w.s, "bob", welcome);
        frame_secret_known_to_mallory = w.s.participants["bob"]
            .epoch_secrets()
            .is_some_and(|e| e.frame_secret.expose() == secrets.frame_secret.expose());
    }
    assert!(
        !frame_secret_known_to_mallory,
        "bob now encrypts with a frame secret chosen by removed member mallory"
    );
    assert!(
        matches!(err, Some(MeetingError::NotLeader { .. })),
        "HB-3: a heartbeat from a non-leader must be rejected, got {err:?}"
    );
    assert_eq!(captured_view, bob_before);
    assert_meeting_continues(&mut w, "dave");
}

/// The relay (holding removed mallory's key) answers bob's resync request with a Welcome of its
/// own: a one-member-plus-bob group at `epoch` led by mallory, echoing bob's nonce.
fn capture_welcome(
    w: &mut World,
    log: &Log,
    mallory: &IdentityKey,
    mallory_leaf: u32,
    epoch: u64,
    req: &pb::ResyncRequest,
) -> (Vec<u8>, EpochSecrets) {
    // The relay saw both announcements in the commits that admitted bob and mallory.
    let mut anns: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut keep = |bytes: Vec<u8>| {
        let s = pb::SignedMessage::decode(bytes.as_slice()).unwrap();
        let a = pb::Announcement::decode(s.content.as_slice()).unwrap();
        anns.insert(a.participant_id, bytes);
    };
    for m in log.borrow().iter() {
        match body(&m.payload) {
            Some(Body::Commit(c)) => commit_of(&c)
                .adds
                .into_iter()
                .for_each(|a| keep(a.announcement)),
            Some(Body::Welcome(s)) => {
                let wl = pb::Welcome::decode(s.content.as_slice()).unwrap();
                if !wl.group_info.is_empty() {
                    let gs = pb::SignedMessage::decode(wl.group_info.as_slice()).unwrap();
                    let gi = pb::GroupInfo::decode(gs.content.as_slice()).unwrap();
                    gi.roster.into_iter().for_each(|e| keep(e.announcement));
                }
            }
            _ => {}
        }
    }
    let bob_leaf = req.leaf;
    let bob_ann = anns.get("bob").cloned().unwrap_or_default();
    let mallory_ann = anns.get("mallory").cloned().unwrap_or_default();
    let bob_pk = {
        let s = pb::SignedMessage::decode(bob_ann.as_slice()).unwrap();
        let a = pb::Announcement::decode(s.content.as_slice()).unwrap();
        a.hpke_keys[0].public_key.clone()
    };
    let width = (bob_leaf.max(mallory_leaf) + 1).next_power_of_two();
    let occ = Occupancy::from_parts(width, [bob_leaf, mallory_leaf]).unwrap();
    let tree = LeaderTree::rebuild(occ, &mut w.s.rng);
    let th = [9u8; 32];
    let secrets = EpochSecrets::derive(MID, epoch, &th, tree.root_key().unwrap());
    let path = tree.path_secrets(bob_leaf).unwrap();
    let ps = pb::PathSecrets {
        leaf: bob_leaf,
        nodes: path
            .iter()
            .map(|(node, key)| pb::NodeSecret {
                node: *node,
                key: key.expose().to_vec(),
            })
            .collect(),
        echoed_nonce: req.liveness_nonce.clone(),
    };
    let (enc, ciphertext) = hpke::seal(
        CipherSuite::P256Sha256ChaCha20Poly1305,
        &bob_pk,
        &welcome_info(MID, epoch, bob_leaf),
        &th,
        &encode(&ps),
        &mut w.s.rng,
    )
    .unwrap();
    let mut roster = vec![
        pb::RosterEntry {
            leaf: bob_leaf,
            admitted_epoch: 1,
            announcement: bob_ann,
        },
        pb::RosterEntry {
            leaf: mallory_leaf,
            admitted_epoch: 1,
            announcement: mallory_ann,
        },
    ];
    roster.sort_by_key(|e| e.leaf);
    let gi = pb::GroupInfo {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        transcript_hash: th.to_vec(),
        leader_leaf: mallory_leaf,
        locked: false,
        leaf_count: width,
        roster,
        previous_roster_size: 0,
    };
    let welcome = pb::Welcome {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        leaf: bob_leaf,
        transcript_hash: th.to_vec(),
        enc,
        ciphertext,
        group_info: encode(&sign(mallory, labels::GROUP_INFO, encode(&gi))),
    };
    (
        envelope(Body::Welcome(sign(
            mallory,
            labels::WELCOME,
            encode(&welcome),
        ))),
        secrets,
    )
}
