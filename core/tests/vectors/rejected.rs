//! messages.json `cases.rejected[]`: envelopes a receiver MUST reject, each with the rule it
//! breaks and the error kind it must produce (`spec/wire.md` section 2.1), and the check that the
//! engine produces exactly that kind without changing its state.
//!
//! The receiver of every case is the leader (alice, leaf 0) of the meeting `context.meeting_id`
//! in which bob (identity key of `context`) holds leaf 1. Each case breaks exactly one rule: the
//! signed contents are re-signed by their signer after the change unless the signature is what
//! the case breaks.

use core::time::Duration;

use conclave_core::meeting::{Meeting, MeetingConfig, MeetingError};
use conclave_core::protocol::encode;
use conclave_core::protocol::v1::{
    Announcement, Envelope, Leave, LivenessNonce, SignedMessage, SuiteKey, envelope,
};
use conclave_core::schedule::labels;
use conclave_core::{IdentityKey, PublicIdentity};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::message_vectors::RejectedInputs;
use super::{h, hx, list, text};

/// Rejected cases the engine does not yet reject with the specified kind: (name, the engine
/// change it needs). `rejected_cases_produce_their_kind` skips them and
/// `rejected_cases_needing_engine_changes` (ignored) checks them.
pub const NEEDS_ENGINE_CHANGE: &[(&str, &str)] = &[
    (
        "leave_empty_meeting_id",
        "meeting/wire.rs check_meeting: check the length (MIN..=MAX_MEETING_ID_LEN, Invalid) \
         before comparing (WrongMeeting)",
    ),
    (
        "announcement_meeting_id_65_bytes",
        "meeting/wire.rs check_meeting: check the length (MIN..=MAX_MEETING_ID_LEN, Invalid) \
         before comparing (WrongMeeting)",
    ),
    (
        "announcement_suite_0",
        "meeting/wire.rs parse_announcement: reject SuiteKey.suite == 0 (Invalid) instead of \
         carrying it as an unimplemented suite",
    ),
];

/// The snake_case name of a `MeetingError` variant: the error kind of `spec/wire.md` section
/// 2.1. (Local on purpose: `MeetingError::kind()` is being added separately.)
pub fn kind(e: &MeetingError) -> &'static str {
    match e {
        MeetingError::Decode(_) => "decode",
        MeetingError::Invalid { .. } => "invalid",
        MeetingError::WrongMeeting { .. } => "wrong_meeting",
        MeetingError::BadSignature { .. } => "bad_signature",
        MeetingError::NotLeader { .. } => "not_leader",
        MeetingError::StaleEpoch { .. } => "stale_epoch",
        MeetingError::TranscriptMismatch { .. } => "transcript_mismatch",
        MeetingError::Gap { .. } => "gap",
        MeetingError::BadRoster { .. } => "bad_roster",
        MeetingError::BadProof { .. } => "bad_proof",
        MeetingError::RootMismatch { .. } => "root_mismatch",
        MeetingError::Tree { .. } => "tree",
        MeetingError::Crypto { .. } => "crypto",
        MeetingError::ConfirmationMismatch { .. } => "confirmation_mismatch",
        MeetingError::ReplayedHeartbeat { .. } => "replayed_heartbeat",
        MeetingError::Refused { .. } => "refused",
        MeetingError::Replayed { .. } => "replayed",
        MeetingError::Unexpected { .. } => "unexpected",
        MeetingError::NotTheLeader(_) => "not_the_leader",
        MeetingError::NotInMeeting => "not_in_meeting",
        MeetingError::UnknownParticipant(_) => "unknown_participant",
        MeetingError::Full(_) => "full",
    }
}

// ---- raw protobuf ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(field: u32, wire_type: u8, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3 | u64::from(wire_type), out);
}

fn ld(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    tag(field, 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn signed(content: Vec<u8>, signature: Vec<u8>) -> SignedMessage {
    SignedMessage { content, signature }
}

fn sign(key: &IdentityKey, label: &str, content: Vec<u8>) -> SignedMessage {
    let signature = key.sign(label, &content).to_vec();
    signed(content, signature)
}

fn env(body: envelope::Body) -> Vec<u8> {
    encode(&Envelope { body: Some(body) })
}

fn leave_env(s: SignedMessage) -> Vec<u8> {
    env(envelope::Body::Leave(s))
}

fn ann_env(s: SignedMessage) -> Vec<u8> {
    env(envelope::Body::Announcement(s))
}

struct Rejected {
    name: &'static str,
    rule: &'static str,
    kind: &'static str,
    envelope: Vec<u8>,
}

/// The rejected cases, in file order.
fn cases(inp: &RejectedInputs) -> Vec<Rejected> {
    let bob = &inp.bob;
    let leave = Leave {
        version: 1,
        meeting_id: inp.mid.clone(),
        epoch: 3,
        leaf: 1,
        voted: false,
    };
    let good_leave = sign(bob, labels::LEAVE, encode(&leave));
    let good_leave_env = leave_env(good_leave.clone());
    let good_ann = sign(bob, labels::ANNOUNCEMENT, encode(&inp.bob_announcement));
    let good_ann_env = ann_env(good_ann.clone());
    // A Leave re-signed by bob after `f` changed it.
    let leave_with = |f: &dyn Fn(&mut Leave)| {
        let mut l = leave.clone();
        f(&mut l);
        leave_env(sign(bob, labels::LEAVE, encode(&l)))
    };
    // A Leave whose content is `raw` (hand-encoded), signed by bob.
    let raw_leave = |raw: Vec<u8>| leave_env(sign(bob, labels::LEAVE, raw));
    // The Leave fields 1..3 in canonical form, to append a hand-encoded field 4 or 5 to.
    let leave_prefix = || {
        let mut b = Vec::new();
        tag(1, 0, &mut b);
        varint(1, &mut b);
        ld(2, &inp.mid, &mut b);
        tag(3, 0, &mut b);
        varint(3, &mut b);
        b
    };
    let ann_with = |f: &dyn Fn(&mut Announcement)| {
        let mut a = inp.bob_announcement.clone();
        f(&mut a);
        ann_env(sign(bob, labels::ANNOUNCEMENT, encode(&a)))
    };
    let liveness_with = |f: &dyn Fn(&mut LivenessNonce)| {
        let mut l = inp.bob_liveness.clone();
        f(&mut l);
        env(envelope::Body::Liveness(sign(
            bob,
            labels::LIVENESS,
            encode(&l),
        )))
    };
    let flip_signature = |s: &SignedMessage| {
        let mut sig = s.signature.clone();
        sig[10] ^= 0x01;
        signed(s.content.clone(), sig)
    };
    let other_mid: Vec<u8> = inp.mid.iter().map(|b| b ^ 0xff).collect();

    let mut out = vec![
        // ---- envelope framing (section 2 steps 1-2, section 3.1) ----
        Rejected {
            name: "envelope_empty",
            rule: "wire.md 5.1: exactly one body MUST be set (an empty envelope has none)",
            kind: "invalid",
            envelope: vec![],
        },
        Rejected {
            name: "envelope_two_bodies",
            rule: "wire.md 3.1 rule 5: at most one member of a oneof (a leave, then an announcement)",
            kind: "decode",
            envelope: [good_leave_env.clone(), good_ann_env.clone()].concat(),
        },
        Rejected {
            name: "envelope_body_twice",
            rule: "wire.md 3.1 rule 5: a singular field occurs at most once (the same leave twice)",
            kind: "decode",
            envelope: [good_leave_env.clone(), good_leave_env.clone()].concat(),
        },
        Rejected {
            name: "envelope_truncated_value",
            rule: "wire.md 3.1 rule 1: a value runs past the end (last byte of a valid envelope removed)",
            kind: "decode",
            envelope: good_leave_env[..good_leave_env.len() - 1].to_vec(),
        },
        Rejected {
            name: "envelope_truncated_tag",
            rule: "wire.md 3.1 rule 1: the input ends after a tag, before its length",
            kind: "decode",
            envelope: vec![0x2a],
        },
        Rejected {
            name: "envelope_truncated_varint",
            rule: "wire.md 3.1 rule 1: the input ends inside a varint (continuation bit set)",
            kind: "decode",
            envelope: vec![0x2a, 0x80],
        },
        Rejected {
            name: "envelope_field_number_0",
            rule: "wire.md 3.1 rule 1: field number 0",
            kind: "decode",
            envelope: vec![0x02, 0x00],
        },
        Rejected {
            name: "envelope_group_wire_type",
            rule: "wire.md 3.1 rule 1: wire type 3 (start group), here on unknown field 15",
            kind: "decode",
            envelope: [good_leave_env.clone(), vec![0x7b]].concat(),
        },
        Rejected {
            name: "envelope_wire_type_7",
            rule: "wire.md 3.1 rule 1: wire type 7, on unknown field 15",
            kind: "decode",
            envelope: [good_leave_env.clone(), vec![0x7f, 0x00]].concat(),
        },
        Rejected {
            name: "envelope_body_wrong_wire_type",
            rule: "wire.md 3.1 rule 3: body field 5 (a message) as a varint",
            kind: "decode",
            envelope: vec![0x28, 0x01],
        },
        // ---- signed content: strict decoding (section 2 step 3) ----
        Rejected {
            name: "leave_varint_11_bytes",
            rule: "wire.md 3.1 rule 2: a varint of more than 10 bytes (version 1, zero-padded to 11 bytes)",
            kind: "decode",
            envelope: raw_leave({
                let mut b = vec![0x08];
                b.extend_from_slice(&[
                    0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                ]);
                ld(2, &inp.mid, &mut b);
                tag(3, 0, &mut b);
                varint(3, &mut b);
                tag(4, 0, &mut b);
                varint(1, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_varint_over_64_bits",
            rule: "wire.md 3.1 rule 2: a tenth varint byte above 1 (epoch over 2^64 - 1)",
            kind: "decode",
            envelope: raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                ld(2, &inp.mid, &mut b);
                tag(3, 0, &mut b);
                b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
                tag(4, 0, &mut b);
                varint(1, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_uint32_out_of_range",
            rule: "wire.md 3.1 rule 4: a uint32 of 2^32 (leaf), rejected, not truncated to 0",
            kind: "decode",
            envelope: raw_leave({
                let mut b = leave_prefix();
                tag(4, 0, &mut b);
                varint(1 << 32, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_bool_2",
            rule: "wire.md 3.1 rule 4: a bool other than 0 or 1 (voted = 2)",
            kind: "decode",
            envelope: raw_leave({
                let mut b = leave_prefix();
                tag(4, 0, &mut b);
                varint(1, &mut b);
                tag(5, 0, &mut b);
                varint(2, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_epoch_wrong_wire_type",
            rule: "wire.md 3.1 rule 3: uint64 epoch as a length-delimited field",
            kind: "decode",
            envelope: raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                ld(2, &inp.mid, &mut b);
                ld(3, &[3], &mut b);
                tag(4, 0, &mut b);
                varint(1, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_repeated_singular_field",
            rule: "wire.md 3.1 rule 5: a singular scalar twice (leaf 1, then leaf 1 again)",
            kind: "decode",
            envelope: raw_leave({
                let mut b = leave_prefix();
                tag(4, 0, &mut b);
                varint(1, &mut b);
                tag(4, 0, &mut b);
                varint(1, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_truncated_content",
            rule: "wire.md 3.1 rule 1: the signed content ends inside the meeting id",
            kind: "decode",
            envelope: raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                tag(2, 2, &mut b);
                varint(inp.mid.len() as u64, &mut b);
                b.extend_from_slice(&inp.mid[..inp.mid.len() - 1]);
                b
            }),
        },
        Rejected {
            name: "announcement_participant_id_not_utf8",
            rule: "wire.md 3: a string field that is not valid UTF-8",
            kind: "decode",
            envelope: {
                let mut content = encode(&Announcement {
                    participant_id: String::new(),
                    ..inp.bob_announcement.clone()
                });
                ld(3, &[0x62, 0x6f, 0xff], &mut content);
                ann_env(sign(bob, labels::ANNOUNCEMENT, content))
            },
        },
        Rejected {
            name: "announcement_over_max_size",
            rule: "wire.md 2 step 3: the embedded announcement (SignedMessage) is over MAX_ANNOUNCEMENT_SIZE (2048) bytes (padding in unknown field 15)",
            kind: "decode",
            envelope: {
                let mut content = encode(&inp.bob_announcement);
                ld(15, &[0u8; 2048], &mut content);
                ann_env(sign(bob, labels::ANNOUNCEMENT, content))
            },
        },
        // ---- field rules (section 2 step 4, sections 4 and 5) ----
        Rejected {
            name: "leave_version_2",
            rule: "wire.md 4: version MUST equal PROTOCOL_VERSION (1)",
            kind: "invalid",
            envelope: leave_with(&|l| l.version = 2),
        },
        Rejected {
            name: "leave_empty_content",
            rule: "wire.md 5.2: content MUST be non-empty (an empty Leave has version 0)",
            kind: "invalid",
            envelope: leave_env(sign(bob, labels::LEAVE, vec![])),
        },
        Rejected {
            name: "leave_empty_meeting_id",
            rule: "wire.md 4: meeting_id of 0 bytes, below MIN_MEETING_ID_LEN (16): the length check comes before the comparison with the meeting's id",
            kind: "invalid",
            envelope: leave_with(&|l| l.meeting_id.clear()),
        },
        Rejected {
            name: "announcement_meeting_id_65_bytes",
            rule: "wire.md 4: meeting_id of 65 bytes, above MAX_MEETING_ID_LEN (64)",
            kind: "invalid",
            envelope: ann_with(&|a| a.meeting_id = vec![0x11; 65]),
        },
        Rejected {
            name: "announcement_version_0",
            rule: "wire.md 4: an absent version decodes as 0 and is rejected",
            kind: "invalid",
            envelope: ann_with(&|a| a.version = 0),
        },
        Rejected {
            name: "announcement_participant_id_empty",
            rule: "wire.md 5.3: participant_id of 0 bytes (1..=MAX_PARTICIPANT_ID_LEN)",
            kind: "invalid",
            envelope: ann_with(&|a| a.participant_id.clear()),
        },
        Rejected {
            name: "announcement_participant_id_65_bytes",
            rule: "wire.md 5.3: participant_id of 65 bytes, above MAX_PARTICIPANT_ID_LEN (64)",
            kind: "invalid",
            envelope: ann_with(&|a| a.participant_id = "p".repeat(65)),
        },
        Rejected {
            name: "announcement_no_hpke_keys",
            rule: "suites.md 4 step 1: 1..=MAX_SUITES HPKE keys",
            kind: "invalid",
            envelope: ann_with(&|a| a.hpke_keys.clear()),
        },
        Rejected {
            name: "announcement_suites_not_ascending",
            rule: "suites.md 4 step 1: hpke_keys in strictly ascending suite order (suite 1 twice)",
            kind: "invalid",
            envelope: ann_with(&|a| {
                let k = a.hpke_keys[0].clone();
                a.hpke_keys.push(k);
            }),
        },
        Rejected {
            name: "announcement_suite_0",
            rule: "suites.md 1: suite id 0 is reserved; a receiver MUST reject a message that carries it",
            kind: "invalid",
            envelope: ann_with(&|a| {
                a.hpke_keys.insert(
                    0,
                    SuiteKey {
                        suite: 0,
                        public_key: vec![0x04; 65],
                    },
                )
            }),
        },
        Rejected {
            name: "announcement_suite_1_key_not_on_curve",
            rule: "suites.md 2.3: a suite-1 HPKE key that is not a P-256 point (0x04 and 64 zero bytes)",
            kind: "invalid",
            envelope: ann_with(&|a| {
                let mut k = vec![0u8; 65];
                k[0] = 0x04;
                a.hpke_keys[0].public_key = k;
            }),
        },
        Rejected {
            name: "announcement_suite_1_key_64_bytes",
            rule: "suites.md 2.3: a suite-1 HPKE key that is not 65 bytes",
            kind: "invalid",
            envelope: ann_with(&|a| {
                a.hpke_keys[0].public_key.pop();
            }),
        },
        Rejected {
            name: "announcement_nonce_23_bytes",
            rule: "wire.md 4: liveness_nonce of 23 bytes (LIVENESS_NONCE_LEN is 24)",
            kind: "invalid",
            envelope: ann_with(&|a| {
                a.liveness_nonce.pop();
            }),
        },
        Rejected {
            name: "announcement_recent_heartbeat_31_bytes",
            rule: "wire.md 5.3: recent_heartbeat empty or exactly 32 bytes",
            kind: "invalid",
            envelope: ann_with(&|a| a.recent_heartbeat = vec![0x33; 31]),
        },
        Rejected {
            name: "liveness_transcript_hash_31_bytes",
            rule: "wire.md 4: transcript_hash of 31 bytes (HASH_LEN is 32)",
            kind: "invalid",
            envelope: liveness_with(&|l| {
                l.transcript_hash.pop();
            }),
        },
        Rejected {
            name: "liveness_nonce_25_bytes",
            rule: "wire.md 4: nonce of 25 bytes (LIVENESS_NONCE_LEN is 24)",
            kind: "invalid",
            envelope: liveness_with(&|l| l.nonce.push(0)),
        },
        // ---- meeting id (state-machine.md: a message of another meeting) ----
        Rejected {
            name: "leave_other_meeting",
            rule: "wire.md 4: a well-formed meeting_id that differs from the meeting's",
            kind: "wrong_meeting",
            envelope: leave_with(&|l| l.meeting_id = other_mid.clone()),
        },
        Rejected {
            name: "announcement_other_meeting",
            rule: "wire.md 4: a well-formed meeting_id that differs from the meeting's",
            kind: "wrong_meeting",
            envelope: ann_with(&|a| a.meeting_id = other_mid.clone()),
        },
        // ---- signatures (section 2 step 5, suites.md 2.2) ----
        Rejected {
            name: "leave_signature_bit_flipped",
            rule: "suites.md 2.2: the signature does not verify (one bit of r changed)",
            kind: "bad_signature",
            envelope: leave_env(flip_signature(&good_leave)),
        },
        Rejected {
            name: "leave_signature_63_bytes",
            rule: "suites.md 2.2: a signature that is not exactly 64 bytes",
            kind: "bad_signature",
            envelope: {
                let mut s = good_leave.clone();
                s.signature.pop();
                leave_env(s)
            },
        },
        Rejected {
            name: "leave_signed_by_another_member",
            rule: "suites.md 2.2: signed by erin's key, verified with leaf 1's (bob's)",
            kind: "bad_signature",
            envelope: leave_env(sign(&inp.erin, labels::LEAVE, encode(&leave))),
        },
        Rejected {
            name: "leave_wrong_label",
            rule: "key-schedule.md 3: signed under the label \"liveness\" instead of \"leave\"",
            kind: "bad_signature",
            envelope: leave_env(sign(bob, labels::LIVENESS, encode(&leave))),
        },
        Rejected {
            name: "announcement_signature_bit_flipped",
            rule: "suites.md 2.2: the announcement's self-signature does not verify",
            kind: "bad_signature",
            envelope: ann_env(flip_signature(&good_ann)),
        },
        Rejected {
            name: "announcement_identity_key_compressed",
            rule: "suites.md 2.2: an identity key that is not 65 bytes (33-byte compressed form)",
            kind: "bad_signature",
            envelope: ann_with(&|a| {
                let pk = PublicIdentity::from_bytes(&a.identity_key).unwrap();
                let full = pk.as_bytes();
                let mut c = vec![0x02 | (full[64] & 1)];
                c.extend_from_slice(&full[1..33]);
                a.identity_key = c;
            }),
        },
    ];
    // Keep the order stable and the names unique.
    let mut names: Vec<_> = out.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), out.len(), "duplicate rejected case name");
    out.shrink_to_fit();
    out
}

/// `cases.rejected[]` of messages.json.
pub fn generate(inp: &RejectedInputs) -> Value {
    json!(
        cases(inp)
            .into_iter()
            .map(|c| json!({
                "name": c.name,
                "rule": c.rule,
                "kind": c.kind,
                "envelope": h(&c.envelope),
            }))
            .collect::<Vec<_>>()
    )
}

/// The receiver of the rejected cases: alice leads `context.meeting_id`, bob holds leaf 1.
fn receiver(ctx: &Value) -> Meeting {
    let mid = hx(ctx, "meeting_id");
    let key = |name: &str| {
        let p = list(ctx, "participants")
            .iter()
            .find(|p| text(p, "name") == name)
            .unwrap();
        IdentityKey::from_secret_bytes(&hx(p, "identity_secret_key")).unwrap()
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0x5245_4a01);
    let config = MeetingConfig::default();
    let t0 = Duration::ZERO;
    let mut alice =
        Meeting::create(config.clone(), &mid, "alice", key("alice"), t0, &mut rng).expect("create");
    let mut bob = Meeting::join(config, &mid, "bob", key("bob"), t0, &mut rng).expect("join");
    while alice.poll_transmit().is_some() {}
    while let Some(t) = bob.poll_transmit() {
        alice
            .handle_message(&t.payload, t0, &mut rng)
            .expect("bob's announcement");
    }
    alice
        .handle_timeout(Duration::from_secs(1), &mut rng)
        .expect("commit");
    let bob_leaf = alice
        .participants()
        .iter()
        .find(|p| p.participant_id == "bob")
        .map(|p| p.leaf);
    assert_eq!(bob_leaf, Some(1), "bob holds leaf 1");
    while alice.poll_transmit().is_some() {}
    while alice.poll_event().is_some() {}
    alice
}

/// Delivers one rejected case to a fresh receiver; returns the error kind and whether the
/// receiver's state is unchanged (epoch, transcript, roster, nothing to send).
fn run(ctx: &Value, case: &Value) -> (String, bool) {
    let mut alice = receiver(ctx);
    let before = (alice.epoch(), alice.transcript_hash(), alice.participants());
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let result = alice.handle_message(&hx(case, "envelope"), Duration::from_secs(2), &mut rng);
    let after = (alice.epoch(), alice.transcript_hash(), alice.participants());
    let kind = match result {
        Ok(()) => "accepted".to_string(),
        Err(e) => kind(&e).to_string(),
    };
    let unchanged = before == after && alice.poll_transmit().is_none();
    (kind, unchanged)
}

/// Every rejected case not awaiting an engine change produces exactly its kind and changes
/// nothing.
pub fn verify(v: &Value) {
    let ctx = v.get("context").expect("context");
    let cases = list(&v["cases"], "rejected");
    assert!(cases.len() >= 30);
    for c in cases {
        let name = text(c, "name");
        if NEEDS_ENGINE_CHANGE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let (got, unchanged) = run(ctx, c);
        assert_eq!(got, text(c, "kind"), "{name}: {}", text(c, "rule"));
        assert!(
            unchanged,
            "{name}: a rejected envelope changed the receiver"
        );
    }
}

/// The cases awaiting an engine change (listed in `NEEDS_ENGINE_CHANGE`).
pub fn verify_pending(v: &Value) {
    let ctx = v.get("context").expect("context");
    let mut wrong = Vec::new();
    for c in list(&v["cases"], "rejected") {
        let name = text(c, "name");
        if let Some((_, change)) = NEEDS_ENGINE_CHANGE.iter().find(|(n, _)| *n == name) {
            let (got, unchanged) = run(ctx, c);
            if got != text(c, "kind") || !unchanged {
                wrong.push(format!(
                    "{name}: got {got}, expected {} (needs engine change: {change})",
                    text(c, "kind")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
