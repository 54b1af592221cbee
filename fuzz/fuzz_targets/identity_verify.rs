//! Identity keys and signatures from a hostile relay: arbitrary key bytes into
//! `PublicIdentity::from_bytes` and arbitrary (label, content, signature) into `verify` never
//! panic; a key that parses re-encodes to the same bytes; and no signature made by a known
//! key verifies after any change to label, content or signature.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use conclave_core::{IdentityKey, PublicIdentity};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const LABELS: [&str; 9] = [
    "announcement",
    "commit",
    "group info",
    "welcome",
    "heartbeat",
    "leave",
    "resync request",
    "liveness",
    "",
];

#[derive(Arbitrary, Debug)]
struct Input {
    key: Vec<u8>,
    label: u8,
    content: Vec<u8>,
    sig: Vec<u8>,
    /// For the known key: sign (label, content), then apply this change.
    change: Change,
}

#[derive(Arbitrary, Debug)]
enum Change {
    None,
    Label(u8),
    ContentBit(u16, u8),
    SigBit(u8, u8),
    SigBytes(Vec<u8>),
    Append(u8),
}

fn known() -> &'static IdentityKey {
    static K: OnceLock<IdentityKey> = OnceLock::new();
    K.get_or_init(|| IdentityKey::generate(&mut ChaCha20Rng::seed_from_u64(7)))
}

fuzz_target!(|input: Input| {
    let label = LABELS[usize::from(input.label) % LABELS.len()];
    if let Ok(k) = PublicIdentity::from_bytes(&input.key) {
        assert_eq!(
            &k.as_bytes()[..],
            &input.key[..],
            "a parsed key re-encodes differently"
        );
        let _ = k.fingerprint_string();
        let _ = k.verify(label, &input.content, &input.sig);
    }
    // The known key with an arbitrary signature: verifying must not panic.
    let pk = known().public();
    let _ = pk.verify(label, &input.content, &input.sig);
    // A genuine signature, changed, must not verify.
    let sig = known().sign(label, &input.content);
    let mut l2 = label;
    let mut content = input.content.clone();
    let mut s2 = sig.to_vec();
    let changed = match &input.change {
        Change::None => false,
        Change::Label(l) => {
            l2 = LABELS[usize::from(*l) % LABELS.len()];
            l2 != label
        }
        Change::ContentBit(i, b) => {
            if content.is_empty() {
                false
            } else {
                let k = usize::from(*i) % content.len();
                content[k] ^= 1 << (b % 8);
                true
            }
        }
        Change::SigBit(i, b) => {
            s2[usize::from(*i) % 64] ^= 1 << (b % 8);
            true
        }
        Change::SigBytes(v) => {
            s2 = v.clone();
            s2 != sig
        }
        Change::Append(x) => {
            content.push(*x);
            true
        }
    };
    let r = pk.verify(l2, &content, &s2);
    if changed {
        assert!(r.is_err(), "changed signature verified: {:?}", input.change);
    } else {
        r.expect("genuine signature verifies");
    }
});
