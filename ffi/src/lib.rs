//! uniffi bindings of Conclave for Swift, Kotlin and Python.
//!
//! The API has three objects:
//!
//! - [`Identity`]: a device's long-term identity key (generate it once, store
//!   [`Identity::export_secret`] in the platform keychain, re-import it with
//!   [`Identity::from_secret`]).
//! - [`Meeting`]: the control path. A sans-IO state machine: feed it the relay's bytes
//!   ([`Meeting::handle_message`]) and the time ([`Meeting::handle_timeout`]); send what
//!   [`Meeting::poll_transmit`] returns to the relay; show what [`Meeting::poll_events`] returns.
//! - [`FrameCrypto`]: the media hot path, shared with media threads
//!   ([`Meeting::frame_crypto`]). It may be called from any thread while the meeting changes keys.
//!
//! Every fallible call returns a [`ConclaveError`] saying what went wrong and with whom. No Rust
//! panic crosses the boundary by design (and uniffi would turn one into an internal error
//! rather than abort).
//!
//! **Time.** The library reads no clock: every call that needs the time takes `now_ms`, the
//! milliseconds of *any monotonic clock* (Android `SystemClock.elapsedRealtime()`, Apple
//! `clock_gettime_nsec_np(CLOCK_UPTIME_RAW) / 1_000_000`, Python `time.monotonic_ns() //
//! 1_000_000`, ...). Use the same clock for a meeting and its frame crypto. [`monotonic_now_ms`]
//! is such a clock, provided for convenience.
//!
//! **Randomness** comes from the operating system (`getrandom`); see [`Meeting::create`].

#![deny(missing_docs)]

uniffi::setup_scaffolding!("conclave");

mod admission;
mod error;
mod event;
mod frame;
mod frame_batch;
mod identity;
mod log;
mod media;
mod meeting;
mod rng;
mod seal;
mod session;
mod trace;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use admission::{AdmissionPolicy, JoinRefusal};
pub use error::ConclaveError;
pub use frame::{DecryptedFrame, FrameCrypto, SenderDiagnostics};
pub use frame_batch::{
    BATCH_FAILED, BATCH_OK, DECRYPT_INPUT_HEADER, DECRYPT_OUTPUT_HEADER, ENCRYPT_INPUT_HEADER,
    ENCRYPT_OUTPUT_HEADER, FrameBatch, FrameBatchLimits, FrameFailure, MAX_FRAME_BATCH,
    MAX_FRAME_BATCH_BYTES, PackedBytes, frame_batch_limits,
};
pub use identity::Identity;
pub use log::{LogLevel, LogRecord, Logger, set_logger};
pub use media::{MediaCodec, media_is_keyframe};
pub use meeting::{
    CipherSuite, Destination, Meeting, MeetingEvent, MeetingOptions, Participant, RemovalReason,
    Transmit, cipher_suite_id, default_meeting_options, supported_cipher_suites,
};
pub use seal::{SealExecutor, SealTask};
pub use session::{CallbackError, Listener, MeetingSession, Recipient, Transport};
pub use trace::MAX_LOG_SPANS;

/// Milliseconds elapsed on the system's monotonic clock since the first call of this function in
/// this process (the first call returns 0).
///
/// A convenience clock for `now_ms` arguments: it never goes backwards and is unaffected by
/// wall-clock changes. Any other monotonic millisecond clock works as well, as long as one meeting
/// and its frame crypto always get the time from the same clock.
#[uniffi::export]
pub fn monotonic_now_ms() -> i64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Instant::now);
    to_ms(origin.elapsed())
}

/// The version of this library (the Cargo package version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Converts a caller's millisecond timestamp to the engine's `Duration`; negative is an
/// `InvalidArgument`.
pub(crate) fn ms(now_ms: i64) -> Result<Duration, ConclaveError> {
    u64::try_from(now_ms)
        .map(Duration::from_millis)
        .map_err(|_| {
            ConclaveError::invalid(format!(
                "a time in milliseconds must not be negative (got {now_ms})"
            ))
        })
}

/// Converts a `Duration` to whole milliseconds (saturating at `i64::MAX`).
pub(crate) fn to_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An engine counter or epoch as the signed 64-bit integer of the bindings (saturating; epochs
/// and counters stay far below 2^63).
pub(crate) fn out64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An engine index (leaf, stream, suite id, ...) as the signed 32-bit integer of the bindings
/// (saturating).
pub(crate) fn out32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A caller's non-negative 32-bit argument for the engine; negative is an `InvalidArgument`.
pub(crate) fn arg32(name: &str, v: i32) -> Result<u32, ConclaveError> {
    u32::try_from(v)
        .map_err(|_| ConclaveError::invalid(format!("{name} must not be negative (got {v})")))
}
