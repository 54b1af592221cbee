//! Checker of messages.json: every encoding decodes strictly and re-encodes to the same bytes,
//! every signature verifies, and every rejected envelope is rejected with its error kind.

use core::time::Duration;

use conclave_core::meeting::{Meeting, MeetingConfig, MeetingError};
use conclave_core::protocol::limits::{
    MAX_ANNOUNCEMENT_SIZE, MAX_ENVELOPE_SIZE, MAX_GROUP_INFO_SIZE,
};
use conclave_core::protocol::v1::{
    Announcement, Commit, CommitBundle, Envelope, GroupInfo, Heartbeat, HeartbeatBundle, Leave,
    LivenessNonce, PathSecrets, ResyncRequest, SignedMessage, Welcome,
};
use conclave_core::protocol::{CheckedMessage, MessageKind, decode_bounded, encode};
use conclave_core::{IdentityKey, PublicIdentity};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

use super::Report;
use super::json::{bytes, get, list, text};

/// The error kind of `spec/wire.md` section 2.1 / `frames.md` section 4.1: the stable
/// snake_case name of the error's variant.
fn kind(e: &MeetingError) -> &'static str {
    e.kind().as_str()
}

/// Strict decoding of `bytes` as `M`, and whether it re-encodes to exactly `bytes`.
fn roundtrip<M: CheckedMessage>(kind: MessageKind, bytes: &[u8], max: usize) -> bool {
    decode_bounded::<M>(kind, bytes, max).is_ok_and(|m| encode(&m) == bytes)
}

/// Whether `bytes` is the canonical encoding of a message of type `name`.
fn canonical(name: &str, b: &[u8]) -> Result<bool, String> {
    use MessageKind as K;
    Ok(match name {
        "Envelope" => roundtrip::<Envelope>(K::Envelope, b, MAX_ENVELOPE_SIZE),
        "SignedMessage" => roundtrip::<SignedMessage>(K::SignedMessage, b, MAX_ENVELOPE_SIZE),
        "Announcement" => roundtrip::<Announcement>(K::Announcement, b, MAX_ANNOUNCEMENT_SIZE),
        "Commit" => roundtrip::<Commit>(K::Commit, b, MAX_ENVELOPE_SIZE),
        "CommitBundle" => roundtrip::<CommitBundle>(K::Envelope, b, MAX_ENVELOPE_SIZE),
        "PathSecrets" => roundtrip::<PathSecrets>(K::PathSecrets, b, MAX_ENVELOPE_SIZE),
        "GroupInfo" => roundtrip::<GroupInfo>(K::GroupInfo, b, MAX_GROUP_INFO_SIZE),
        "Welcome" => roundtrip::<Welcome>(K::Welcome, b, MAX_ENVELOPE_SIZE),
        "Heartbeat" => roundtrip::<Heartbeat>(K::Heartbeat, b, MAX_ENVELOPE_SIZE),
        "HeartbeatBundle" => roundtrip::<HeartbeatBundle>(K::Envelope, b, MAX_ENVELOPE_SIZE),
        "Leave" => roundtrip::<Leave>(K::Leave, b, MAX_ENVELOPE_SIZE),
        "ResyncRequest" => roundtrip::<ResyncRequest>(K::ResyncRequest, b, MAX_ENVELOPE_SIZE),
        "LivenessNonce" => roundtrip::<LivenessNonce>(K::LivenessNonce, b, MAX_ENVELOPE_SIZE),
        other => return Err(format!("unknown message type {other}")),
    })
}

/// A signed case: the signature verifies with `signer` under `label`, and the content is
/// canonical `content_type`.
fn signed_ok(c: &Value, encoded: &[u8]) -> Result<bool, String> {
    let Ok(s) =
        decode_bounded::<SignedMessage>(MessageKind::SignedMessage, encoded, MAX_ENVELOPE_SIZE)
    else {
        return Ok(false);
    };
    let label: &'static str = Box::leak(text(c, "label")?.to_owned().into_boxed_str());
    let verifies = PublicIdentity::from_bytes(&bytes(c, "signer")?)
        .is_ok_and(|k| k.verify(label, &s.content, &s.signature).is_ok());
    Ok(verifies && canonical(text(c, "content_type")?, &s.content)?)
}

/// The receiver of the rejected cases: the leader alice of `context.meeting_id`, with bob
/// admitted at leaf 1 (`vectors/README.md`).
fn receiver(ctx: &Value) -> Result<Meeting, String> {
    let mid = bytes(ctx, "meeting_id")?;
    let identity = |name: &str| -> Result<IdentityKey, String> {
        let p = list(ctx, "participants")?
            .iter()
            .find(|p| text(p, "name").is_ok_and(|n| n == name))
            .ok_or_else(|| format!("no participant {name}"))?;
        IdentityKey::from_secret_bytes(&bytes(p, "identity_secret_key")?).map_err(|e| e.to_string())
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0x5245_4a01);
    let config = MeetingConfig::default();
    let t0 = Duration::ZERO;
    let err = |e: MeetingError| e.to_string();
    let mut alice = Meeting::create(
        config.clone(),
        &mid,
        "alice",
        identity("alice")?,
        t0,
        &mut rng,
    )
    .map_err(err)?;
    let mut bob =
        Meeting::join(config, &mid, "bob", identity("bob")?, t0, &mut rng).map_err(err)?;
    while alice.poll_transmit().is_some() {}
    while let Some(t) = bob.poll_transmit() {
        alice
            .handle_message(&t.payload, t0, &mut rng)
            .map_err(err)?;
    }
    alice
        .handle_timeout(Duration::from_secs(1), &mut rng)
        .map_err(err)?;
    let bob_leaf = alice
        .participants()
        .iter()
        .find(|p| p.participant_id == "bob")
        .map(|p| p.leaf);
    if bob_leaf != Some(1) {
        return Err("the receiver did not admit bob at leaf 1".into());
    }
    while alice.poll_transmit().is_some() {}
    Ok(alice)
}

/// messages.json.
pub fn check(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "messages")? {
        let name = text(c, "name")?;
        let encoded = bytes(c, "encoded")?;
        let mut ok = canonical(text(c, "message")?, &encoded)?;
        if c.get("label").is_some() {
            ok &= signed_ok(c, &encoded)?;
        }
        r.positive(name, ok);
    }
    let ctx = get(v, "context")?;
    for c in list(cases, "rejected")? {
        let mut alice = receiver(ctx)?;
        let before = (alice.epoch(), alice.transcript_hash(), alice.participants());
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let result = alice.handle_message(&bytes(c, "envelope")?, Duration::from_secs(2), &mut rng);
        let after = (alice.epoch(), alice.transcript_hash(), alice.participants());
        let got = match &result {
            Ok(()) => "accepted",
            Err(e) if before == after => kind(e),
            Err(_) => "rejected after a state change",
        };
        r.rejected(text(c, "name")?, got, text(c, "kind")?);
    }
    Ok(())
}
