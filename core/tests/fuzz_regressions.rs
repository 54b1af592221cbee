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
/// (0xFFFFFFFF = -1 as int32). prost accepts it and re-encodes -1 in the canonical 10-byte
/// form, so re-encoding may grow the message (the harness assumed it never does). What must
/// hold, and does: decoding never panics and decode(encode(m)) == m with a stable encoding.
#[test]
fn decode_commit_short_negative_enum_round_trips() {
    let input = hex::decode(
        "08011001 1a20181a327afed920032a20393e265403c8e1e42a4bd7997d338b003b15d6673735\
         38eff1efefefefefef29"
            .replace(' ', ""),
    )
    .expect("hex");
    let m: pb::Commit = decode_bounded(MessageKind::Commit, &input, usize::MAX).expect("decodes");
    let once = encode(&m);
    assert_eq!(
        once.len(),
        input.len() + 1,
        "the enum grew from 9 to 10 bytes"
    );
    let again: pb::Commit = decode_bounded(MessageKind::Commit, &once, usize::MAX).unwrap();
    assert_eq!(again, m);
    assert_eq!(encode(&again), once);
}
