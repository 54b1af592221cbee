//! transcript.json (transcript hash chain, heartbeat hash) and security-code.json (security
//! code and fingerprint rendering).

use conclave_core::IdentityKey;
use conclave_core::protocol::v1::{Add, Commit, CommitReason, Heartbeat, Remove, RemoveReason};
use conclave_core::protocol::{MessageKind, decode_bounded, encode, limits};
use conclave_core::schedule::{
    fingerprint, heartbeat_hash, render_fingerprint, render_security_code, transcript_init,
    transcript_next,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::{file, h, hx, hx32, list, num, rand_bytes, rand32, seq_bytes, spec, text};

const SEED: u64 = 0x5452_0001;
const CODE_SEED: u64 = 0x5343_0001;

/// The meeting of the transcript chain.
const CHAIN_MEETING: &[u8] = b"conclave-vectors-transcript";

fn commit(epoch: u64, prev: &[u8; 32], reason: CommitReason, leaf_count: u32) -> Commit {
    Commit {
        version: 1,
        suite: 1,
        meeting_id: CHAIN_MEETING.to_vec(),
        epoch,
        prev_transcript_hash: prev.to_vec(),
        leader_leaf: 0,
        reason: reason as i32,
        removes: vec![],
        adds: vec![],
        locked: false,
        leaf_count,
        updates_root: conclave_core::merkle::empty().to_vec(),
        update_count: 0,
        rebuild: false,
        votes: vec![],
        stable_heartbeat: None,
    }
}

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut init_cases = Vec::new();
    for mid in [
        CHAIN_MEETING.to_vec(),
        seq_bytes(0, 16),
        seq_bytes(0xc0, 64),
        rand_bytes(&mut rng, 32),
    ] {
        init_cases.push(json!({
            "meeting_id": h(&mid),
            "labeled_content": h(spec::labeled_content("transcript init", &spec::vec(&mid))),
            "transcript_hash": h(transcript_init(&mid)),
        }));
    }

    // A chain of three commits: create, an add (with a placeholder announcement blob: the
    // transcript hashes the content bytes whatever they hold) and a remove.
    let init = transcript_init(CHAIN_MEETING);
    let mut prev = init;
    let mut commits = Vec::new();
    for epoch in 1..=3u64 {
        let mut c = match epoch {
            1 => commit(1, &prev, CommitReason::Create, 1),
            2 => commit(2, &prev, CommitReason::Membership, 2),
            _ => commit(3, &prev, CommitReason::Membership, 1),
        };
        if epoch == 2 {
            c.adds.push(Add {
                leaf: 1,
                announcement: rand_bytes(&mut rng, 40),
            });
        }
        if epoch == 3 {
            c.removes.push(Remove {
                leaf: 1,
                reason: RemoveReason::Left as i32,
            });
        }
        let content = encode(&c);
        let next = transcript_next(&prev, &content);
        commits.push(json!({
            "epoch": epoch,
            "prev_transcript_hash": h(prev),
            "content": h(&content),
            "transcript_hash": h(next),
        }));
        prev = next;
    }
    let chain = json!({
        "meeting_id": h(CHAIN_MEETING),
        "transcript_init": h(init),
        "commits": commits,
    });

    // Two heartbeats of one leader in epoch 3, chained.
    let mut heartbeats = Vec::new();
    let mut prev_hb = [0u8; 32];
    for sequence in 1..=2u64 {
        let hb = Heartbeat {
            version: 1,
            meeting_id: CHAIN_MEETING.to_vec(),
            epoch: 3,
            transcript_hash: prev.to_vec(),
            leader_leaf: 0,
            sequence,
            prev_heartbeat_hash: prev_hb.to_vec(),
            confirmation: rand32(&mut rng).to_vec(),
            liveness_root: conclave_core::merkle::empty().to_vec(),
            liveness_count: 0,
            stable: false,
        };
        let content = encode(&hb);
        let hash = heartbeat_hash(&content);
        heartbeats.push(json!({
            "sequence": sequence,
            "content": h(&content),
            "heartbeat_hash": h(hash),
        }));
        prev_hb = hash;
    }

    file(
        "Conclave v1 transcript hash chain (spec/key-schedule.md section 5): TranscriptInit, a \
         chain of three encoded Commit contents, and two chained heartbeats.",
        vec![("seed", json!(SEED))],
        vec![
            ("transcript_init", json!(init_cases)),
            ("chains", json!([chain])),
            ("heartbeat_hash", json!(heartbeats)),
        ],
    )
}

pub fn verify(v: &Value) {
    let cases = &v["cases"];
    for c in list(cases, "transcript_init") {
        let mid = hx(c, "meeting_id");
        let lc = spec::labeled_content("transcript init", &spec::vec(&mid));
        assert_eq!(hx(c, "labeled_content"), lc);
        assert_eq!(hx(c, "transcript_hash"), spec::sha256(&lc));
        assert_eq!(hx32(c, "transcript_hash"), transcript_init(&mid));
    }
    for chain in list(cases, "chains") {
        let mid = hx(chain, "meeting_id");
        let init = hx32(chain, "transcript_init");
        assert_eq!(
            init,
            spec::labeled_hash("transcript init", &spec::vec(&mid))
        );
        let mut prev = init;
        for (i, c) in list(chain, "commits").iter().enumerate() {
            let content = hx(c, "content");
            assert_eq!(hx32(c, "prev_transcript_hash"), prev);
            let mut input = prev.to_vec();
            input.extend_from_slice(&content);
            let next = spec::labeled_hash("transcript", &input);
            assert_eq!(hx32(c, "transcript_hash"), next);
            assert_eq!(transcript_next(&prev, &content), next);
            // The content is a real Commit that carries the previous hash and its epoch.
            let decoded: Commit =
                decode_bounded(MessageKind::Commit, &content, limits::MAX_ENVELOPE_SIZE).unwrap();
            assert_eq!(decoded.prev_transcript_hash, prev);
            assert_eq!(decoded.epoch, num(c, "epoch"));
            assert_eq!(decoded.epoch, i as u64 + 1);
            assert_eq!(decoded.meeting_id, mid);
            prev = next;
        }
    }
    let mut prev_hb = [0u8; 32];
    for c in list(cases, "heartbeat_hash") {
        let content = hx(c, "content");
        let hash = spec::labeled_hash("heartbeat chain", &content);
        assert_eq!(hx32(c, "heartbeat_hash"), hash);
        assert_eq!(heartbeat_hash(&content), hash);
        let hb: Heartbeat =
            decode_bounded(MessageKind::Heartbeat, &content, limits::MAX_ENVELOPE_SIZE).unwrap();
        assert_eq!(hb.prev_heartbeat_hash, prev_hb);
        assert_eq!(hb.sequence, num(c, "sequence"));
        prev_hb = hash;
    }
}

/// Fixed identity secret scalars whose public keys are fingerprinted: 1 (the generator point),
/// 2, n - 1, then seeded random scalars.
fn fingerprint_scalars() -> Vec<[u8; 32]> {
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut two = [0u8; 32];
    two[31] = 2;
    let n_minus_1: [u8; 32] =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550")
            .unwrap()
            .try_into()
            .unwrap();
    vec![one, two, n_minus_1]
}

pub fn generate_security_code() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(CODE_SEED);
    let mut code_inputs: Vec<Vec<u8>> = vec![vec![0u8; 48], vec![0xff; 48], seq_bytes(0, 48)];
    // Small group values: leading zeros in every group.
    let mut small = Vec::new();
    for v in [5u64, 99_999, 100_000, 100_001, 12_345_000_042, u64::MAX - 1] {
        small.extend_from_slice(&v.to_be_bytes());
    }
    code_inputs.push(small);
    for _ in 0..3 {
        code_inputs.push(rand_bytes(&mut rng, 48));
    }
    let code_cases: Vec<Value> = code_inputs
        .iter()
        .map(|b| {
            let arr: [u8; 48] = b.clone().try_into().unwrap();
            json!({"code_bytes": h(b), "security_code": render_security_code(&arr)})
        })
        .collect();

    let mut scalars = fingerprint_scalars();
    scalars.push(rand32(&mut rng));
    scalars.push(rand32(&mut rng));
    let fp_cases: Vec<Value> = scalars
        .iter()
        .map(|s| {
            let k = IdentityKey::from_secret_bytes(s).unwrap();
            let pk = k.public().as_bytes();
            let fp = fingerprint(pk);
            json!({
                "secret_key": h(s),
                "public_key": h(pk),
                "fingerprint": h(fp),
                "rendered": render_fingerprint(&fp),
            })
        })
        .collect();

    let mut render_inputs: Vec<Vec<u8>> = vec![vec![0u8; 32], vec![0xff; 32], seq_bytes(0x61, 32)];
    let mut small = Vec::new();
    for v in [
        0u32,
        7,
        99_999,
        100_000,
        4_200_000_017,
        123_456,
        1,
        u32::MAX - 1,
    ] {
        small.extend_from_slice(&v.to_be_bytes());
    }
    render_inputs.push(small);
    let render_cases: Vec<Value> = render_inputs
        .iter()
        .map(|b| {
            let arr: [u8; 32] = b.clone().try_into().unwrap();
            json!({"fingerprint": h(b), "rendered": render_fingerprint(&arr)})
        })
        .collect();

    file(
        "Conclave v1 security code (spec/key-schedule.md section 7: 48 code bytes -> 6 groups of \
         5 digits) and identity fingerprints (section 4: LabeledHash(\"fingerprint\", public key) \
         -> 8 groups of 5 digits).",
        vec![("seed", json!(CODE_SEED))],
        vec![
            ("security_code", json!(code_cases)),
            ("fingerprint", json!(fp_cases)),
            ("fingerprint_rendering", json!(render_cases)),
        ],
    )
}

pub fn verify_security_code(v: &Value) {
    let cases = &v["cases"];
    for c in list(cases, "security_code") {
        let b = hx(c, "code_bytes");
        assert_eq!(text(c, "security_code"), spec::render_digits(&b, 8, 6));
        let arr: [u8; 48] = b.try_into().unwrap();
        assert_eq!(text(c, "security_code"), render_security_code(&arr));
    }
    for c in list(cases, "fingerprint") {
        let pk = hx(c, "public_key");
        let k = IdentityKey::from_secret_bytes(&hx(c, "secret_key")).unwrap();
        assert_eq!(k.public().as_bytes()[..], pk[..]);
        let fp = spec::labeled_hash("fingerprint", &pk);
        assert_eq!(hx32(c, "fingerprint"), fp);
        assert_eq!(fingerprint(&pk), fp);
        assert_eq!(text(c, "rendered"), spec::render_digits(&fp, 4, 8));
        assert_eq!(text(c, "rendered"), k.public().fingerprint_string());
    }
    for c in list(cases, "fingerprint_rendering") {
        let b = hx32(c, "fingerprint");
        assert_eq!(text(c, "rendered"), spec::render_digits(&b, 4, 8));
        assert_eq!(text(c, "rendered"), render_fingerprint(&b));
    }
}
