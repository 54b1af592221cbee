//! Tampering: one byte of each message type, in the signed content and in the signature.

use crate::common::*;

#[test]
fn tampered_announcement_is_rejected() {
    let mut w = World::meeting(101, &["alice", "bob"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Announcement && m.to == "alice");
    w.join("erin");
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "announcement nonce byte",
            edit_content::<pb::Announcement>(&genuine, |a| a.liveness_nonce[3] ^= 1),
        ),
        (
            "announcement participant id",
            edit_content::<pb::Announcement>(&genuine, |a| a.participant_id = "erim".into()),
        ),
        (
            "announcement HPKE key byte",
            edit_content::<pb::Announcement>(&genuine, |a| a.hpke_keys[0].public_key[40] ^= 1),
        ),
        ("announcement signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        let err = assert_rejected(&mut w.s, "alice", payload, what, |e| {
            bad_sig(e)
                || matches!(
                    e,
                    MeetingError::Invalid {
                        message: "announcement",
                        ..
                    }
                )
        });
        // A flipped HPKE key byte may leave the curve: rejected by field validation (wire.md 5.3)
        // before the signature; every other change fails the signature (ANN-2).
        if what != "announcement HPKE key byte" {
            assert!(bad_sig(&err), "{what}: {err:?}");
        }
    }
    // Nothing was queued: no commit follows.
    let epoch = w.s.participants["alice"].epoch();
    w.s.settle();
    assert_eq!(w.s.participants["alice"].epoch(), epoch);
    assert!(!w.s.participants["erin"].is_active());

    // The genuine announcement still admits erin.
    release(&mut w.s, &held);
    assert!(w.s.participants["erin"].is_active());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "frank");
}

#[test]
fn tampered_commit_content_and_signature_are_rejected() {
    let mut w = World::meeting(102, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, _| m.to == "bob");
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = take(&held, "bob", Kind::Commit)[0].payload.clone();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "commit prev_transcript_hash byte",
            edit_content::<pb::Commit>(&genuine, |c| c.prev_transcript_hash[5] ^= 1),
        ),
        (
            "commit updates_root byte",
            edit_content::<pb::Commit>(&genuine, |c| c.updates_root[0] ^= 1),
        ),
        (
            "commit remove reason",
            edit_content::<pb::Commit>(&genuine, |c| {
                c.removes[0].reason = RemoveReason::Left as i32
            }),
        ),
        (
            "commit remove of another member",
            edit_content::<pb::Commit>(&genuine, |c| c.removes[0].leaf = 2),
        ),
        (
            "commit lock flag",
            edit_content::<pb::Commit>(&genuine, |c| c.locked = true),
        ),
        (
            "commit leader leaf (handover to bob)",
            edit_content::<pb::Commit>(&genuine, |c| {
                c.leader_leaf = 1;
                c.reason = CommitReason::Handover as i32;
                c.removes.clear();
                c.update_count = 0;
            }),
        ),
        ("commit signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "bob", payload, what, bad_sig);
    }
    // A forged failover commit is stopped before its signature: it carries no quorum of votes
    // (FO-2).
    let forged = edit_content::<pb::Commit>(&genuine, |c| {
        c.reason = CommitReason::Failover as i32;
        c.removes = vec![pb::Remove {
            leaf: 0,
            reason: RemoveReason::LeaderFailed as i32,
        }];
        c.leader_leaf = 1;
        c.rebuild = true;
    });
    assert_rejected(&mut w.s, "bob", forged, "failover commit", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    release(&mut w.s, &held);
    assert_converged(&w.s);
    assert_eq!(w.s.participants["bob"].participants().len(), 3);
    assert_meeting_continues(&mut w, "erin");
}

/// Key-tree entries swapped or relabelled, and Merkle proofs altered (COM-6.16).
#[test]
fn tampered_commit_updates_and_proof_are_rejected() {
    let mut w = World::meeting(103, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, _| m.to == "bob");
    w.s.act("alice", |m, now, _| m.remove("dave", now)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = take(&held, "bob", Kind::Commit)[0].payload.clone();
    let full = commit_bundle(&genuine);
    let wraps: Vec<(u32, u32)> = full
        .updates
        .iter()
        .map(|iu| {
            let u = iu.update.as_ref().unwrap();
            (u.node, u.child)
        })
        .collect();
    // Removing leaf 3 of 4: a fresh key for node 5 (under carol's leaf node 4); the root 3
    // derives from node 5 and is wrapped under node 1 only, bottom-up.
    assert_eq!(wraps, vec![(5, 4), (3, 1)]);
    let bob_slice = commit_bundle_for_leaf(&full, &[(3, 1)]);
    assert_eq!(bob_slice.updates.len(), 1);
    assert!(!bob_slice.proof.is_empty());

    let edit = |f: &dyn Fn(&mut pb::CommitBundle), base: &pb::CommitBundle| {
        let mut b = base.clone();
        f(&mut b);
        envelope(Body::Commit(b))
    };
    let root_mismatch = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::RootMismatch {
                message: "commit",
                ..
            }
        )
    };
    let bad_proof = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::BadProof {
                message: "commit",
                ..
            }
        )
    };

    let flipped = edit(&|b| ct(b, 0)[7] ^= 1, &full);
    assert_rejected(
        &mut w.s,
        "bob",
        flipped,
        "update ciphertext byte",
        root_mismatch,
    );

    let swapped = edit(
        &|b| {
            let a = ct(b, 0).clone();
            let c = ct(b, 1).clone();
            *ct(b, 0) = c;
            *ct(b, 1) = a;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        swapped,
        "swapped ciphertexts",
        root_mismatch,
    );

    // Carol's wrapped key presented as bob's: the (node, child) pair is what the Merkle leaf
    // hashes, so the root no longer matches.
    let relabelled = edit(
        &|b| {
            let ct0 = b.updates[0].update.as_ref().unwrap().ciphertext.clone();
            let u = b.updates[1].update.as_mut().unwrap();
            u.ciphertext = ct0;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        relabelled,
        "carol's wrap relabelled as bob's",
        root_mismatch,
    );

    // Bob's slice relabelled as the entry of index 0, (5, 4): the plan accepts the pair, the
    // Merkle leaf differs.
    let moved = edit(
        &|b| {
            b.updates[0].index = 0;
            let u = b.updates[0].update.as_mut().unwrap();
            u.node = 5;
            u.child = 4;
        },
        &bob_slice,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        moved,
        "slice entry moved to index 0",
        |e| root_mismatch(e) || bad_proof(e),
    );

    // An entry whose (node, child) is not the plan's at its index.
    let wrong_pair = edit(&|b| b.updates[0].update.as_mut().unwrap().child = 6, &full);
    assert_rejected(&mut w.s, "bob", wrong_pair, "node/child off plan", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    // Two entries swapped whole (index and update): out of order.
    let reordered = edit(&|b| b.updates.swap(0, 1), &full);
    assert_rejected(&mut w.s, "bob", reordered, "entries out of order", |e| {
        bad_proof(e) || matches!(e, MeetingError::BadRoster { .. })
    });

    let proof_byte = edit(&|b| b.proof[0][9] ^= 1, &bob_slice);
    assert_rejected(
        &mut w.s,
        "bob",
        proof_byte,
        "proof hash byte",
        root_mismatch,
    );
    let short = edit(
        &|b| {
            b.proof.pop();
        },
        &bob_slice,
    );
    assert_rejected(&mut w.s, "bob", short, "proof hash dropped", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooShort,
                ..
            }
        )
    });
    let long = edit(&|b| b.proof.push(vec![0u8; 32]), &bob_slice);
    assert_rejected(&mut w.s, "bob", long, "proof hash added", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooLong(1),
                ..
            }
        )
    });
    let stripped = edit(
        &|b| {
            b.updates.clear();
            b.proof.clear();
        },
        &full,
    );
    assert_rejected(&mut w.s, "bob", stripped, "all updates stripped", bad_proof);
    let short_ct = edit(&|b| ct(b, 0).truncate(47), &full);
    assert_rejected(&mut w.s, "bob", short_ct, "47-byte ciphertext", |e| {
        matches!(e, MeetingError::BadRoster { .. })
    });

    // The honest slice is accepted and gives bob the same keys as everyone.
    let sliced_hb: Vec<InFlight> = held
        .borrow()
        .iter()
        .filter(|m| kind_of(&m.payload) != Some(Kind::Commit))
        .cloned()
        .collect();
    assert!(inject(&mut w.s, "bob", envelope(Body::Commit(bob_slice))).is_none());
    held.borrow_mut().clear();
    for m in sliced_hb {
        w.s.deliver_one(m);
    }
    w.s.settle();
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn tampered_welcome_is_rejected() {
    let mut w = World::meeting(104, &["alice", "bob"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Welcome && m.to == "carol");
    w.join("carol");
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();

    let regroup = |f: &dyn Fn(&mut pb::SignedMessage)| {
        edit_content::<pb::Welcome>(&genuine, |wl| {
            let mut gi = pb::SignedMessage::decode(wl.group_info.as_slice()).unwrap();
            f(&mut gi);
            wl.group_info = encode(&gi);
        })
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "welcome HPKE ciphertext byte",
            edit_content::<pb::Welcome>(&genuine, |wl| wl.ciphertext[3] ^= 1),
        ),
        (
            "welcome enc byte",
            edit_content::<pb::Welcome>(&genuine, |wl| wl.enc[30] ^= 1),
        ),
        ("welcome signature", flip_signature(&genuine)),
        ("group info signature", regroup(&|gi| gi.signature[20] ^= 1)),
        (
            "group info lock flag",
            regroup(&|gi| {
                let mut g = pb::GroupInfo::decode(gi.content.as_slice()).unwrap();
                g.locked = true;
                gi.content = encode(&g);
            }),
        ),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "carol", payload, what, bad_sig);
    }
    // Welcome and GroupInfo disagreeing on the transcript: rejected before any signature.
    let th = edit_content::<pb::Welcome>(&genuine, |wl| wl.transcript_hash[0] ^= 1);
    assert_rejected(&mut w.s, "carol", th, "welcome transcript", |e| {
        matches!(e, MeetingError::Invalid { .. })
    });
    assert!(!w.s.participants["carol"].is_active());

    release(&mut w.s, &held);
    assert!(w.s.participants["carol"].is_active());
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_heartbeat_echoes_and_proof_are_rejected() {
    let mut w = World::meeting(105, &["alice", "bob", "carol", "dave"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Heartbeat && m.to == "bob");
    w.s.advance(sec(10), sec(10));
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let full = heartbeat_bundle(&genuine);
    let bob_leaf = w.s.participants["bob"].own_leaf();
    let leaves: Vec<[u8; 32]> = full
        .echoes
        .iter()
        .map(|ie| {
            let e = ie.echo.as_ref().unwrap();
            echo_leaf(e.leaf, &e.nonce)
        })
        .collect();
    let idx = full
        .echoes
        .iter()
        .position(|ie| ie.echo.as_ref().unwrap().leaf == bob_leaf)
        .unwrap();
    let slice = pb::HeartbeatBundle {
        heartbeat: full.heartbeat.clone(),
        echoes: vec![full.echoes[idx].clone()],
        proof: merkle::prove(&leaves, &[idx])
            .unwrap()
            .iter()
            .map(|h| h.to_vec())
            .collect(),
    };
    assert!(!slice.proof.is_empty());
    let edit = |f: &dyn Fn(&mut pb::HeartbeatBundle), base: &pb::HeartbeatBundle| {
        let mut b = base.clone();
        f(&mut b);
        envelope(Body::Heartbeat(b))
    };
    let root_mismatch = |e: &MeetingError| {
        matches!(
            e,
            MeetingError::RootMismatch {
                message: "heartbeat",
                ..
            }
        )
    };

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "heartbeat confirmation byte",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.confirmation[0] ^= 1),
        ),
        (
            "heartbeat sequence",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.sequence += 5),
        ),
        (
            "heartbeat liveness root byte",
            edit_content::<pb::Heartbeat>(&genuine, |h| h.liveness_root[31] ^= 1),
        ),
        ("heartbeat signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "bob", payload, what, bad_sig);
    }
    let echo_nonce = edit(
        &|b| b.echoes[idx].echo.as_mut().unwrap().nonce[2] ^= 1,
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        echo_nonce,
        "echo nonce byte",
        root_mismatch,
    );
    let echo_leaf_moved = edit(
        &|b| {
            let other = if idx == 0 { 1 } else { 0 };
            let n = b.echoes[other].echo.as_ref().unwrap().nonce.clone();
            b.echoes[idx].echo.as_mut().unwrap().nonce = n;
        },
        &full,
    );
    assert_rejected(
        &mut w.s,
        "bob",
        echo_leaf_moved,
        "another member's nonce echoed at bob's leaf",
        root_mismatch,
    );
    let proof_byte = edit(&|b| b.proof[0][4] ^= 1, &slice);
    assert_rejected(
        &mut w.s,
        "bob",
        proof_byte,
        "echo proof byte",
        root_mismatch,
    );
    let short = edit(
        &|b| {
            b.proof.pop();
        },
        &slice,
    );
    assert_rejected(&mut w.s, "bob", short, "echo proof hash dropped", |e| {
        matches!(
            e,
            MeetingError::BadProof {
                source: MerkleError::ProofTooShort,
                ..
            }
        )
    });

    // The genuine heartbeat is accepted (none of the rejected copies advanced the sequence),
    // and a replay of it, sliced or whole, is then refused (HB-6).
    assert_eq!(
        inject(&mut w.s, "bob", envelope(Body::Heartbeat(slice.clone()))),
        None
    );
    for replay in [genuine, envelope(Body::Heartbeat(slice))] {
        assert_rejected(&mut w.s, "bob", replay, "replayed heartbeat", |e| {
            matches!(e, MeetingError::ReplayedHeartbeat { .. })
        });
    }
    assert_meeting_continues(&mut w, "erin");
}

#[test]
fn tampered_leave_is_rejected() {
    let mut w = World::meeting(106, &["alice", "bob", "carol"]);
    let held = hold(&mut w.s, |m, k| k == Kind::Leave && m.to == "alice");
    w.s.act("bob", |m, now, rng| m.leave(now, rng)).unwrap();
    w.s.settle();
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "leave re-addressed to carol's leaf",
            edit_content::<pb::Leave>(&genuine, |l| l.leaf = 2),
        ),
        (
            "leave re-addressed to the leader's leaf",
            edit_content::<pb::Leave>(&genuine, |l| l.leaf = 0),
        ),
        (
            "leave epoch",
            edit_content::<pb::Leave>(&genuine, |l| l.epoch -= 1),
        ),
        ("leave signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    w.s.settle();
    assert_eq!(w.s.participants["alice"].participants().len(), 3);
    release(&mut w.s, &held);
    assert_eq!(w.s.participants["carol"].participants().len(), 2);
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_resync_request_is_rejected() {
    let mut w = World::meeting(107, &["alice", "bob", "carol"]);
    // Bob misses a commit; the heartbeat that follows tells him he is behind (HB-4).
    let to_bob = hold(&mut w.s, |m, k| {
        (m.to == "bob" && k == Kind::Commit)
            || (m.to == "alice" && m.from == "bob" && k == Kind::Resync)
    });
    w.s.act("alice", |m, now, _| m.rotate(now)).unwrap();
    w.s.settle();
    let genuine = take(&to_bob, "alice", Kind::Resync)[0].payload.clone();
    let welcomes = hold(&mut w.s, |m, k| m.to == "bob" && k == Kind::Welcome);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "resync nonce byte",
            edit_content::<pb::ResyncRequest>(&genuine, |r| r.liveness_nonce[0] ^= 1),
        ),
        (
            "resync re-addressed to carol's leaf",
            edit_content::<pb::ResyncRequest>(&genuine, |r| r.leaf = 2),
        ),
        ("resync signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    w.s.settle();
    assert!(
        welcomes.borrow().is_empty(),
        "a forged request was answered"
    );
    w.s.tap = None;
    to_bob.borrow_mut().clear();
    assert_eq!(inject(&mut w.s, "alice", genuine), None);
    w.s.settle();
    assert_converged(&w.s);
    assert_meeting_continues(&mut w, "dave");
}

#[test]
fn tampered_liveness_nonce_is_rejected() {
    let mut w = World::meeting(108, &["alice", "bob", "carol"]);
    let held = hold(&mut w.s, |m, k| {
        m.to == "alice" && m.from == "bob" && k == Kind::Liveness
    });
    w.s.advance(sec(10), sec(10));
    w.s.tap = None;
    let genuine = held.borrow()[0].payload.clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "liveness nonce byte",
            edit_content::<pb::LivenessNonce>(&genuine, |l| l.nonce[23] ^= 1),
        ),
        (
            "liveness re-addressed to carol's leaf",
            edit_content::<pb::LivenessNonce>(&genuine, |l| l.leaf = 2),
        ),
        ("liveness signature", flip_signature(&genuine)),
    ];
    for (what, payload) in cases {
        assert_rejected(&mut w.s, "alice", payload, what, bad_sig);
    }
    // A nonce of the wrong length is a field error, before the signature.
    let short = edit_content::<pb::LivenessNonce>(&genuine, |l| {
        l.nonce.pop();
    });
    assert_rejected(&mut w.s, "alice", short, "23-byte nonce", |e| {
        matches!(e, MeetingError::Invalid { .. })
    });
    assert_eq!(inject(&mut w.s, "alice", genuine), None);
    assert_meeting_continues(&mut w, "dave");
}
