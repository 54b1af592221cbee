//! key-schedule.json: ExpandWithLabel, DeriveSecret, LabeledHash, epoch secrets, sender keys.

use conclave_core::Secret;
use conclave_core::schedule::{
    EpochSecrets, SenderKeys, derive_secret, expand_with_label, labeled_content, labeled_hash,
    labels, render_security_code,
};
use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{file, h, hx, hx32, list, num, num32, rand_bytes, rand32, seq_bytes, spec, text};

const SEED: u64 = 0x4b53_0001;
const COUNTERS: [u64; 5] = [0, 1, 255, 1 << 32, (1 << 48) - 1];

fn expand(secret: &[u8], name: &str, context: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    expand_with_label(secret, name, context, &mut out);
    out
}

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);

    let mut expand_cases = Vec::new();
    let inputs: Vec<(Vec<u8>, &str, Vec<u8>, usize)> = vec![
        (seq_bytes(0, 32), labels::FRAME_KEY, vec![], 32),
        (
            rand_bytes(&mut rng, 32),
            labels::SENDER,
            hex::decode("0000000100000002").unwrap(),
            32,
        ),
        (rand_bytes(&mut rng, 32), labels::FRAME_SALT, vec![], 12),
        (
            rand_bytes(&mut rng, 32),
            labels::SECURITY_CODE,
            rand_bytes(&mut rng, 32),
            48,
        ),
        (
            rand_bytes(&mut rng, 32),
            labels::NODE_WRAP,
            conclave_core::tree::wrap_context(b"conclave-vectors-meeting", 7, 3, 5),
            44,
        ),
        (
            rand_bytes(&mut rng, 32),
            labels::NODE_RATCHET,
            5u32.to_be_bytes().to_vec(),
            32,
        ),
        (
            rand_bytes(&mut rng, 32),
            labels::CONFIRMATION,
            rand_bytes(&mut rng, 32),
            64,
        ),
        (
            rand_bytes(&mut rng, 32),
            labels::EPOCH_SECRET,
            rand_bytes(&mut rng, 40),
            1,
        ),
    ];
    for (secret, label, context, len) in inputs {
        expand_cases.push(json!({
            "secret": h(&secret),
            "label": label,
            "context": h(&context),
            "length": len,
            "info": h(spec::expand_info(label, &context, len)),
            "output": h(expand(&secret, label, &context, len)),
        }));
    }

    let mut derive_cases = Vec::new();
    for label in [labels::FRAME, labels::FRAME_KEY, labels::EPOCH_SECRET] {
        let secret = rand32(&mut rng);
        derive_cases.push(json!({
            "secret": h(secret),
            "label": label,
            "output": h(derive_secret(&secret, label).expose()),
        }));
    }

    let mut hash_cases = Vec::new();
    let hash_inputs: Vec<(&str, Vec<u8>)> = vec![
        (labels::MERKLE_EMPTY, vec![]),
        (labels::HEARTBEAT_CHAIN, b"heartbeat content".to_vec()),
        (
            labels::TRANSCRIPT_INIT,
            spec::vec(b"conclave-vectors-meeting"),
        ),
        (labels::FINGERPRINT, rand_bytes(&mut rng, 65)),
        (labels::MERKLE_NODE, rand_bytes(&mut rng, 64)),
    ];
    for (label, content) in hash_inputs {
        hash_cases.push(json!({
            "label": label,
            "content": h(&content),
            "labeled_content": h(labeled_content(label, &content)),
            "output": h(labeled_hash(label, &content)),
        }));
    }

    let mut epoch_cases = Vec::new();
    let mut frame_secrets = Vec::new();
    let epoch_inputs: Vec<(Vec<u8>, u64)> = vec![
        (b"conclave-vectors-meeting".to_vec(), 1),
        (seq_bytes(0x10, 16), 2),
        (seq_bytes(0x80, 64), 1_000_000),
        (rand_bytes(&mut rng, 32), (1 << 40) + 7),
    ];
    for (meeting_id, epoch) in epoch_inputs {
        let th = rand32(&mut rng);
        let root = Secret::from_bytes(rand32(&mut rng));
        let es = EpochSecrets::derive(&meeting_id, epoch, &th, &root);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&th), root.expose());
        let code = expand(es.epoch_secret.expose(), labels::SECURITY_CODE, &th, 48);
        let code_arr: [u8; 48] = code.clone().try_into().unwrap();
        assert_eq!(render_security_code(&code_arr), es.security_code);
        frame_secrets.push(es.frame_secret.clone());
        epoch_cases.push(json!({
            "meeting_id": h(&meeting_id),
            "epoch": epoch,
            "transcript_hash": h(th),
            "root_key": h(root.expose()),
            "epoch_prk": h(prk.as_slice()),
            "epoch_secret": h(es.epoch_secret.expose()),
            "frame_secret": h(es.frame_secret.expose()),
            "confirmation": h(es.confirmation),
            "code_bytes": h(&code),
            "security_code": es.security_code,
        }));
    }

    let mut sender_cases = Vec::new();
    let pairs: [(usize, u32, u32); 6] = [
        (0, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
        (0, 5, 2),
        (1, 16383, u32::MAX),
        (1, 0, 0),
    ];
    for (fs_index, sender, stream) in pairs {
        let fs = &frame_secrets[fs_index];
        let keys = SenderKeys::derive(fs, sender, stream);
        let (sender_secret, _, _) = spec::sender(fs.expose(), sender, stream);
        let nonces: Vec<Value> = COUNTERS
            .iter()
            .map(|&c| json!({"counter": c, "nonce": h(keys.nonce(c))}))
            .collect();
        sender_cases.push(json!({
            "frame_secret": h(fs.expose()),
            "sender": sender,
            "stream": stream,
            "sender_secret": h(sender_secret),
            "key": h(keys.key.expose()),
            "salt": h(keys.salt.expose()),
            "nonces": nonces,
        }));
    }

    file(
        "Conclave v1 key schedule (spec/key-schedule.md sections 1, 2, 6, 7, 8): ExpandWithLabel, \
         DeriveSecret, LabeledHash, epoch secrets with the security code, and per-sender frame \
         keys, salts and nonces.",
        vec![("seed", json!(SEED))],
        vec![
            ("expand_with_label", json!(expand_cases)),
            ("derive_secret", json!(derive_cases)),
            ("labeled_hash", json!(hash_cases)),
            ("epoch_secrets", json!(epoch_cases)),
            ("sender_keys", json!(sender_cases)),
        ],
    )
}

pub fn verify(v: &Value) {
    let cases = &v["cases"];
    for c in list(cases, "expand_with_label") {
        let (secret, label, ctx) = (hx(c, "secret"), text(c, "label"), hx(c, "context"));
        let len = num(c, "length") as usize;
        assert_eq!(hx(c, "info"), spec::expand_info(label, &ctx, len));
        assert_eq!(
            hx(c, "output"),
            spec::expand_with_label(&secret, label, &ctx, len)
        );
        assert_eq!(hx(c, "output"), expand(&secret, label, &ctx, len));
    }
    for c in list(cases, "derive_secret") {
        let (secret, label) = (hx(c, "secret"), text(c, "label"));
        assert_eq!(hx(c, "output"), spec::derive_secret(&secret, label));
        assert_eq!(hx(c, "output"), derive_secret(&secret, label).expose());
    }
    for c in list(cases, "labeled_hash") {
        let (label, content) = (text(c, "label"), hx(c, "content"));
        assert_eq!(
            hx(c, "labeled_content"),
            spec::labeled_content(label, &content)
        );
        assert_eq!(hx(c, "output"), spec::sha256(&hx(c, "labeled_content")));
        assert_eq!(hx(c, "output"), labeled_hash(label, &content));
    }
    for c in list(cases, "epoch_secrets") {
        let (mid, epoch, th, root) = (
            hx(c, "meeting_id"),
            num(c, "epoch"),
            hx32(c, "transcript_hash"),
            hx32(c, "root_key"),
        );
        let e = spec::epoch(&mid, epoch, &th, &root);
        assert_eq!(hx(c, "epoch_prk"), e.prk);
        assert_eq!(hx(c, "epoch_secret"), e.epoch_secret);
        assert_eq!(hx(c, "frame_secret"), e.frame_secret);
        assert_eq!(hx(c, "confirmation"), e.confirmation);
        assert_eq!(hx(c, "code_bytes"), e.code_bytes);
        assert_eq!(
            text(c, "security_code"),
            spec::render_digits(&e.code_bytes, 8, 6)
        );
        let es = EpochSecrets::derive(&mid, epoch, &th, &Secret::from_bytes(root));
        assert_eq!(es.epoch, epoch);
        assert_eq!(es.transcript_hash, th);
        assert_eq!(es.epoch_secret.expose()[..], e.epoch_secret[..]);
        assert_eq!(es.frame_secret.expose()[..], e.frame_secret[..]);
        assert_eq!(es.confirmation[..], e.confirmation[..]);
        assert_eq!(es.security_code, text(c, "security_code"));
    }
    for c in list(cases, "sender_keys") {
        let (fs, sender, stream) = (
            hx32(c, "frame_secret"),
            num32(c, "sender"),
            num32(c, "stream"),
        );
        let (ss, key, salt) = spec::sender(&fs, sender, stream);
        assert_eq!(hx(c, "sender_secret"), ss);
        assert_eq!(hx(c, "key"), key);
        assert_eq!(hx(c, "salt"), salt);
        let keys = SenderKeys::derive(&Secret::from_bytes(fs), sender, stream);
        assert_eq!(keys.key.expose()[..], key[..]);
        assert_eq!(keys.salt.expose()[..], salt[..]);
        let nonces = list(c, "nonces");
        assert_eq!(
            nonces.iter().map(|n| num(n, "counter")).collect::<Vec<_>>(),
            COUNTERS
        );
        for n in nonces {
            let ctr = num(n, "counter");
            assert_eq!(hx(n, "nonce"), spec::nonce(&salt, ctr));
            assert_eq!(hx(n, "nonce"), keys.nonce(ctr));
        }
    }
}
