//! VP9 frames and superframes: the start of the uncompressed header stays clear
//! (`spec/frames.md` section 6.3).
//!
//! RFC 9628's payload descriptor is written by the packetizer from encoder metadata, but
//! packetizers that see only the bitstream (GStreamer's `rtpvp9pay`) and SFUs read the frame
//! type from the first byte (`frame_marker`, profile, `show_existing_frame`, `frame_type`) and,
//! on a keyframe, the frame size. So: the first byte of every frame, and the first 10 bytes of
//! a keyframe, which cover the sync code, color config and `frame_width_minus_1` /
//! `frame_height_minus_1` for every profile (at most 74 bits). The superframe index at the end
//! of a superframe is encrypted: only the decoder reads it, after decryption.

use super::{Codec, invalid};
use crate::frame::FrameError;
use crate::frame::ranges::ClearRanges;

/// Clear bytes of a keyframe.
const KEYFRAME_CLEAR: usize = 10;

pub(super) fn is_keyframe(frame: &[u8]) -> Result<bool, FrameError> {
    let b = *frame.first().ok_or(invalid(Codec::Vp9, "empty frame"))?;
    if b >> 6 != 0b10 {
        return Err(invalid(Codec::Vp9, "bad frame marker"));
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    // Bits after the profile: reserved_zero (profile 3), show_existing_frame, frame_type.
    let mut shift = 3u8;
    if profile == 3 {
        shift -= 1;
    }
    let show_existing = (b >> shift) & 1;
    let frame_type = (b >> (shift - 1)) & 1;
    Ok(show_existing == 0 && frame_type == 0)
}

pub(super) fn clear_ranges(frame: &[u8]) -> Result<ClearRanges, FrameError> {
    if is_keyframe(frame)? {
        if frame.len() < KEYFRAME_CLEAR {
            return Err(invalid(Codec::Vp9, "truncated keyframe header"));
        }
        // Byte-aligned after an 8-bit first byte (profiles 0 to 2).
        let profile3 = frame.first().is_some_and(|b| b & 0x30 == 0x30);
        if !profile3 && frame.get(1..4) != Some(&[0x49, 0x83, 0x42][..]) {
            return Err(invalid(Codec::Vp9, "keyframe without sync code"));
        }
        ClearRanges::prefix(KEYFRAME_CLEAR)
    } else {
        ClearRanges::prefix(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_types() {
        // Profile 0 keyframe: 10 0 0 0 0 1 0 = 0x82, sync code 49 83 42.
        let key = [
            0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xF0, 0x0B, 0x3F, 0x00, 0xAA,
        ];
        assert!(is_keyframe(&key).unwrap());
        assert_eq!(clear_ranges(&key).unwrap().prefix_len(), Some(10));
        // Profile 0 inter frame: 10 0 0 0 1 1 0 = 0x86.
        assert!(!is_keyframe(&[0x86, 0]).unwrap());
        assert_eq!(clear_ranges(&[0x86, 0]).unwrap().prefix_len(), Some(1));
        // show_existing_frame.
        assert!(!is_keyframe(&[0x88]).unwrap());
        // Profile 3 keyframe: 10 1 1 0 0 0 1 = 0xB1; inter: 0xB3.
        assert!(is_keyframe(&[0xB1]).unwrap());
        assert!(!is_keyframe(&[0xB3]).unwrap());
        assert!(clear_ranges(&key[..9]).is_err());
        assert!(clear_ranges(&[0x42]).is_err());
        assert!(clear_ranges(&[0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(clear_ranges(&[]).is_err());
    }
}
