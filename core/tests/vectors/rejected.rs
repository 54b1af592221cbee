//! messages.json `cases.rejected[]`: envelopes a receiver MUST reject, each with the rule it
//! breaks and the error kind it must produce (`spec/wire.md` section 2.1). `rejected_engine.rs`
//! checks that the engine produces exactly that kind without changing its state.
//!
//! The receiver of every case is the leader (alice, leaf 0) of the meeting `context.meeting_id`
//! in which bob (identity key of `context`) holds leaf 1. Each case breaks exactly one rule: the
//! signed contents are re-signed by their signer after the change unless the signature is what
//! the case breaks.

use conclave_core::protocol::encode;
use conclave_core::protocol::v1::{
    Announcement, Envelope, Leave, LivenessNonce, SignedMessage, SuiteKey, envelope,
};
use conclave_core::schedule::labels;
use conclave_core::{IdentityKey, PublicIdentity};
use serde_json::{Value, json};

use super::h;
use super::message_vectors::RejectedInputs;

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

/// The inputs of the rejected cases, and the ways each case changes them.
struct Inputs<'a> {
    inp: &'a RejectedInputs,
}

impl Inputs<'_> {
    /// Bob's Leave of epoch 3 (leaf 1).
    fn leave(&self) -> Leave {
        Leave {
            version: 1,
            meeting_id: self.inp.mid.clone(),
            epoch: 3,
            leaf: 1,
            voted: false,
            transcript_hash: self.inp.bob_liveness.transcript_hash.clone(),
        }
    }

    fn good_leave(&self) -> SignedMessage {
        sign(&self.inp.bob, labels::LEAVE, encode(&self.leave()))
    }

    fn good_leave_env(&self) -> Vec<u8> {
        leave_env(self.good_leave())
    }

    fn good_ann(&self) -> SignedMessage {
        sign(
            &self.inp.bob,
            labels::ANNOUNCEMENT,
            encode(&self.inp.bob_announcement),
        )
    }

    fn good_ann_env(&self) -> Vec<u8> {
        ann_env(self.good_ann())
    }

    /// A Leave re-signed by bob after `f` changed it.
    fn leave_with(&self, f: &dyn Fn(&mut Leave)) -> Vec<u8> {
        let mut l = self.leave();
        f(&mut l);
        leave_env(sign(&self.inp.bob, labels::LEAVE, encode(&l)))
    }

    /// A Leave whose content is `raw` (hand-encoded), signed by bob.
    fn raw_leave(&self, raw: Vec<u8>) -> Vec<u8> {
        leave_env(sign(&self.inp.bob, labels::LEAVE, raw))
    }

    /// The Leave fields 1..3 in canonical form, to append a hand-encoded field 4 or 5 to.
    fn leave_prefix(&self) -> Vec<u8> {
        let mut b = Vec::new();
        tag(1, 0, &mut b);
        varint(1, &mut b);
        ld(2, &self.inp.mid, &mut b);
        tag(3, 0, &mut b);
        varint(3, &mut b);
        b
    }

    /// Bob's announcement re-signed by bob after `f` changed it.
    fn ann_with(&self, f: &dyn Fn(&mut Announcement)) -> Vec<u8> {
        let mut a = self.inp.bob_announcement.clone();
        f(&mut a);
        ann_env(sign(&self.inp.bob, labels::ANNOUNCEMENT, encode(&a)))
    }

    /// Bob's liveness nonce re-signed by bob after `f` changed it.
    fn liveness_with(&self, f: &dyn Fn(&mut LivenessNonce)) -> Vec<u8> {
        let mut l = self.inp.bob_liveness.clone();
        f(&mut l);
        env(envelope::Body::Liveness(sign(
            &self.inp.bob,
            labels::LIVENESS,
            encode(&l),
        )))
    }

    /// `s` with one bit of its signature's `r` flipped.
    fn flip_signature(&self, s: &SignedMessage) -> SignedMessage {
        let mut sig = s.signature.clone();
        sig[10] ^= 0x01;
        signed(s.content.clone(), sig)
    }

    /// A meeting id of the right length that is not the meeting's.
    fn other_mid(&self) -> Vec<u8> {
        self.inp.mid.iter().map(|b| b ^ 0xff).collect()
    }
}

/// Rejected cases: envelope framing (section 2 steps 1-2, section 3.1).
fn framing_cases(x: &Inputs) -> Vec<Rejected> {
    vec![
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
            envelope: [x.good_leave_env(), x.good_ann_env()].concat(),
        },
        Rejected {
            name: "envelope_body_twice",
            rule: "wire.md 3.1 rule 5: a singular field occurs at most once (the same leave twice)",
            kind: "decode",
            envelope: [x.good_leave_env(), x.good_leave_env()].concat(),
        },
        Rejected {
            name: "envelope_truncated_value",
            rule: "wire.md 3.1 rule 1: a value runs past the end (last byte of a valid envelope removed)",
            kind: "decode",
            envelope: x.good_leave_env()[..x.good_leave_env().len() - 1].to_vec(),
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
            envelope: [x.good_leave_env(), vec![0x7b]].concat(),
        },
        Rejected {
            name: "envelope_wire_type_7",
            rule: "wire.md 3.1 rule 1: wire type 7, on unknown field 15",
            kind: "decode",
            envelope: [x.good_leave_env(), vec![0x7f, 0x00]].concat(),
        },
        Rejected {
            name: "envelope_body_wrong_wire_type",
            rule: "wire.md 3.1 rule 3: body field 5 (a message) as a varint",
            kind: "decode",
            envelope: vec![0x28, 0x01],
        },
    ]
}

/// Rejected cases: signed content: strict decoding (section 2 step 3).
fn content_cases(x: &Inputs) -> Vec<Rejected> {
    vec![
        Rejected {
            name: "leave_varint_11_bytes",
            rule: "wire.md 3.1 rule 2: a varint of more than 10 bytes (version 1, zero-padded to 11 bytes)",
            kind: "decode",
            envelope: x.raw_leave({
                let mut b = vec![0x08];
                b.extend_from_slice(&[
                    0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                ]);
                ld(2, &x.inp.mid, &mut b);
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
            envelope: x.raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                ld(2, &x.inp.mid, &mut b);
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
            envelope: x.raw_leave({
                let mut b = x.leave_prefix();
                tag(4, 0, &mut b);
                varint(1 << 32, &mut b);
                b
            }),
        },
        Rejected {
            name: "leave_bool_2",
            rule: "wire.md 3.1 rule 4: a bool other than 0 or 1 (voted = 2)",
            kind: "decode",
            envelope: x.raw_leave({
                let mut b = x.leave_prefix();
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
            envelope: x.raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                ld(2, &x.inp.mid, &mut b);
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
            envelope: x.raw_leave({
                let mut b = x.leave_prefix();
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
            envelope: x.raw_leave({
                let mut b = Vec::new();
                tag(1, 0, &mut b);
                varint(1, &mut b);
                tag(2, 2, &mut b);
                varint(x.inp.mid.len() as u64, &mut b);
                b.extend_from_slice(&x.inp.mid[..x.inp.mid.len() - 1]);
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
                    ..x.inp.bob_announcement.clone()
                });
                ld(3, &[0x62, 0x6f, 0xff], &mut content);
                ann_env(sign(&x.inp.bob, labels::ANNOUNCEMENT, content))
            },
        },
        Rejected {
            name: "announcement_over_max_size",
            rule: "wire.md 2 step 3: the embedded announcement (SignedMessage) is over MAX_ANNOUNCEMENT_SIZE (2048) bytes (padding in unknown field 15)",
            kind: "decode",
            envelope: {
                let mut content = encode(&x.inp.bob_announcement);
                ld(15, &[0u8; 2048], &mut content);
                ann_env(sign(&x.inp.bob, labels::ANNOUNCEMENT, content))
            },
        },
    ]
}

/// Rejected cases: field rules (section 2 step 4, sections 4 and 5).
fn field_cases(x: &Inputs) -> Vec<Rejected> {
    vec![
        Rejected {
            name: "leave_version_2",
            rule: "wire.md 4: version MUST equal PROTOCOL_VERSION (1)",
            kind: "invalid",
            envelope: x.leave_with(&|l| l.version = 2),
        },
        Rejected {
            name: "leave_empty_content",
            rule: "wire.md 5.2: content MUST be non-empty (an empty Leave has version 0)",
            kind: "invalid",
            envelope: leave_env(sign(&x.inp.bob, labels::LEAVE, vec![])),
        },
        Rejected {
            name: "leave_empty_meeting_id",
            rule: "wire.md 4: meeting_id of 0 bytes, below MIN_MEETING_ID_LEN (16): the length check comes before the comparison with the meeting's id",
            kind: "invalid",
            envelope: x.leave_with(&|l| l.meeting_id.clear()),
        },
        Rejected {
            name: "announcement_meeting_id_65_bytes",
            rule: "wire.md 4: meeting_id of 65 bytes, above MAX_MEETING_ID_LEN (64)",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.meeting_id = vec![0x11; 65]),
        },
        Rejected {
            name: "announcement_version_0",
            rule: "wire.md 4: an absent version decodes as 0 and is rejected",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.version = 0),
        },
        Rejected {
            name: "announcement_participant_id_empty",
            rule: "wire.md 5.3: participant_id of 0 bytes (1..=MAX_PARTICIPANT_ID_LEN)",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.participant_id.clear()),
        },
        Rejected {
            name: "announcement_participant_id_65_bytes",
            rule: "wire.md 5.3: participant_id of 65 bytes, above MAX_PARTICIPANT_ID_LEN (64)",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.participant_id = "p".repeat(65)),
        },
        Rejected {
            name: "announcement_no_hpke_keys",
            rule: "suites.md 4 step 1: 1..=MAX_SUITES HPKE keys",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.hpke_keys.clear()),
        },
        Rejected {
            name: "announcement_suites_not_ascending",
            rule: "suites.md 4 step 1: hpke_keys in strictly ascending suite order (suite 1 twice)",
            kind: "invalid",
            envelope: x.ann_with(&|a| {
                let k = a.hpke_keys[0].clone();
                a.hpke_keys.push(k);
            }),
        },
        Rejected {
            name: "announcement_suite_0",
            rule: "suites.md 1: suite id 0 is reserved; a receiver MUST reject a message that carries it",
            kind: "invalid",
            envelope: x.ann_with(&|a| {
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
            envelope: x.ann_with(&|a| {
                let mut k = vec![0u8; 65];
                k[0] = 0x04;
                a.hpke_keys[0].public_key = k;
            }),
        },
        Rejected {
            name: "announcement_suite_1_key_64_bytes",
            rule: "suites.md 2.3: a suite-1 HPKE key that is not 65 bytes",
            kind: "invalid",
            envelope: x.ann_with(&|a| {
                a.hpke_keys[0].public_key.pop();
            }),
        },
        Rejected {
            name: "announcement_nonce_23_bytes",
            rule: "wire.md 4: liveness_nonce of 23 bytes (LIVENESS_NONCE_LEN is 24)",
            kind: "invalid",
            envelope: x.ann_with(&|a| {
                a.liveness_nonce.pop();
            }),
        },
        Rejected {
            name: "announcement_recent_heartbeat_31_bytes",
            rule: "wire.md 5.3: recent_heartbeat empty or exactly 32 bytes",
            kind: "invalid",
            envelope: x.ann_with(&|a| a.recent_heartbeat = vec![0x33; 31]),
        },
        Rejected {
            name: "liveness_transcript_hash_31_bytes",
            rule: "wire.md 4: transcript_hash of 31 bytes (HASH_LEN is 32)",
            kind: "invalid",
            envelope: x.liveness_with(&|l| {
                l.transcript_hash.pop();
            }),
        },
        Rejected {
            name: "liveness_nonce_25_bytes",
            rule: "wire.md 4: nonce of 25 bytes (LIVENESS_NONCE_LEN is 24)",
            kind: "invalid",
            envelope: x.liveness_with(&|l| l.nonce.push(0)),
        },
    ]
}

/// Rejected cases: meeting id (state-machine.md: a message of another meeting).
fn meeting_cases(x: &Inputs) -> Vec<Rejected> {
    vec![
        Rejected {
            name: "leave_other_meeting",
            rule: "wire.md 4: a well-formed meeting_id that differs from the meeting's",
            kind: "wrong_meeting",
            envelope: x.leave_with(&|l| l.meeting_id = x.other_mid()),
        },
        Rejected {
            name: "announcement_other_meeting",
            rule: "wire.md 4: a well-formed meeting_id that differs from the meeting's",
            kind: "wrong_meeting",
            envelope: x.ann_with(&|a| a.meeting_id = x.other_mid()),
        },
    ]
}

/// Rejected cases: signatures (section 2 step 5, suites.md 2.2).
fn signature_cases(x: &Inputs) -> Vec<Rejected> {
    vec![
        Rejected {
            name: "leave_signature_bit_flipped",
            rule: "suites.md 2.2: the signature does not verify (one bit of r changed)",
            kind: "bad_signature",
            envelope: leave_env(x.flip_signature(&x.good_leave())),
        },
        Rejected {
            name: "leave_signature_63_bytes",
            rule: "suites.md 2.2: a signature that is not exactly 64 bytes",
            kind: "bad_signature",
            envelope: {
                let mut s = x.good_leave();
                s.signature.pop();
                leave_env(s)
            },
        },
        Rejected {
            name: "leave_signed_by_another_member",
            rule: "suites.md 2.2: signed by erin's key, verified with leaf 1's (bob's)",
            kind: "bad_signature",
            envelope: leave_env(sign(&x.inp.erin, labels::LEAVE, encode(&x.leave()))),
        },
        Rejected {
            name: "leave_wrong_label",
            rule: "key-schedule.md 3: signed under the label \"liveness\" instead of \"leave\"",
            kind: "bad_signature",
            envelope: leave_env(sign(&x.inp.bob, labels::LIVENESS, encode(&x.leave()))),
        },
        Rejected {
            name: "announcement_signature_bit_flipped",
            rule: "suites.md 2.2: the announcement's self-signature does not verify",
            kind: "bad_signature",
            envelope: ann_env(x.flip_signature(&x.good_ann())),
        },
        Rejected {
            name: "announcement_identity_key_compressed",
            rule: "suites.md 2.2: an identity key that is not 65 bytes (33-byte compressed form)",
            kind: "bad_signature",
            envelope: x.ann_with(&|a| {
                let pk = PublicIdentity::from_bytes(&a.identity_key).unwrap();
                let full = pk.as_bytes();
                let mut c = vec![0x02 | (full[64] & 1)];
                c.extend_from_slice(&full[1..33]);
                a.identity_key = c;
            }),
        },
    ]
}

/// The rejected cases, in file order.
fn cases(inp: &RejectedInputs) -> Vec<Rejected> {
    let x = Inputs { inp };
    let out: Vec<Rejected> = [
        framing_cases(&x),
        content_cases(&x),
        field_cases(&x),
        meeting_cases(&x),
        signature_cases(&x),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut names: Vec<_> = out.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), out.len(), "duplicate rejected case name");
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
