use prost::Message;

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
}

/// Decodes `bytes` as `M` after checking that they are at most `max` bytes long.
///
/// The size check comes first so that no allocation or parsing happens for oversized input.
pub fn decode_bounded<M: Message + Default>(
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
    M::decode(bytes).map_err(|e| DecodeError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

/// Encodes a message to a fresh vector.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}
