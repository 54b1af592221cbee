//! Writes the seed corpora of the fuzz targets to `fuzz/corpus/<target>/` (or the directory
//! given as the first argument): the wire messages and frames of `spec/vectors/*.json`, real
//! envelopes captured from the engine target's own simulated meeting, and a few random inputs
//! for the structure-aware targets. Deterministic; existing files are overwritten, others kept.
//!
//! `cargo run --release --manifest-path fuzz/Cargo.toml --example seeds`

#[path = "common/mod.rs"]
mod common;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use conclave_core::sim::{InFlight, TapAction};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;

/// `decode_messages` selector of each message type (see that target).
fn selector(message: &str) -> Option<u8> {
    Some(match message {
        "Envelope" => 0,
        "SignedMessage" => 1,
        "Announcement" => 2,
        "Commit" => 3,
        "Welcome" => 4,
        "GroupInfo" => 5,
        "PathSecrets" => 6,
        "Heartbeat" => 7,
        "CommitBundle" => 8,
        "HeartbeatBundle" => 9,
        "Leave" => 10,
        "ResyncRequest" => 11,
        "LivenessNonce" => 12,
        "NodeUpdate" => 13,
        _ => return None,
    })
}

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        fs::write(dir.join(name), bytes).expect("write seed");
        self.count += 1;
    }
}

fn load(repo: &Path, file: &str) -> Value {
    let path = repo.join("spec/vectors").join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector JSON")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_default()).expect("hex")
}

/// Runs the engine target's meeting through joins, heartbeats, rotation, lock, removal and a
/// leave, recording every envelope the relay carries with its recipient.
fn capture() -> Vec<InFlight> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let mut s = common::engine_sim();
    // What is in flight at the target's starting point (dave's announcement).
    seen.borrow_mut().extend(s.in_flight.iter().cloned());
    let tap_seen = Rc::clone(&seen);
    s.tap = Some(Box::new(move |m| {
        tap_seen.borrow_mut().push(m.clone());
        TapAction::Deliver
    }));
    let step = Duration::from_secs(1);
    s.settle();
    s.advance(Duration::from_secs(12), step);
    let l = common::LEADER;
    let _ = s.act(l, |m, now, _| m.rotate(now));
    s.settle();
    let _ = s.act(l, |m, now, _| m.lock(true, now));
    s.settle();
    let _ = s.act(l, |m, now, _| m.lock(false, now));
    s.advance(Duration::from_secs(11), step);
    let _ = s.act(l, |m, now, _| m.remove(common::MEMBER2, now));
    s.settle();
    let _ = s.act(common::MEMBER, |m, now, rng| m.leave(now, rng));
    s.advance(Duration::from_secs(11), step);
    let _ = s.act(l, |m, now, _| m.hand_over(common::JOINER, now));
    s.advance(Duration::from_secs(11), step);
    seen.take()
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("fuzz/corpus"));
    let mut out = Out { root, count: 0 };

    // Wire messages of the spec.
    let messages = load(&repo, "messages.json");
    let mut envelopes = Vec::new();
    for m in messages["cases"]["messages"].as_array().expect("messages") {
        let name = m["name"].as_str().expect("name");
        let kind = m["message"].as_str().expect("message");
        let bytes = hex_field(m, "encoded");
        if let Some(sel) = selector(kind) {
            let mut seed = vec![sel];
            seed.extend_from_slice(&bytes);
            out.write("decode_messages", &format!("vec-{name}"), &seed);
        }
        if kind == "Envelope" {
            out.write("decode_envelope", &format!("vec-{name}"), &bytes);
            envelopes.push((name.to_string(), bytes));
        }
    }
    for (name, bytes) in &envelopes {
        let mut seed = vec![0x03];
        seed.extend_from_slice(&common::join_messages([bytes.as_slice()]));
        out.write("engine_input", &format!("vec-{name}"), &seed);
    }

    // Real envelopes of the engine target's meeting, addressed as the relay addressed them.
    for (i, m) in capture().iter().enumerate() {
        if m.payload.len() > usize::from(u16::MAX) {
            continue;
        }
        out.write("decode_envelope", &format!("sim-{i:03}"), &m.payload);
        let mut seed = vec![0u8];
        seed.extend_from_slice(&m.payload);
        out.write("decode_messages", &format!("sim-{i:03}"), &seed);
        let to = match m.to.as_str() {
            common::LEADER => 0u8,
            common::MEMBER | common::MEMBER2 => 1,
            _ => 2,
        };
        // Deliver alone, and after the honest traffic in flight with timers 10 s later.
        let one = common::join_messages([m.payload.as_slice()]);
        let mut seed = vec![to];
        seed.extend_from_slice(&one);
        out.write("engine_input", &format!("sim-{i:03}"), &seed);
        let mut seed = vec![to | 0x40 | (10 << 2)];
        seed.extend_from_slice(&one);
        out.write("engine_input", &format!("sim-{i:03}-late"), &seed);
    }

    // Frames of the spec: raw mode (even first byte).
    let frames = load(&repo, "frames.json");
    for (i, c) in frames["cases"]
        .as_array()
        .expect("frames")
        .iter()
        .enumerate()
    {
        let mut seed = vec![0u8];
        seed.extend_from_slice(&hex_field(c, "frame"));
        out.write("frame_decrypt", &format!("vec-{i:02}"), &seed);
        // Codec frames: [codec index in Codec::ALL, byte to flip, frame].
        let codecs = ["opus", "vp8", "vp9", "h264", "h264-avcc", "h265", "av1"];
        if let Some(k) = codecs.iter().position(|n| Some(*n) == c["codec"].as_str()) {
            let mut seed = vec![k as u8, i as u8];
            seed.extend_from_slice(&hex_field(c, "plaintext"));
            out.write("frame_codec", &format!("vec-{i:02}"), &seed);
        }
    }

    // Random inputs for the structure-aware targets (and the structured frame mode).
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    for (target, first, lens) in [
        ("frame_decrypt", Some(1u8), &[16usize, 64, 200][..]),
        ("merkle_proof", None, &[8, 64, 300, 1200][..]),
        ("identity_verify", None, &[16, 100, 200][..]),
        ("sim_ops", None, &[16, 64, 128, 256, 512][..]),
    ] {
        for (i, &len) in lens.iter().enumerate() {
            let mut seed = vec![0u8; len];
            rng.fill_bytes(&mut seed);
            if let Some(f) = first {
                seed[0] = f;
            }
            out.write(target, &format!("rand-{i}"), &seed);
        }
    }
    // Identity keys of the spec, as the key bytes of identity_verify are arbitrary-decoded:
    // also the plain 65-byte key, which exercises from_bytes through the length prefix.
    let identity = load(&repo, "identity.json");
    for (i, k) in identity["cases"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
    {
        out.write(
            "identity_verify",
            &format!("vec-key-{i}"),
            &hex_field(k, "public_key"),
        );
    }
    eprintln!("wrote {} seeds under {}", out.count, out.root.display());
}
