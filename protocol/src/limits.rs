//! The protocol's named limits. Each constant appears with the same name in `spec/README.md`.

/// The protocol version carried in every versioned message.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest encoded control `Envelope` a client accepts (bytes).
pub const MAX_ENVELOPE_SIZE: usize = 4 * 1024 * 1024;
/// Largest encoded `SignedMessage(Announcement)` (bytes).
pub const MAX_ANNOUNCEMENT_SIZE: usize = 2048;
/// Shortest meeting id (bytes).
pub const MIN_MEETING_ID_LEN: usize = 16;
/// Longest meeting id (bytes).
pub const MAX_MEETING_ID_LEN: usize = 64;
/// Longest participant id (bytes of UTF-8).
pub const MAX_PARTICIPANT_ID_LEN: usize = 64;
/// Most suites a participant may announce.
pub const MAX_SUITES: usize = 8;
/// Longest HPKE public key or encapsulated key of any suite (bytes).
pub const MAX_KEM_KEY_LEN: usize = 2048;
/// Length of a liveness nonce (bytes).
pub const LIVENESS_NONCE_LEN: usize = 24;
/// Length of a hash, transcript hash, Merkle node, node key or confirmation (bytes).
pub const HASH_LEN: usize = 32;
/// Length of an encoded signature (r || s).
pub const SIGNATURE_LEN: usize = 64;
/// Length of an SEC1 uncompressed P-256 public key.
pub const P256_PUBLIC_KEY_LEN: usize = 65;
/// Length of a wrapped node key: 32-byte key plus 16-byte tag.
pub const WRAPPED_KEY_LEN: usize = 48;
/// Default participant limit of a meeting.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 1000;
/// Largest configurable participant limit.
pub const MAX_PARTICIPANTS: usize = 10_000;
/// Largest key tree width in leaves (the power of two above `MAX_PARTICIPANTS`).
pub const MAX_TREE_LEAVES: u32 = 16_384;
/// Most node updates in one commit (two per parent node of the widest tree).
pub const MAX_NODE_UPDATES: usize = 2 * MAX_TREE_LEAVES as usize;
/// Most hashes in a Merkle multiproof.
pub const MAX_PROOF_HASHES: usize = MAX_NODE_UPDATES;
/// Most nodes in a `PathSecrets` (a leaf and its direct path in the widest tree).
pub const MAX_PATH_NODES: usize = 16;
/// Largest encoded `SignedMessage(GroupInfo)` (bytes).
pub const MAX_GROUP_INFO_SIZE: usize = MAX_ENVELOPE_SIZE - 64 * 1024;
/// Most elements of a repeated field that `spec/wire.md` section 3 gives no limit of its own.
pub const DEFAULT_MAX_REPEATED: usize = 16;
/// Deepest nesting of messages inside one decoded message (the decoded message is depth 1).
pub const MAX_MESSAGE_DEPTH: usize = 16;
/// Most heap bytes `decode_bounded` holds at once while decoding an input of `n` bytes, as a
/// multiple of `n` (plus a small constant for an empty input): `MAX_DECODE_EXPANSION * n + 4096`.
/// Reached by 2-byte empty entries of a repeated message field whose decoded value is a 40-byte
/// struct, while the vector holding them doubles; see `protocol/tests/expansion.rs`.
pub const MAX_DECODE_EXPANSION: usize = 64;
