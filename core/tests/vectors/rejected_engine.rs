//! The engine against messages.json `cases.rejected[]`: each envelope, delivered to the leader
//! alice of `context.meeting_id` with bob at leaf 1, is rejected with exactly its error kind and
//! changes nothing.

use core::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{Meeting, MeetingConfig, MeetingError};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

use super::{hx, list, text};

/// The error kind of `spec/wire.md` section 2.1 / `frames.md` section 4.1: the stable
/// snake_case name of the error's variant.
pub fn kind(e: &MeetingError) -> &'static str {
    e.kind().as_str()
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

/// Every rejected case produces exactly its kind and changes
/// nothing.
pub fn verify(v: &Value) {
    let ctx = v.get("context").expect("context");
    let cases = list(&v["cases"], "rejected");
    assert!(cases.len() >= 30);
    for c in cases {
        let name = text(c, "name");
        let (got, unchanged) = run(ctx, c);
        assert_eq!(got, text(c, "kind"), "{name}: {}", text(c, "rule"));
        assert!(
            unchanged,
            "{name}: a rejected envelope changed the receiver"
        );
    }
}
