//! Regression tests from fuzzing (see `FUZZING.md`).
//!
//! Every file under `tests/fuzz_regressions/engine_input/` is a minimised crash of the
//! `engine_input` fuzz target and is replayed through the very same harness
//! (`fuzz/common/mod.rs`, shared with the fuzzers). Findings of the other targets are written
//! out below as hex literals with the property the target checks.

use std::path::Path;

use conclave_protocol::v1 as pb;
use conclave_protocol::{MessageKind, decode_bounded, encode};

#[path = "../../fuzz/common/mod.rs"]
mod common;

fn reproducers(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_file() && path.extension().is_none_or(|x| x != "md") {
                let bytes = std::fs::read(&path).expect("read reproducer");
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn engine_input_reproducers() {
    for (name, bytes) in reproducers("engine_input") {
        eprintln!("replaying {name}");
        common::engine_input(&bytes);
    }
}

/// Inputs the harness must take in its stride: nothing, flags only, garbage at every
/// recipient, a truncated length prefix.
#[test]
fn engine_input_edge_cases() {
    common::engine_input(b"");
    common::engine_input(&[0xff]);
    common::engine_input(&[0x03, 0x00, 0x04, 0x0a, 0x02, 0x0a, 0x00]);
    common::engine_input(&[0xc3, 0xff, 0xff, 0x12, 0x00]);
}

/// decode_messages, first run: a `Commit` whose `reason` enum is a 5-byte varint
/// (0xFFFFFFFF). prost would truncate it to -1 and re-encode -1 in the canonical 10-byte
/// form. Strict decoding (spec/wire.md section 3) rejects it: an enum varint read as a 64-bit
/// two's-complement integer must be in the int32 range; -1 itself, sign-extended, decodes and
/// round-trips.
#[test]
fn decode_commit_short_negative_enum_is_rejected() {
    let input = hex::decode(
        "08011001 1a20181a327afed920032a20393e265403c8e1e42a4bd7997d338b003b15d6673735\
         38eff1efefefefefef29"
            .replace(' ', ""),
    )
    .expect("hex");
    let r = decode_bounded::<pb::Commit>(MessageKind::Commit, &input, usize::MAX);
    assert_eq!(
        r,
        Err(conclave_protocol::DecodeError::Invalid {
            kind: MessageKind::Commit,
            message: "Commit",
            field: 7,
            rule: conclave_protocol::WireRule::OutOfRange,
        })
    );
    // The same commit with reason -1 in its canonical (sign-extended, 10-byte) form.
    let mut canonical = input.get(..38).expect("prefix").to_vec();
    canonical.push(0x38);
    canonical.extend_from_slice(&[0xff; 9]);
    canonical.push(0x01);
    let m: pb::Commit = decode_bounded(MessageKind::Commit, &canonical, usize::MAX).unwrap();
    assert_eq!(m.reason, -1);
    assert_eq!(encode(&m), canonical);
}
