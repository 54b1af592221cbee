//! The key schedule of `spec/key-schedule.md`: labels, labeled derivations, the transcript hash
//! chain, epoch secrets, the security code, fingerprints and frame keys.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::Secret;

/// Prefix of every label (`spec/key-schedule.md` section 1).
pub const LABEL_PREFIX: &str = "conclave v1 ";

/// Labels of every derivation, hash and signature (`spec/key-schedule.md` section 12).
pub mod labels {
    /// Signature over an `Announcement`.
    pub const ANNOUNCEMENT: &str = "announcement";
    /// Signature over a `Commit`.
    pub const COMMIT: &str = "commit";
    /// Signature over a `GroupInfo`.
    pub const GROUP_INFO: &str = "group info";
    /// Signature over a `Welcome`.
    pub const WELCOME: &str = "welcome";
    /// Signature over a `Heartbeat`.
    pub const HEARTBEAT: &str = "heartbeat";
    /// Signature over a `Leave`.
    pub const LEAVE: &str = "leave";
    /// Signature over a `ResyncRequest`.
    pub const RESYNC_REQUEST: &str = "resync request";
    /// Signature over a `LivenessNonce`.
    pub const LIVENESS: &str = "liveness";
    /// Signature label of a `FailoverVote`.
    pub const FAILOVER_VOTE: &str = "failover vote";
    /// Identity fingerprint hash.
    pub const FINGERPRINT: &str = "fingerprint";
    /// Initial transcript hash.
    pub const TRANSCRIPT_INIT: &str = "transcript init";
    /// Transcript chain hash.
    pub const TRANSCRIPT: &str = "transcript";
    /// Heartbeat chain hash.
    pub const HEARTBEAT_CHAIN: &str = "heartbeat chain";
    /// Merkle leaf of a node update.
    pub const UPDATE_LEAF: &str = "update leaf";
    /// Merkle leaf of a liveness echo.
    pub const ECHO_LEAF: &str = "echo leaf";
    /// Merkle interior node.
    pub const MERKLE_NODE: &str = "merkle node";
    /// Merkle padding leaf.
    pub const MERKLE_EMPTY: &str = "merkle empty";
    /// Epoch secret expansion.
    pub const EPOCH_SECRET: &str = "epoch secret";
    /// Frame secret.
    pub const FRAME: &str = "frame";
    /// Key confirmation.
    pub const CONFIRMATION: &str = "confirmation";
    /// Security code bytes.
    pub const SECURITY_CODE: &str = "security code";
    /// Per-sender per-stream secret.
    pub const SENDER: &str = "sender";
    /// Frame key.
    pub const FRAME_KEY: &str = "frame key";
    /// Frame salt.
    pub const FRAME_SALT: &str = "frame salt";
    /// One-way ratchet of a node key on a join.
    pub const NODE_RATCHET: &str = "node ratchet";
    /// New root key when the tree grows.
    pub const TREE_GROW: &str = "tree grow";
    /// Wrap key and nonce of a node update.
    pub const NODE_WRAP: &str = "node wrap";
    /// A refreshed node's key derived from its refreshed child's key.
    pub const NODE_DERIVE: &str = "node derive";
    /// HPKE info of a Welcome seal.
    pub const WELCOME_SEAL: &str = "welcome seal";
}

/// Number of digit groups in a security code.
pub const SECURITY_CODE_GROUPS: usize = 6;
/// Number of digit groups in a rendered fingerprint.
pub const FINGERPRINT_GROUPS: usize = 8;

/// `Label(name)`: `"conclave v1 " || name`.
pub fn label(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(LABEL_PREFIX.len() + name.len());
    out.extend_from_slice(LABEL_PREFIX.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out
}

/// `LabeledContent(name, content) = u8(len(Label)) || Label || content`.
pub fn labeled_content(name: &str, content: &[u8]) -> Vec<u8> {
    let l = label(name);
    let mut out = Vec::with_capacity(1 + l.len() + content.len());
    // Labels are compile-time constants far below 255 bytes.
    out.push(u8::try_from(l.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&l);
    out.extend_from_slice(content);
    out
}

/// `LabeledHash(name, content) = SHA-256(LabeledContent(name, content))`.
pub fn labeled_hash(name: &str, content: &[u8]) -> [u8; 32] {
    let l = label(name);
    let mut h = Sha256::new();
    h.update([u8::try_from(l.len()).unwrap_or(u8::MAX)]);
    h.update(&l);
    h.update(content);
    h.finalize().into()
}

/// `vec(b) = u32(len(b)) || b`, appended to `out`.
pub fn put_vec(out: &mut Vec<u8>, b: &[u8]) {
    // Inputs are bounded by protocol limits far below 4 GiB.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// `ExpandWithLabel(secret, name, context, L)`: HKDF-Expand with a labeled info structure.
///
/// `secret` is used as an HKDF PRK; it must be at least 32 bytes (all secrets here are).
pub fn expand_with_label(secret: &[u8], name: &str, context: &[u8], out: &mut [u8]) {
    let l = label(name);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    let label_len = [u8::try_from(l.len()).unwrap_or(u8::MAX)];
    let ctx_len = u32::try_from(context.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    // from_prk only fails for PRKs shorter than the hash; expand only for outputs over 255*32.
    // Both are excluded by construction (fixed 32-byte secrets, outputs of at most 48 bytes).
    if let Ok(hk) = Hkdf::<Sha256>::from_prk(secret) {
        let _ = hk.expand_multi_info(&[&len, &label_len, &l, &ctx_len, context], out);
    }
}

/// `ExpandWithLabel` producing a 32-byte secret.
pub fn expand_secret(secret: &[u8], name: &str, context: &[u8]) -> Secret<32> {
    let mut out = [0u8; 32];
    expand_with_label(secret, name, context, &mut out);
    let s = Secret::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    s
}

/// `DeriveSecret(secret, name) = ExpandWithLabel(secret, name, "", 32)`.
pub fn derive_secret(secret: &[u8], name: &str) -> Secret<32> {
    expand_secret(secret, name, &[])
}

/// `TranscriptInit(meeting_id)`: the transcript hash of epoch 0.
pub fn transcript_init(meeting_id: &[u8]) -> [u8; 32] {
    let mut c = Vec::with_capacity(4 + meeting_id.len());
    put_vec(&mut c, meeting_id);
    labeled_hash(labels::TRANSCRIPT_INIT, &c)
}

/// The transcript hash after a commit whose exact content bytes are `commit_content`.
pub fn transcript_next(prev: &[u8; 32], commit_content: &[u8]) -> [u8; 32] {
    let l = label(labels::TRANSCRIPT);
    let mut h = Sha256::new();
    h.update([u8::try_from(l.len()).unwrap_or(u8::MAX)]);
    h.update(&l);
    h.update(prev);
    h.update(commit_content);
    h.finalize().into()
}

/// `HeartbeatHash(content)`: chains heartbeats within an epoch.
pub fn heartbeat_hash(heartbeat_content: &[u8]) -> [u8; 32] {
    labeled_hash(labels::HEARTBEAT_CHAIN, heartbeat_content)
}

/// The identity fingerprint: `LabeledHash("fingerprint", public_key)`.
pub fn fingerprint(identity_public_key: &[u8]) -> [u8; 32] {
    labeled_hash(labels::FINGERPRINT, identity_public_key)
}

/// Renders a fingerprint as 8 groups of 5 decimal digits.
pub fn render_fingerprint(fp: &[u8; 32]) -> String {
    let groups: Vec<String> = fp
        .chunks_exact(4)
        .map(|c| {
            let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            format!("{:05}", v % 100_000)
        })
        .collect();
    groups.join(" ")
}

/// The secrets of one epoch (`spec/key-schedule.md` section 6).
#[derive(Clone)]
pub struct EpochSecrets {
    /// The epoch number.
    pub epoch: u64,
    /// The epoch's transcript hash.
    pub transcript_hash: [u8; 32],
    /// `epoch_secret`.
    pub epoch_secret: Secret<32>,
    /// `frame_secret`, from which sender keys derive.
    pub frame_secret: Secret<32>,
    /// `confirmation`, published in heartbeats.
    pub confirmation: [u8; 32],
    /// The rendered security code.
    pub security_code: String,
}

impl core::fmt::Debug for EpochSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EpochSecrets")
            .field("epoch", &self.epoch)
            .field("security_code", &self.security_code)
            .finish_non_exhaustive()
    }
}

impl EpochSecrets {
    /// Derives an epoch's secrets from the tree's root key and the epoch's transcript hash.
    pub fn derive(
        meeting_id: &[u8],
        epoch: u64,
        transcript_hash: &[u8; 32],
        root_key: &Secret<32>,
    ) -> Self {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(transcript_hash), root_key.expose());
        let mut ctx = Vec::with_capacity(12 + meeting_id.len());
        put_vec(&mut ctx, meeting_id);
        ctx.extend_from_slice(&epoch.to_be_bytes());
        let epoch_secret = expand_secret(prk.as_slice(), labels::EPOCH_SECRET, &ctx);
        let mut prk_bytes: [u8; 32] = prk.into();
        zeroize::Zeroize::zeroize(&mut prk_bytes);
        let frame_secret = derive_secret(epoch_secret.expose(), labels::FRAME);
        let mut confirmation = [0u8; 32];
        expand_with_label(
            epoch_secret.expose(),
            labels::CONFIRMATION,
            transcript_hash,
            &mut confirmation,
        );
        let mut code = [0u8; 48];
        expand_with_label(
            epoch_secret.expose(),
            labels::SECURITY_CODE,
            transcript_hash,
            &mut code,
        );
        let security_code = render_security_code(&code);
        EpochSecrets {
            epoch,
            transcript_hash: *transcript_hash,
            epoch_secret,
            frame_secret,
            confirmation,
            security_code,
        }
    }

    /// The frame key and salt of `sender`'s stream `stream` in this epoch.
    pub fn sender_keys(&self, sender: u32, stream: u32) -> SenderKeys {
        SenderKeys::derive(&self.frame_secret, sender, stream)
    }
}

/// Renders 48 bytes of security-code material as 6 groups of 5 decimal digits.
pub fn render_security_code(code_bytes: &[u8; 48]) -> String {
    let groups: Vec<String> = code_bytes
        .chunks_exact(8)
        .map(|c| {
            let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            format!("{:05}", v % 100_000)
        })
        .collect();
    groups.join(" ")
}

/// A sender's frame key and salt for one stream of one epoch (`spec/key-schedule.md` section 8).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SenderKeys {
    /// ChaCha20-Poly1305 key.
    pub key: Secret<32>,
    /// Nonce salt.
    pub salt: Secret<12>,
}

impl SenderKeys {
    /// Derives the keys of (`sender`, `stream`) from an epoch's `frame_secret`.
    pub fn derive(frame_secret: &Secret<32>, sender: u32, stream: u32) -> Self {
        let mut ctx = [0u8; 8];
        ctx[..4].copy_from_slice(&sender.to_be_bytes());
        ctx[4..].copy_from_slice(&stream.to_be_bytes());
        let sender_secret = expand_secret(frame_secret.expose(), labels::SENDER, &ctx);
        let key = derive_secret(sender_secret.expose(), labels::FRAME_KEY);
        let mut salt = [0u8; 12];
        expand_with_label(sender_secret.expose(), labels::FRAME_SALT, &[], &mut salt);
        let salt_secret = Secret::from_bytes(salt);
        zeroize::Zeroize::zeroize(&mut salt);
        SenderKeys {
            key,
            salt: salt_secret,
        }
    }

    /// `nonce(ctr) = salt XOR (u32(0) || u64(ctr))`.
    pub fn nonce(&self, counter: u64) -> [u8; 12] {
        frame_nonce(self.salt.expose(), counter)
    }
}

/// `salt XOR (u32(0) || u64(counter))`.
pub fn frame_nonce(salt: &[u8; 12], counter: u64) -> [u8; 12] {
    let mut n = *salt;
    for (b, c) in n[4..].iter_mut().zip(counter.to_be_bytes()) {
        *b ^= c;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labeled_content_prefixes_length() {
        let c = labeled_content("commit", b"xyz");
        assert_eq!(c[0] as usize, "conclave v1 commit".len());
        assert_eq!(&c[1..19], b"conclave v1 commit");
        assert_eq!(&c[19..], b"xyz");
        assert_eq!(labeled_hash("commit", b"xyz"), {
            let d: [u8; 32] = Sha256::digest(&c).into();
            d
        });
    }

    #[test]
    fn transcript_next_matches_labeled_hash() {
        let prev = [7u8; 32];
        let mut content = prev.to_vec();
        content.extend_from_slice(b"commit bytes");
        assert_eq!(
            transcript_next(&prev, b"commit bytes"),
            labeled_hash(labels::TRANSCRIPT, &content)
        );
    }

    #[test]
    fn epoch_secrets_depend_on_every_input() {
        let root = Secret::from_bytes([1u8; 32]);
        let th = [2u8; 32];
        let base = EpochSecrets::derive(b"meeting-0123456789", 5, &th, &root);
        let other_epoch = EpochSecrets::derive(b"meeting-0123456789", 6, &th, &root);
        let other_th = EpochSecrets::derive(b"meeting-0123456789", 5, &[3u8; 32], &root);
        let other_root = EpochSecrets::derive(
            b"meeting-0123456789",
            5,
            &th,
            &Secret::from_bytes([9u8; 32]),
        );
        let other_meeting = EpochSecrets::derive(b"meeting-0123456780", 5, &th, &root);
        for o in [&other_epoch, &other_th, &other_root, &other_meeting] {
            assert_ne!(o.epoch_secret, base.epoch_secret);
            assert_ne!(o.security_code, base.security_code);
        }
        assert_eq!(base.security_code.len(), 6 * 5 + 5);
    }

    #[test]
    fn sender_keys_differ_per_sender_and_stream() {
        let fs = Secret::from_bytes([4u8; 32]);
        let a = SenderKeys::derive(&fs, 0, 0);
        assert_ne!(a, SenderKeys::derive(&fs, 1, 0));
        assert_ne!(a, SenderKeys::derive(&fs, 0, 1));
        assert_eq!(a, SenderKeys::derive(&fs, 0, 0));
    }

    #[test]
    fn nonce_xors_counter_into_low_bytes() {
        let salt = [0xFFu8; 12];
        let n = frame_nonce(&salt, 1);
        assert_eq!(&n[..11], &[0xFF; 11]);
        assert_eq!(n[11], 0xFE);
        assert_eq!(frame_nonce(&salt, 0), salt);
    }

    #[test]
    fn renders_digit_groups() {
        let fp = render_fingerprint(&[0u8; 32]);
        assert_eq!(fp, "00000 00000 00000 00000 00000 00000 00000 00000");
        let mut code = [0u8; 48];
        code[7] = 0xFF; // 255
        assert!(render_security_code(&code).starts_with("00255 "));
    }
}
