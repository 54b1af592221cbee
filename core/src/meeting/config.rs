//! Configuration and the protocol constants of `spec/state-machine.md` section 17 (limits)
//! and section 11 (timer values).

use super::{AdmissionPolicy, MeetingError};
#[cfg(doc)]
use super::{Event, Meeting, RemovalReason, SealJob};
use crate::CipherSuite;
use crate::frame::FrameConfig;
use crate::provider::Provider;
use conclave_protocol::limits::{DEFAULT_MAX_PARTICIPANTS, MAX_PARTICIPANTS};
use std::time::Duration;

/// Interval between leader heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Heartbeat intervals without a heartbeat after which a member declares the leader failed.
pub const MISSED_HEARTBEATS_LIMIT: u32 = 3;
/// How long a member waits for its liveness nonce to be echoed before reporting a stale view.
pub const LIVENESS_ECHO_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest time senders keep using the previous epoch after processing a commit.
pub const SWITCH_DELAY: Duration = Duration::from_secs(2);
/// Default interval of periodic key rotation.
pub const ROTATION_INTERVAL: Duration = Duration::from_secs(300);
/// Most commits buffered ahead of a gap; also the window: a commit more than this many epochs
/// ahead of the current one is not buffered (COM-5).
pub const MAX_PENDING_COMMITS: usize = 8;
/// Most bytes of buffered commits (encoded, as received) a participant keeps (COM-2, COM-5).
pub const MAX_PENDING_COMMIT_BYTES: usize = 8 * 1024 * 1024;
/// Heartbeat intervals a leader waits for its newest epoch to become stable (STB-3) before it
/// concludes that it lost the majority and ends.
pub const STABILITY_TIMEOUT_INTERVALS: u32 = 6;
/// Most announcements a leader queues for its next commit.
pub const MAX_PENDING_ANNOUNCEMENTS: usize = 256;
/// Most Welcomes buffered while their commit is missing.
pub const MAX_PENDING_WELCOMES: usize = 2;
/// Most queued outgoing messages and events before the oldest are dropped.
pub const MAX_QUEUE: usize = 65_536;
/// Largest decrypted `PathSecrets` (a leaf and 15 path keys need about 600 bytes).
pub const MAX_PATH_SECRETS_SIZE: usize = 4096;
/// Heartbeat intervals without any signed message from a member (liveness nonces come every
/// interval) after which the leader removes it as timed out.
pub const MEMBER_TIMEOUT_INTERVALS: u32 = 6;
/// Liveness timeouts without keys for the current epoch after which a member gives up and ends
/// with [`RemovalReason::TimedOut`] (it was removed without seeing it, or is cut off).
pub const KEYLESS_TIMEOUTS: u32 = 2;
/// After the relay says the leader's connection closed, how long a member waits for a sign of
/// life from the leader before it treats it as failed (VOTE-0).
pub const HINT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(1);
/// Shortest gap between two heartbeats a leader sends to answer probes (VOTE-0).
pub const PROBE_ANSWER_GAP: Duration = Duration::from_millis(250);

/// Tunable behaviour of a meeting. Defaults follow `spec/README.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingConfig {
    /// Largest number of participants (`1..=MAX_PARTICIPANTS`).
    pub max_participants: usize,
    /// Interval between leader heartbeats.
    pub heartbeat_interval: Duration,
    /// Missed heartbeat intervals before the leader is considered failed.
    pub missed_heartbeats_limit: u32,
    /// Periodic rotation interval (`None` disables it).
    pub rotation_interval: Option<Duration>,
    /// How long to wait for a liveness echo before reporting a stale view.
    pub liveness_timeout: Duration,
    /// How long a leader waits to batch changes into one commit.
    pub commit_delay: Duration,
    /// Longest time senders keep the previous epoch after a commit.
    pub switch_delay: Duration,
    /// Frame encryption settings (replay window, epoch grace).
    pub frames: FrameConfig,
    /// Cipher suites this participant supports and announces (`spec/suites.md`); the meeting
    /// uses the strongest suite every member supports.
    pub suites: Vec<CipherSuite>,
    /// Refuse any epoch whose key distribution is not post-quantum (suite 2): the participant
    /// leaves (or does not join) rather than accept classical-only key distribution.
    pub require_post_quantum: bool,
    /// Hand the Welcomes of a rebuild (failover, handover: one HPKE seal per member) to the
    /// application as [`SealJob`]s ([`Meeting::poll_seal_job`]) instead of sealing them inline,
    /// so it can spread them over its threads. The engine itself never starts threads.
    pub offload_rebuild_sealing: bool,
    /// Who the leader admits (`spec/state-machine.md` ANN-12): automatically, on the
    /// application's decision ([`Event::JoinRequested`], [`Meeting::admit`]), or an allow-list.
    pub admission: AdmissionPolicy,
    /// The crypto provider for identity signatures and HPKE ([`crate::provider`]); every
    /// provider produces the same wire results. Default: [`crate::provider::RustCrypto`].
    pub provider: Provider,
}

impl Default for MeetingConfig {
    fn default() -> Self {
        Self {
            max_participants: DEFAULT_MAX_PARTICIPANTS,
            heartbeat_interval: HEARTBEAT_INTERVAL,
            missed_heartbeats_limit: MISSED_HEARTBEATS_LIMIT,
            rotation_interval: Some(ROTATION_INTERVAL),
            liveness_timeout: LIVENESS_ECHO_TIMEOUT,
            commit_delay: Duration::ZERO,
            switch_delay: SWITCH_DELAY,
            frames: FrameConfig::default(),
            suites: CipherSuite::ALL.to_vec(),
            require_post_quantum: false,
            offload_rebuild_sealing: false,
            admission: AdmissionPolicy::Automatic,
            provider: Provider::default(),
        }
    }
}

pub(super) const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

pub(super) fn check_config(config: &MeetingConfig) -> Result<(), MeetingError> {
    if config.max_participants == 0 || config.max_participants > MAX_PARTICIPANTS {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: format!(
                "max_participants {} must be 1..={MAX_PARTICIPANTS}",
                config.max_participants
            ),
        });
    }
    super::admission::check_policy(&config.admission)?;
    let mut ids: Vec<u32> = config.suites.iter().map(|s| s.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() != config.suites.len() {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "suites must list at least one suite, each once".into(),
        });
    }
    if config.require_post_quantum && !config.suites.iter().any(|s| s.is_post_quantum()) {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "require_post_quantum needs a post-quantum suite in suites".into(),
        });
    }
    if config.heartbeat_interval.is_zero() || config.missed_heartbeats_limit == 0 {
        return Err(MeetingError::Invalid {
            message: "config",
            reason: "heartbeat interval and missed heartbeat limit must be positive".into(),
        });
    }
    Ok(())
}
