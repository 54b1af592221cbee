//! Media frame encryption (`spec/frames.md`).
//!
//! [`FrameCrypto`] encrypts the local participant's media frames and decrypts everyone else's.
//! It is `Send + Sync`: media threads call [`FrameCrypto::encrypt_into`] and
//! [`FrameCrypto::decrypt_into`] while the control path calls [`FrameCrypto::install_epoch`].
//! Key snapshots are published with `arc-swap`, so a key change never blocks a media thread for
//! longer than a pointer swap. The library reads no clock: the caller passes the time (a
//! monotonic `Duration` since any fixed origin).
//!
//! ```
//! use core::time::Duration;
//! use conclave_core::{Secret, frame::{FrameConfig, FrameCrypto}};
//!
//! let secret = Secret::from_bytes([7u8; 32]); // an epoch's frame_secret
//! let alice = FrameCrypto::new(FrameConfig::default())?;
//! alice.set_own_sender(0)?;
//! alice.install_epoch(1, &secret, Duration::ZERO)?;
//! let bob = FrameCrypto::new(FrameConfig::default())?;
//! bob.set_own_sender(1)?;
//! bob.install_epoch(1, &secret, Duration::ZERO)?;
//!
//! let frame = alice.encrypt(0, b"\x90opus payload", 1)?; // 1 clear prefix byte
//! let got = bob.decrypt(&frame, Duration::from_millis(20))?;
//! assert_eq!((got.sender, got.stream, got.epoch), (0, 0, 1));
//! assert_eq!(got.plaintext, b"\x90opus payload");
//! # Ok::<(), conclave_core::frame::FrameError>(())
//! ```

mod backend;
pub mod codec;
mod crypto;
mod error;
mod media;
mod ranges;
mod replay;
mod seal;
mod stats;
mod trailer;

#[cfg(feature = "ring")]
pub use backend::RingBackend;
pub use backend::{
    AeadBackend, AeadFailure, DefaultBackend, KEY_LEN, NONCE_LEN, RustCryptoBackend,
};
pub use codec::Codec;
pub use crypto::{
    Decrypted, DecryptedInfo, FrameConfig, FrameCrypto, max_frame_len, max_plaintext_len,
};
pub use error::{FrameError, FrameErrorKind, TooOldCause};
pub use ranges::ClearRanges;
pub use replay::{ReplayCheck, ReplayWindow};
pub use stats::{RejectionCounts, SenderStats};
pub use trailer::{
    FLAGS_NO_PREFIX, FLAGS_WITH_PREFIX, FLAGS_WITH_RANGES, FrameHeader, MAX_HEADER_LEN,
    MAX_TRAILER_LEN, MAX_VARINT_LEN, ParsedHeader, TAG_LEN, read_bvarint, varint_len,
    write_bvarint,
};

use core::time::Duration;

/// Largest frame plaintext, clear prefix included (bytes).
pub const MAX_FRAME_PLAINTEXT: usize = 1024 * 1024;
/// Largest unencrypted prefix (bytes).
pub const MAX_CLEAR_PREFIX: usize = 255;
/// Most clear ranges in one frame.
pub const MAX_CLEAR_RANGES: usize = 256;
/// Most clear bytes in one frame (all ranges together).
pub const MAX_CLEAR_BYTES: usize = 4096;
/// Most NAL units of one H.264/H.265 Annex B frame brought to canonical form
/// (`spec/frames.md` section 6.4); a frame with more is [`FrameError::InvalidMedia`]. The
/// canonical form writes every start code with 4 bytes, so it is at most this many bytes longer
/// than the frame.
pub const MAX_UNITS: usize = 4 * MAX_CLEAR_RANGES;
/// Most seals of one H.26x frame before [`FrameError::StartCodeEmulation`]: each seal whose
/// output emulates a start code is redone under the next counter.
pub const MAX_SEAL_ATTEMPTS: usize = 16;
/// Largest frame counter: `2^48 - 1`.
pub const MAX_FRAME_COUNTER: u64 = (1 << 48) - 1;
/// Default size of the replay window (counters).
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
/// Smallest configurable replay window.
pub const MIN_REPLAY_WINDOW: u32 = 64;
/// Largest configurable replay window.
pub const MAX_REPLAY_WINDOW: u32 = 65_536;
/// Most epochs whose keys a receiver keeps (the current one and the previous one).
pub const MAX_RETAINED_EPOCHS: usize = 2;
/// Default time the previous epoch's keys are kept after a newer epoch is installed
/// (`EPOCH_GRACE` in the spec).
pub const DEFAULT_EPOCH_GRACE: Duration = Duration::from_secs(10);
/// Most streams per sender per epoch whose keys and replay windows are kept. Frames of further
/// streams fail with [`FrameError::StreamLimit`].
pub const MAX_STREAMS_PER_SENDER: usize = 16;
