//! Protocol test vectors (`spec/vectors/*.json`, described in `spec/vectors/README.md`).
//!
//! Each generator is deterministic (fixed inputs and recorded `ChaCha20Rng::seed_from_u64` seeds).
//! With `CONCLAVE_REGENERATE_VECTORS=1` the tests write the files; otherwise each test asserts that
//! the committed file is byte-identical to the generator's output. Independently of that, each
//! test re-checks every case from the committed file's own values, mostly against a second,
//! minimal implementation of `spec/key-schedule.md` written here from the spec text (module
//! [`spec`]), so that the files are self-validating.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

#[path = "common/fixed_rng.rs"]
mod fixed_rng;
use fixed_rng::FixedRng;

#[path = "vectors/hpke.rs"]
mod hpke_vectors;
#[path = "vectors/identity.rs"]
mod identity_vectors;
#[path = "vectors/key_schedule.rs"]
mod key_schedule_vectors;
#[path = "vectors/merkle.rs"]
mod merkle_vectors;
#[path = "vectors/messages.rs"]
mod message_vectors;
#[path = "vectors/rejected_engine.rs"]
mod rejected_engine;
#[path = "vectors/rejected.rs"]
mod rejected_vectors;
#[path = "vectors/rfc9180.rs"]
mod rfc9180_vectors;
#[path = "vectors/spec.rs"]
mod spec;
#[path = "vectors/transcript.rs"]
mod transcript_vectors;
#[path = "vectors/tree.rs"]
mod tree_vectors;

/// Directory of the committed vector files.
fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/"))
}

fn regenerate() -> bool {
    std::env::var("CONCLAVE_REGENERATE_VECTORS").is_ok_and(|v| v == "1")
}

/// Pretty JSON with a trailing newline. `serde_json::Map` keeps keys sorted, so the key order is
/// stable.
fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("vectors serialize");
    s.push('\n');
    s
}

/// Writes `generated` to `name` when regenerating; then asserts that the committed file is
/// byte-identical to the generator's output and returns the committed file, parsed.
fn sync(name: &str, generated: &Value) -> Value {
    let path = vectors_dir().join(name);
    let text = render(generated);
    if regenerate() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (run with CONCLAVE_REGENERATE_VECTORS=1 to create it)",
            path.display()
        )
    });
    if committed != text {
        let line = committed
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(text.lines().count()));
        panic!(
            "{name} differs from the generator's output (first difference at line {}); \
             regenerate with CONCLAVE_REGENERATE_VECTORS=1 only if the change is intended",
            line + 1
        );
    }
    serde_json::from_str(&committed).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// The top-level object every file shares.
fn file(description: &str, extra: Vec<(&str, Value)>, cases: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), json!(description));
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    let mut c = Map::new();
    for (k, v) in cases {
        c.insert(k.into(), v);
    }
    m.insert("cases".into(), Value::Object(c));
    Value::Object(m)
}

// ---- JSON access helpers (panic with the field name on malformed files) ----

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("missing field {key:?} in {v}"))
}

/// A hex-encoded byte string field.
fn hx(v: &Value, key: &str) -> Vec<u8> {
    let s = field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string"));
    hex::decode(s).unwrap_or_else(|e| panic!("{key:?} is not hex: {e}"))
}

fn hx32(v: &Value, key: &str) -> [u8; 32] {
    hx(v, key)
        .try_into()
        .unwrap_or_else(|_| panic!("{key:?} is not 32 bytes"))
}

fn num(v: &Value, key: &str) -> u64 {
    field(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key:?} is not an unsigned integer"))
}

fn num32(v: &Value, key: &str) -> u32 {
    u32::try_from(num(v, key)).unwrap_or_else(|_| panic!("{key:?} exceeds u32"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string"))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    field(v, key)
        .as_array()
        .unwrap_or_else(|| panic!("{key:?} is not an array"))
}

fn u32s(v: &Value, key: &str) -> Vec<u32> {
    list(v, key)
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("integer")).expect("u32"))
        .collect()
}

fn h(b: impl AsRef<[u8]>) -> Value {
    Value::String(hex::encode(b))
}

/// Deterministic bytes `start, start+1, ...` (wrapping).
fn seq_bytes(start: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| start.wrapping_add(i as u8)).collect()
}

fn rand_bytes<R: rand_core::Rng>(rng: &mut R, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    rng.fill_bytes(&mut b);
    b
}

fn rand32<R: rand_core::Rng>(rng: &mut R) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

#[test]
fn key_schedule_json() {
    let committed = sync("key-schedule.json", &key_schedule_vectors::generate());
    key_schedule_vectors::verify(&committed);
}

#[test]
fn transcript_json() {
    let committed = sync("transcript.json", &transcript_vectors::generate());
    transcript_vectors::verify(&committed);
}

#[test]
fn security_code_json() {
    let committed = sync(
        "security-code.json",
        &transcript_vectors::generate_security_code(),
    );
    transcript_vectors::verify_security_code(&committed);
}

#[test]
fn identity_json() {
    let committed = sync("identity.json", &identity_vectors::generate());
    identity_vectors::verify(&committed);
}

#[test]
fn hpke_json() {
    let committed = sync("hpke.json", &hpke_vectors::generate());
    hpke_vectors::verify(&committed);
}

#[test]
fn rfc9180_json() {
    let committed = sync("rfc9180.json", &rfc9180_vectors::generate());
    rfc9180_vectors::verify(&committed);
}

#[test]
fn tree_json() {
    let committed = sync("tree.json", &tree_vectors::generate());
    tree_vectors::verify(&committed);
}

#[test]
fn merkle_json() {
    let committed = sync("merkle.json", &merkle_vectors::generate());
    merkle_vectors::verify(&committed);
}

#[test]
fn messages_json() {
    let committed = sync("messages.json", &message_vectors::generate());
    message_vectors::verify(&committed);
}

/// messages.json `cases.rejected[]`: the engine rejects each envelope with exactly its kind.
#[test]
fn messages_json_rejected_cases_produce_their_kind() {
    let committed = sync("messages.json", &message_vectors::generate());
    rejected_engine::verify(&committed);
}
