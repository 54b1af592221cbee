//! Building and checking protocol messages: signing over exact bytes, bounded decoding, and
//! the validation rules of `spec/wire.md`.

use conclave_protocol::limits::{
    HASH_LEN, LIVENESS_NONCE_LEN, MAX_ANNOUNCEMENT_SIZE, MAX_ENVELOPE_SIZE, MAX_MEETING_ID_LEN,
    MAX_PARTICIPANT_ID_LEN, MAX_SUITES, MIN_MEETING_ID_LEN, PROTOCOL_VERSION,
};
use conclave_protocol::v1::{Envelope, SignedMessage, SuiteKey, envelope::Body};
use conclave_protocol::{CheckedMessage, MessageKind, decode_bounded, encode};

use super::MeetingError;
use crate::identity::{IdentityKey, PublicIdentity};
use crate::provider::Provider;
use crate::schedule::labels;
use crate::{CipherSuite, CryptoError};

/// Signs `content` under `label` and wraps it in a `SignedMessage`.
pub(crate) fn sign(identity: &IdentityKey, label: &str, content: Vec<u8>) -> SignedMessage {
    let signature = identity.sign(label, &content).to_vec();
    SignedMessage { content, signature }
}

/// Encodes an envelope holding `body`.
pub(crate) fn envelope(body: Body) -> Vec<u8> {
    encode(&Envelope { body: Some(body) })
}

/// Decodes an envelope, enforcing `MAX_ENVELOPE_SIZE` before parsing.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Body, MeetingError> {
    let env: Envelope = decode_bounded(MessageKind::Envelope, bytes, MAX_ENVELOPE_SIZE)?;
    env.body.ok_or(MeetingError::Invalid {
        message: "envelope",
        reason: "no body".into(),
    })
}

/// Decodes the content of a signed message (no signature check).
pub(crate) fn decode_content<M: CheckedMessage>(
    kind: MessageKind,
    signed: &SignedMessage,
) -> Result<M, MeetingError> {
    Ok(decode_bounded(kind, &signed.content, MAX_ENVELOPE_SIZE)?)
}

/// Verifies a signed message with `key` under `label`.
pub(crate) fn verify(
    key: &PublicIdentity,
    label: &'static str,
    signed: &SignedMessage,
    message: &'static str,
    from: impl FnOnce() -> String,
) -> Result<(), MeetingError> {
    key.verify(label, &signed.content, &signed.signature)
        .map_err(|source| MeetingError::BadSignature {
            message,
            from: from(),
            source,
        })
}

pub(crate) fn check_version(message: &'static str, version: u32) -> Result<(), MeetingError> {
    if version != PROTOCOL_VERSION {
        return Err(MeetingError::Invalid {
            message,
            reason: format!("protocol version {version}, expected {PROTOCOL_VERSION}"),
        });
    }
    Ok(())
}

pub(crate) fn check_meeting(
    message: &'static str,
    got: &[u8],
    ours: &[u8],
) -> Result<(), MeetingError> {
    // wire.md 2.1: the length rule of section 4 comes before the comparison.
    if !(MIN_MEETING_ID_LEN..=MAX_MEETING_ID_LEN).contains(&got.len()) {
        return Err(MeetingError::Invalid {
            message,
            reason: format!(
                "meeting_id is {} bytes, must be {MIN_MEETING_ID_LEN}..={MAX_MEETING_ID_LEN}",
                got.len()
            ),
        });
    }
    if got != ours {
        return Err(MeetingError::WrongMeeting { message });
    }
    Ok(())
}

pub(crate) fn hash32(
    message: &'static str,
    field: &str,
    b: &[u8],
) -> Result<[u8; 32], MeetingError> {
    b.try_into().map_err(|_| MeetingError::Invalid {
        message,
        reason: format!("{field} is {} bytes, expected {HASH_LEN}", b.len()),
    })
}

pub(crate) fn nonce24(
    message: &'static str,
    b: &[u8],
) -> Result<[u8; LIVENESS_NONCE_LEN], MeetingError> {
    b.try_into().map_err(|_| MeetingError::Invalid {
        message,
        reason: format!(
            "liveness nonce is {} bytes, expected {LIVENESS_NONCE_LEN}",
            b.len()
        ),
    })
}

/// Checks a meeting id's length.
pub fn check_meeting_id(meeting_id: &[u8]) -> Result<(), MeetingError> {
    if !(MIN_MEETING_ID_LEN..=MAX_MEETING_ID_LEN).contains(&meeting_id.len()) {
        return Err(MeetingError::Invalid {
            message: "meeting id",
            reason: format!(
                "{} bytes, must be {MIN_MEETING_ID_LEN}..={MAX_MEETING_ID_LEN}",
                meeting_id.len()
            ),
        });
    }
    Ok(())
}

/// Checks a participant id's length.
pub fn check_participant_id(id: &str) -> Result<(), MeetingError> {
    if id.is_empty() || id.len() > MAX_PARTICIPANT_ID_LEN {
        return Err(MeetingError::Invalid {
            message: "participant id",
            reason: format!("{} bytes, must be 1..={MAX_PARTICIPANT_ID_LEN}", id.len()),
        });
    }
    Ok(())
}

/// A verified announcement.
#[derive(Clone, Debug)]
pub(crate) struct ValidAnnouncement {
    /// Exact encoded `SignedMessage` bytes.
    pub bytes: Vec<u8>,
    pub participant_id: String,
    pub identity: PublicIdentity,
    /// (suite id, public key), ascending suite ids.
    pub hpke_keys: Vec<(u32, Vec<u8>)>,
    pub nonce: [u8; LIVENESS_NONCE_LEN],
    /// `recent_heartbeat`: the `HeartbeatHash` of a heartbeat the joiner received, if any.
    pub recent_heartbeat: Option<[u8; HASH_LEN]>,
}

impl ValidAnnouncement {
    /// The HPKE key for `suite`.
    pub fn hpke_key(&self, suite: CipherSuite) -> Option<&[u8]> {
        self.hpke_keys
            .iter()
            .find(|(s, _)| *s == suite.id())
            .map(|(_, k)| k.as_slice())
    }
}

/// Parses and verifies the exact bytes of a `SignedMessage(Announcement)`; the identity it
/// returns verifies through `provider`.
pub(crate) fn parse_announcement(
    bytes: &[u8],
    meeting_id: &[u8],
    provider: Provider,
) -> Result<ValidAnnouncement, MeetingError> {
    let signed: SignedMessage =
        decode_bounded(MessageKind::SignedMessage, bytes, MAX_ANNOUNCEMENT_SIZE)?;
    let a: conclave_protocol::v1::Announcement = decode_bounded(
        MessageKind::Announcement,
        &signed.content,
        MAX_ANNOUNCEMENT_SIZE,
    )?;
    const M: &str = "announcement";
    check_version(M, a.version)?;
    check_meeting(M, &a.meeting_id, meeting_id)?;
    check_participant_id(&a.participant_id).map_err(|e| MeetingError::Invalid {
        message: M,
        reason: e.to_string(),
    })?;
    let identity = PublicIdentity::from_bytes(&a.identity_key)
        .map_err(|source| MeetingError::BadSignature {
            message: M,
            from: a.participant_id.clone(),
            source,
        })?
        .with_provider(provider);
    if a.hpke_keys.is_empty() || a.hpke_keys.len() > MAX_SUITES {
        return Err(MeetingError::Invalid {
            message: M,
            reason: format!("{} HPKE keys, must be 1..={MAX_SUITES}", a.hpke_keys.len()),
        });
    }
    let mut keys = Vec::with_capacity(a.hpke_keys.len());
    let mut prev: Option<u32> = None;
    for SuiteKey { suite, public_key } in &a.hpke_keys {
        if prev.is_some_and(|p| p >= *suite) {
            return Err(MeetingError::Invalid {
                message: M,
                reason: "HPKE keys are not in strictly ascending suite order".into(),
            });
        }
        prev = Some(*suite);
        if *suite == 0 {
            return Err(MeetingError::Invalid {
                message: M,
                reason: "suite 0 is reserved (suites.md section 1)".into(),
            });
        }
        // Keys of suites this build does not implement are carried but not checked.
        if let Ok(s) = CipherSuite::from_id(*suite) {
            provider
                .hpke_check_public_key(s, public_key)
                .map_err(|e: CryptoError| MeetingError::Invalid {
                    message: M,
                    reason: format!("suite {suite} key: {e}"),
                })?;
        }
        keys.push((*suite, public_key.clone()));
    }
    let nonce = nonce24(M, &a.liveness_nonce)?;
    let recent_heartbeat = if a.recent_heartbeat.is_empty() {
        None
    } else {
        Some(hash32(M, "recent_heartbeat", &a.recent_heartbeat)?)
    };
    verify(&identity, labels::ANNOUNCEMENT, &signed, M, || {
        a.participant_id.clone()
    })?;
    Ok(ValidAnnouncement {
        bytes: bytes.to_vec(),
        participant_id: a.participant_id,
        identity,
        hpke_keys: keys,
        nonce,
        recent_heartbeat,
    })
}
