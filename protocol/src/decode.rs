use prost::Message;

use crate::schema::CheckedMessage;
use crate::wire_check::{self, WireRule};

/// Which message a decode error is about, for error messages a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `Envelope`.
    Envelope,
    /// `SignedMessage`.
    SignedMessage,
    /// `Announcement`.
    Announcement,
    /// `Commit`.
    Commit,
    /// `Welcome`.
    Welcome,
    /// `PathSecrets`.
    PathSecrets,
    /// `GroupInfo`.
    GroupInfo,
    /// `Heartbeat`.
    Heartbeat,
    /// `Leave`.
    Leave,
    /// `ResyncRequest`.
    ResyncRequest,
    /// `LivenessNonce`.
    LivenessNonce,
    /// `FailoverVote`.
    FailoverVote,
}

impl core::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// Why bytes could not be decoded as a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than the limit for that message.
    #[error("{kind} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// The message being decoded.
        kind: MessageKind,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid protobuf encoding of the message.
    #[error("{kind} is not valid protobuf: {reason}")]
    Malformed {
        /// The message being decoded.
        kind: MessageKind,
        /// prost's description of the problem.
        reason: String,
    },
    /// The bytes break a strict-decoding rule of `spec/wire.md` section 3 (checked before
    /// prost decodes anything).
    #[error("{kind}: {message} field {field}: {rule}")]
    Invalid {
        /// The message being decoded.
        kind: MessageKind,
        /// The schema name of the (possibly nested) message the violation is in.
        message: &'static str,
        /// The field number (0 when the tag itself is bad).
        field: u32,
        /// The rule broken.
        rule: WireRule,
    },
    /// The message type has no entry in the schema table (cannot happen for generated types).
    #[error("{kind}: no schema entry")]
    NoSchema {
        /// The message being decoded.
        kind: MessageKind,
    },
}

/// Decodes `bytes` as `M` after checking that they are at most `max` bytes long and that they
/// follow the strict-decoding rules of `spec/wire.md` section 3 for `M`'s schema.
///
/// The size check comes first so that no allocation or parsing happens for oversized input;
/// the strict check ([`check_strict`]) comes next and allocates nothing, so count limits hold
/// before prost allocates anything. `kind` only labels errors; the rules follow `M`.
pub fn decode_bounded<M: CheckedMessage>(
    kind: MessageKind,
    bytes: &[u8],
    max: usize,
) -> Result<M, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            kind,
            len: bytes.len(),
            max,
        });
    }
    check_strict::<M>(kind, bytes)?;
    M::decode(bytes).map_err(|e| DecodeError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

/// Checks that `bytes` follow the strict-decoding rules of `spec/wire.md` section 3 for `M`,
/// without decoding or allocating. `decode_bounded` runs it; it is public for tools and benches.
pub fn check_strict<M: CheckedMessage>(kind: MessageKind, bytes: &[u8]) -> Result<(), DecodeError> {
    let desc = M::SCHEMA.desc().ok_or(DecodeError::NoSchema { kind })?;
    wire_check::check(desc, bytes).map_err(|v| DecodeError::Invalid {
        kind,
        message: v.message,
        field: v.field,
        rule: v.rule,
    })
}

/// Encodes a message to a fresh vector.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}
