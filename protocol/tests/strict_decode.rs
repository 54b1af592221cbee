//! Strict decoding (spec/wire.md section 3): what `decode_bounded` rejects before prost
//! decodes, and that every valid message still decodes.
// Populated messages end in `..Default::default()` so that they keep compiling as the schema
// gains fields.
#![allow(clippy::needless_update)]

use conclave_protocol::limits::{
    MAX_ENVELOPE_SIZE, MAX_NODE_UPDATES, MAX_PARTICIPANTS, MAX_PATH_NODES, MAX_PROOF_HASHES,
    MAX_SUITES,
};
use conclave_protocol::v1::{self as pb, envelope::Body};
use conclave_protocol::{
    CheckedMessage, DecodeError, MessageKind, WireRule, check_strict, decode_bounded, encode,
};
use proptest::prelude::*;

// --- Raw protobuf writing -----------------------------------------------------------------

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(field: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3 | u64::from(wire), out);
}

fn vfield(field: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    tag(field, 0, &mut out);
    varint(v, &mut out);
    out
}

fn lfield(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    tag(field, 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn repeat(entry: &[u8], n: usize) -> Vec<u8> {
    entry.repeat(n)
}

fn decode<M: CheckedMessage>(bytes: &[u8]) -> Result<M, DecodeError> {
    decode_bounded(MessageKind::Envelope, bytes, MAX_ENVELOPE_SIZE)
}

fn invalid(message: &'static str, field: u32, rule: WireRule) -> DecodeError {
    DecodeError::Invalid {
        kind: MessageKind::Envelope,
        message,
        field,
        rule,
    }
}

fn signed() -> Vec<u8> {
    [lfield(1, b"content"), lfield(2, &[7; 64])].concat()
}

/// A repeated field's empty entry, its message and field number, its limit, and a decoder.
type Case = (
    Vec<u8>,
    &'static str,
    u32,
    usize,
    fn(&[u8]) -> Result<(), DecodeError>,
);

// --- Rules ----------------------------------------------------------------------------------

#[test]
fn two_bodies_in_one_envelope_are_rejected() {
    let leave = lfield(5, &signed());
    let announcement = lfield(1, &signed());
    assert!(decode::<pb::Envelope>(&leave).is_ok());
    let both = [leave.clone(), announcement.clone()].concat();
    assert_eq!(
        decode::<pb::Envelope>(&both),
        Err(invalid("Envelope", 1, WireRule::OneofConflict))
    );
    // The same body twice is a repeated singular field, not a merge.
    let twice = [leave.clone(), leave].concat();
    assert_eq!(
        decode::<pb::Envelope>(&twice),
        Err(invalid("Envelope", 5, WireRule::Duplicate))
    );
}

#[test]
fn duplicate_singular_fields_are_rejected() {
    let commit = [vfield(1, 1), vfield(1, 1)].concat();
    assert_eq!(
        decode::<pb::Commit>(&commit),
        Err(invalid("Commit", 1, WireRule::Duplicate))
    );
    // Even with a default value, and for bytes.
    let bytes = [lfield(3, b"a"), lfield(3, b"")].concat();
    assert_eq!(
        decode::<pb::Commit>(&bytes),
        Err(invalid("Commit", 3, WireRule::Duplicate))
    );
    // A singular message field twice, nested: rejected rather than merged.
    let bundle = [lfield(1, &signed()), lfield(1, &lfield(2, &[1; 64]))].concat();
    assert_eq!(
        decode::<pb::Envelope>(&lfield(2, &bundle)),
        Err(invalid("CommitBundle", 1, WireRule::Duplicate))
    );
}

#[test]
fn thirty_two_bit_fields_are_range_checked() {
    // uint32: 2^32 - 1 decodes, 2^32 is rejected, not truncated to 0.
    let ok: pb::Commit = decode(&vfield(11, u64::from(u32::MAX))).unwrap();
    assert_eq!(ok.leaf_count, u32::MAX);
    assert_eq!(
        decode::<pb::Commit>(&vfield(11, 1 << 32)),
        Err(invalid("Commit", 11, WireRule::OutOfRange))
    );
    assert_eq!(
        decode::<pb::Commit>(&vfield(1, u64::MAX)),
        Err(invalid("Commit", 1, WireRule::OutOfRange))
    );
    // Enum (int32): a negative value sign-extended to 64 bits is in range; 2^31 is not.
    let neg: pb::Commit = decode(&vfield(7, (-1i64) as u64)).unwrap();
    assert_eq!(neg.reason, -1);
    let min: pb::Commit = decode(&vfield(7, i64::from(i32::MIN) as u64)).unwrap();
    assert_eq!(min.reason, i32::MIN);
    assert_eq!(
        decode::<pb::Commit>(&vfield(7, 1 << 31)),
        Err(invalid("Commit", 7, WireRule::OutOfRange))
    );
    assert_eq!(
        decode::<pb::Commit>(&vfield(7, (i64::from(i32::MIN) - 1) as u64)),
        Err(invalid("Commit", 7, WireRule::OutOfRange))
    );
    // uint64 takes all 64 bits.
    let wide: pb::Commit = decode(&vfield(4, u64::MAX)).unwrap();
    assert_eq!(wide.epoch, u64::MAX);
}

#[test]
fn varints_longer_than_ten_bytes_or_over_64_bits_are_rejected() {
    // 11 bytes (a redundant continuation) for uint64 epoch.
    let mut long = vec![4 << 3];
    long.extend_from_slice(&[0x80; 10]);
    long.push(0);
    assert_eq!(
        decode::<pb::Commit>(&long),
        Err(invalid("Commit", 4, WireRule::VarintTooLong))
    );
    // 10 bytes whose last carries more than the 64th bit.
    let mut over = vec![4 << 3];
    over.extend_from_slice(&[0xff; 9]);
    over.push(0x02);
    assert_eq!(
        decode::<pb::Commit>(&over),
        Err(invalid("Commit", 4, WireRule::VarintTooLong))
    );
    // A redundant but short (<= 10 bytes) encoding is accepted: 1 in three bytes.
    let padded: pb::Commit = decode(&[4 << 3, 0x81, 0x80, 0x00]).unwrap();
    assert_eq!(padded.epoch, 1);
}

#[test]
fn bool_must_be_zero_or_one() {
    let t: pb::Commit = decode(&vfield(10, 1)).unwrap();
    assert!(t.locked);
    assert_eq!(
        decode::<pb::Commit>(&vfield(10, 2)),
        Err(invalid("Commit", 10, WireRule::NotBool))
    );
}

#[test]
fn wrong_wire_types_are_rejected() {
    // uint32 sent length-delimited.
    assert_eq!(
        decode::<pb::Commit>(&lfield(1, &[1])),
        Err(invalid(
            "Commit",
            1,
            WireRule::WrongWireType {
                expected: 0,
                found: 2
            }
        ))
    );
    // A message field sent as a varint.
    assert_eq!(
        decode::<pb::Envelope>(&vfield(2, 0)),
        Err(invalid(
            "Envelope",
            2,
            WireRule::WrongWireType {
                expected: 2,
                found: 0
            }
        ))
    );
    // bytes sent as fixed32.
    let mut fixed = Vec::new();
    tag(3, 5, &mut fixed);
    fixed.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode::<pb::Commit>(&fixed),
        Err(invalid(
            "Commit",
            3,
            WireRule::WrongWireType {
                expected: 2,
                found: 5
            }
        ))
    );
}

#[test]
fn repeated_fields_over_their_limit_are_rejected() {
    // CommitBundle.updates: MAX_NODE_UPDATES empty entries decode, one more does not.
    let at_limit = repeat(&[0x12, 0x00], MAX_NODE_UPDATES);
    let b: pb::CommitBundle = decode(&at_limit).unwrap();
    assert_eq!(b.updates.len(), MAX_NODE_UPDATES);
    let over = repeat(&[0x12, 0x00], MAX_NODE_UPDATES + 1);
    let err = invalid(
        "CommitBundle",
        2,
        WireRule::TooMany {
            max: MAX_NODE_UPDATES,
        },
    );
    assert_eq!(decode::<pb::CommitBundle>(&over), Err(err.clone()));
    // The security finding's case: ~2 million empty updates in one 4 MiB envelope.
    let bomb = lfield(2, &repeat(&[0x12, 0x00], 2_000_000));
    assert!(bomb.len() < MAX_ENVELOPE_SIZE);
    assert_eq!(decode::<pb::Envelope>(&bomb), Err(err));

    let cases: [Case; 7] = [
        (vec![0x1a, 0x00], "CommitBundle", 3, MAX_PROOF_HASHES, |b| {
            decode::<pb::CommitBundle>(b).map(drop)
        }),
        (
            vec![0x1a, 0x00],
            "HeartbeatBundle",
            3,
            MAX_PROOF_HASHES,
            |b| decode::<pb::HeartbeatBundle>(b).map(drop),
        ),
        (
            vec![0x12, 0x00],
            "HeartbeatBundle",
            2,
            MAX_PARTICIPANTS,
            |b| decode::<pb::HeartbeatBundle>(b).map(drop),
        ),
        (vec![0x2a, 0x00], "Announcement", 5, MAX_SUITES, |b| {
            decode::<pb::Announcement>(b).map(drop)
        }),
        (vec![0x42, 0x00], "Commit", 8, MAX_PARTICIPANTS, |b| {
            decode::<pb::Commit>(b).map(drop)
        }),
        (vec![0x12, 0x00], "PathSecrets", 2, MAX_PATH_NODES, |b| {
            decode::<pb::PathSecrets>(b).map(drop)
        }),
        (vec![0x4a, 0x00], "GroupInfo", 9, MAX_PARTICIPANTS, |b| {
            decode::<pb::GroupInfo>(b).map(drop)
        }),
    ];
    for (entry, message, field, max, dec) in cases {
        assert_eq!(
            dec(&repeat(&entry, max)),
            Ok(()),
            "{message}.{field} at its limit"
        );
        assert_eq!(
            dec(&repeat(&entry, max + 1)),
            Err(invalid(message, field, WireRule::TooMany { max })),
            "{message}.{field} over its limit"
        );
    }
    // Commit.adds too.
    assert!(decode::<pb::Commit>(&repeat(&[0x4a, 0x00], MAX_PARTICIPANTS)).is_ok());
    assert!(decode::<pb::Commit>(&repeat(&[0x4a, 0x00], MAX_PARTICIPANTS + 1)).is_err());
}

#[test]
fn unknown_fields_are_skipped_but_groups_are_not() {
    let mut unknown = vfield(1, 1);
    unknown.extend(vfield(99, 5));
    unknown.extend(lfield(100, &[1, 2, 3]));
    tag(101, 1, &mut unknown);
    unknown.extend_from_slice(&[0; 8]);
    tag(102, 5, &mut unknown);
    unknown.extend_from_slice(&[0; 4]);
    // Unknown fields may repeat, and are not range-checked.
    unknown.extend(vfield(99, u64::MAX));
    let l: pb::Leave = decode(&unknown).unwrap();
    assert_eq!(l.version, 1);
    for wire in [3u8, 4, 6, 7] {
        let mut g = Vec::new();
        tag(99, wire, &mut g);
        assert_eq!(
            decode::<pb::Leave>(&g),
            Err(invalid("Leave", 99, WireRule::UnsupportedWireType(wire)))
        );
    }
}

#[test]
fn framing_errors_are_rejected() {
    assert_eq!(
        decode::<pb::Leave>(&[0x00, 0x01]),
        Err(invalid("Leave", 0, WireRule::InvalidTag))
    );
    assert_eq!(
        decode::<pb::Leave>(&[0x12, 0x05, 1, 2]),
        Err(invalid("Leave", 2, WireRule::Truncated))
    );
    assert_eq!(
        decode::<pb::Leave>(&[0x08]),
        Err(invalid("Leave", 1, WireRule::Truncated))
    );
    // A tag over 32 bits.
    let mut big = Vec::new();
    varint(1 << 35, &mut big);
    big.push(0);
    assert_eq!(
        decode::<pb::Leave>(&big),
        Err(invalid("Leave", 0, WireRule::InvalidTag))
    );
}

#[test]
fn errors_name_the_message_field_and_rule() {
    let e = decode::<pb::Envelope>(&[lfield(5, &[]), lfield(7, &[])].concat()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Envelope: Envelope field 7: second member of a oneof"
    );
}

#[test]
fn inner_content_is_not_walked() {
    // SignedMessage.content holding bytes that are not a valid message of any kind.
    let env = lfield(5, &lfield(1, &[0xff, 0xff, 0xff]));
    let e: pb::Envelope = decode(&env).unwrap();
    let Some(Body::Leave(s)) = e.body else {
        panic!("leave body")
    };
    assert!(decode::<pb::Leave>(&s.content).is_err());
}

// --- Random input ---------------------------------------------------------------------------

/// A random field: number 0..=20 (0 is invalid, above 15 unknown to every message), any wire
/// type, a value fitting it (or not) and sometimes a nested random message.
fn raw_field() -> impl Strategy<Value = Vec<u8>> {
    let leaf = (
        0u32..=20,
        0u8..8,
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(f, w, v, bytes)| {
            let mut out = Vec::new();
            tag(f, w, &mut out);
            match w {
                0 => varint(
                    v % [2, 1 << 32, u64::MAX][(v % 3) as usize].max(1),
                    &mut out,
                ),
                1 => out.extend_from_slice(&v.to_le_bytes()),
                2 => {
                    varint(bytes.len() as u64, &mut out);
                    out.extend_from_slice(&bytes);
                }
                5 => out.extend_from_slice(&v.to_le_bytes()[..4]),
                _ => {}
            }
            out
        });
    leaf.prop_recursive(3, 64, 6, |inner| {
        (1u32..=15, proptest::collection::vec(inner, 0..6))
            .prop_map(|(f, fields)| lfield(f, &fields.concat()))
    })
}

fn accepted_round_trips<M: CheckedMessage + PartialEq + core::fmt::Debug>(bytes: &[u8]) {
    if let Ok(m) = decode::<M>(bytes) {
        let once = encode(&m);
        let again: M = decode(&once).expect("a re-encoded accepted message decodes");
        assert_eq!(again, m);
    }
}

fn all_types(bytes: &[u8]) {
    accepted_round_trips::<pb::Envelope>(bytes);
    accepted_round_trips::<pb::SignedMessage>(bytes);
    accepted_round_trips::<pb::Announcement>(bytes);
    accepted_round_trips::<pb::Commit>(bytes);
    accepted_round_trips::<pb::CommitBundle>(bytes);
    accepted_round_trips::<pb::Welcome>(bytes);
    accepted_round_trips::<pb::PathSecrets>(bytes);
    accepted_round_trips::<pb::GroupInfo>(bytes);
    accepted_round_trips::<pb::Heartbeat>(bytes);
    accepted_round_trips::<pb::HeartbeatBundle>(bytes);
    accepted_round_trips::<pb::Leave>(bytes);
    accepted_round_trips::<pb::ResyncRequest>(bytes);
    accepted_round_trips::<pb::LivenessNonce>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        all_types(&bytes);
    }

    #[test]
    fn random_fields_never_panic(fields in proptest::collection::vec(raw_field(), 0..12)) {
        all_types(&fields.concat());
    }

    /// What the check accepts, prost decodes; and a message's canonical encoding passes.
    #[test]
    fn accepted_input_decodes(fields in proptest::collection::vec(raw_field(), 0..12)) {
        let bytes = fields.concat();
        if check_strict::<pb::Commit>(MessageKind::Commit, &bytes).is_ok() {
            let m: pb::Commit = decode(&bytes).unwrap();
            prop_assert_eq!(decode::<pb::Commit>(&encode(&m)), Ok(m));
        }
    }
}
