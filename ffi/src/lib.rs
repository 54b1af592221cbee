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
mod frame;
mod identity;
mod media;
mod meeting;
mod rng;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use admission::{AdmissionPolicy, JoinRefusal};
pub use error::ConclaveError;
pub use frame::{DecryptedFrame, FrameCrypto, SenderDiagnostics};
pub use identity::Identity;
pub use media::{MediaCodec, media_is_keyframe};
pub use meeting::{
    CipherSuite, Destination, Meeting, MeetingEvent, MeetingOptions, Participant, RemovalReason,
    Transmit, cipher_suite_id, default_meeting_options, supported_cipher_suites,
};

/// Milliseconds elapsed on the system's monotonic clock since the first call of this function in
/// this process (the first call returns 0).
///
/// A convenience clock for `now_ms` arguments: it never goes backwards and is unaffected by
/// wall-clock changes. Any other monotonic millisecond clock works as well, as long as one meeting
/// and its frame crypto always get the time from the same clock.
#[uniffi::export]
pub fn monotonic_now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The version of this library (the Cargo package version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Converts a caller's millisecond timestamp to the engine's `Duration`.
pub(crate) fn ms(now_ms: u64) -> Duration {
    Duration::from_millis(now_ms)
}

/// Converts a `Duration` to whole milliseconds (saturating).
pub(crate) fn to_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
