//! The configuration of a [`FrameCrypto`], what decryption returns, and the
//! frame length bounds.

use core::time::Duration;

#[cfg(doc)]
use super::FrameCrypto;

use crate::frame::trailer::{MAX_TRAILER_LEN, TAG_LEN};
use crate::frame::{
    DEFAULT_EPOCH_GRACE, DEFAULT_REPLAY_WINDOW, FrameError, MAX_FRAME_COUNTER, MAX_FRAME_PLAINTEXT,
    MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW,
};

/// Configuration of a [`FrameCrypto`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameConfig {
    /// Replay window size in counters (`REPLAY_WINDOW`), from `MIN_REPLAY_WINDOW` (64) to
    /// `MAX_REPLAY_WINDOW` (65,536). Default `DEFAULT_REPLAY_WINDOW` (1,024).
    pub replay_window: u32,
    /// How long the previous epoch's keys stay usable for decryption after a newer epoch is
    /// installed (`EPOCH_GRACE`). Default `DEFAULT_EPOCH_GRACE` (10 s).
    pub epoch_grace: Duration,
    /// **For testing only.** The first counter of every send stream in every epoch (default 0).
    /// Lets tests reach `MAX_FRAME_COUNTER` without sealing 2^48 frames. Must be at most
    /// `MAX_FRAME_COUNTER`.
    pub initial_send_counter: u64,
}

impl Default for FrameConfig {
    fn default() -> Self {
        FrameConfig {
            replay_window: DEFAULT_REPLAY_WINDOW,
            epoch_grace: DEFAULT_EPOCH_GRACE,
            initial_send_counter: 0,
        }
    }
}

impl FrameConfig {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), FrameError> {
        if !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&self.replay_window) {
            return Err(FrameError::InvalidConfig {
                reason: "replay_window must be in 64..=65536",
            });
        }
        if self.initial_send_counter > MAX_FRAME_COUNTER {
            return Err(FrameError::InvalidConfig {
                reason: "initial_send_counter above MAX_FRAME_COUNTER",
            });
        }
        Ok(())
    }
}

/// A decrypted frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The sender's leaf index.
    pub sender: u32,
    /// The stream id.
    pub stream: u32,
    /// The epoch the frame was sealed in.
    pub epoch: u64,
    /// The frame counter.
    pub counter: u64,
    /// Length of the clear prefix at the start of `plaintext` (trailer mode `P`); 0 for a frame
    /// without clear bytes or with a list of clear ranges.
    pub prefix_len: usize,
    /// The plaintext, clear prefix included.
    pub plaintext: Vec<u8>,
}

impl Decrypted {
    /// The result of a decryption into `plaintext` that wrote what `info` says (the buffer is
    /// cut to `info.len`).
    pub(crate) fn from_buffer(info: DecryptedInfo, mut plaintext: Vec<u8>) -> Self {
        plaintext.truncate(info.len);
        Decrypted {
            sender: info.sender,
            stream: info.stream,
            epoch: info.epoch,
            counter: info.counter,
            prefix_len: info.prefix_len,
            plaintext,
        }
    }
}

impl core::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("sender", &self.sender)
            .field("stream", &self.stream)
            .field("epoch", &self.epoch)
            .field("counter", &self.counter)
            .field("prefix_len", &self.prefix_len)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// What [`FrameCrypto::decrypt_into`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptedInfo {
    /// The sender's leaf index.
    pub sender: u32,
    /// The stream id.
    pub stream: u32,
    /// The epoch the frame was sealed in.
    pub epoch: u64,
    /// The frame counter.
    pub counter: u64,
    /// Length of the clear prefix at the start of the output (trailer mode `P`); 0 for a frame
    /// without clear bytes or with a list of clear ranges.
    pub prefix_len: usize,
    /// Length of the plaintext written to the output, clear prefix included.
    pub len: usize,
}

/// An upper bound of the frame length for a plaintext of `plaintext_len` bytes:
/// `plaintext_len + MAX_TRAILER_LEN + min(plaintext_len / 4, MAX_UNITS)`. A buffer of this size
/// is always large enough for [`FrameCrypto::encrypt_into`] and
/// [`FrameCrypto::encrypt_media_into`]: the last term is the most an H.264/H.265 frame grows in
/// canonical form (one byte per 3-byte start code, each unit taking at least 4 bytes;
/// `spec/frames.md` section 6.4).
pub fn max_frame_len(plaintext_len: usize) -> usize {
    plaintext_len
        .saturating_add(MAX_TRAILER_LEN)
        .saturating_add(canonical_growth(plaintext_len))
}

/// An upper bound of the plaintext that [`FrameCrypto::decrypt_into`] and
/// [`FrameCrypto::decrypt_media_into`] write from a frame of `frame_len` bytes:
/// `frame_len - 16 + min(frame_len / 4, MAX_UNITS)`. The last term covers an H.264/H.265 frame
/// whose start codes a depacketizer shortened to 3 bytes: its canonical form, which is
/// decrypted, is one byte longer per unit (`spec/frames.md` section 6.4).
pub fn max_plaintext_len(frame_len: usize) -> usize {
    frame_len
        .saturating_sub(TAG_LEN)
        .saturating_add(canonical_growth(frame_len))
}

/// The most an Annex B frame of `len` bytes grows in canonical form.
fn canonical_growth(len: usize) -> usize {
    (len / 4).min(crate::frame::MAX_UNITS)
}

/// Fails with `TooLarge` if a plaintext of `len` bytes is over `MAX_FRAME_PLAINTEXT`.
pub(crate) fn check_plaintext_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME_PLAINTEXT {
        return Err(FrameError::TooLarge {
            what: "frame plaintext",
            len,
            max: MAX_FRAME_PLAINTEXT,
        });
    }
    Ok(())
}
