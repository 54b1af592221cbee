//! Codec-aware media encryption (`spec/frames.md` section 6): the bytes RTP packetizers and SFUs
//! read stay in place and in the clear (authenticated), the rest is encrypted.

use conclave_core::frame::Codec;
use conclave_core::frame::codec::is_keyframe;

use crate::frame::{DecryptedFrame, FrameCrypto};
use crate::{ConclaveError, arg32, ms, out32, out64};

/// A codec whose frames [`FrameCrypto::encrypt_media`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MediaCodec {
    /// Opus packets: nothing clear.
    Opus,
    /// VP8 frames: the RFC 7741 payload header clear (10 bytes on a keyframe, 3 otherwise).
    Vp8,
    /// VP9 frames: the first byte clear, 10 bytes on a keyframe.
    Vp9,
    /// H.264 access units, Annex B (start codes): start codes, NAL and slice headers and
    /// parameter sets clear.
    H264,
    /// H.264 access units, AVCC (4-byte length prefixes).
    H264Avcc,
    /// H.265 access units, Annex B.
    H265,
    /// AV1 temporal units (OBUs with size fields): OBU headers, sizes and sequence headers clear.
    Av1,
}

impl From<MediaCodec> for Codec {
    fn from(c: MediaCodec) -> Codec {
        match c {
            MediaCodec::Opus => Codec::Opus,
            MediaCodec::Vp8 => Codec::Vp8,
            MediaCodec::Vp9 => Codec::Vp9,
            MediaCodec::H264 => Codec::H264,
            MediaCodec::H264Avcc => Codec::H264Avcc,
            MediaCodec::H265 => Codec::H265,
            MediaCodec::Av1 => Codec::Av1,
        }
    }
}

#[uniffi::export]
impl FrameCrypto {
    /// Encrypts the `codec` frame `frame` (one encoded frame or access unit, as the encoder
    /// produced it) as a frame of `stream`: what packetizers and SFUs read stays clear and in
    /// place, the rest is encrypted, and a trailer is appended (about 21 to 30 bytes).
    ///
    /// Fails with `InvalidArgument` for a frame that is not a valid bitstream of `codec` or is
    /// too large, and like [`FrameCrypto::encrypt`] otherwise.
    pub fn encrypt_media(
        &self,
        codec: MediaCodec,
        stream: i32,
        frame: Vec<u8>,
    ) -> Result<Vec<u8>, ConclaveError> {
        self.engine()
            .encrypt_media(codec.into(), arg32("stream", stream)?, &frame)
            .map_err(|e| match e {
                conclave_core::frame::FrameError::InvalidMedia { .. } => {
                    ConclaveError::InvalidArgument {
                        kind: e.kind().as_str().into(),
                        reason: e.to_string(),
                    }
                }
                e => ConclaveError::from_frame(e),
            })
    }

    /// Decrypts a frame made by [`FrameCrypto::encrypt_media`] with the same `codec`, received
    /// at `now_ms`, and returns the codec frame. Fails like [`FrameCrypto::decrypt`], and with
    /// `Decode` when the received frame is not a valid bitstream of `codec`.
    pub fn decrypt_media(
        &self,
        codec: MediaCodec,
        frame: Vec<u8>,
        now_ms: i64,
    ) -> Result<DecryptedFrame, ConclaveError> {
        let d = self
            .engine()
            .decrypt_media(codec.into(), &frame, ms(now_ms)?)
            .map_err(ConclaveError::from_frame)?;
        Ok(DecryptedFrame {
            sender: out32(d.sender),
            stream: out32(d.stream),
            epoch: out64(d.epoch),
            counter: out64(d.counter),
            // At most MAX_CLEAR_PREFIX (255).
            prefix_len: i32::try_from(d.prefix_len).unwrap_or(i32::MAX),
            plaintext: d.plaintext,
        })
    }
}

/// Whether `frame` (clear or encrypted by [`FrameCrypto::encrypt_media`]: only clear bytes are
/// read) starts a new decodable sequence: what an SFU checks before forwarding a new layer.
#[uniffi::export]
pub fn media_is_keyframe(codec: MediaCodec, frame: Vec<u8>) -> Result<bool, ConclaveError> {
    is_keyframe(codec.into(), &frame).map_err(ConclaveError::from_frame)
}
