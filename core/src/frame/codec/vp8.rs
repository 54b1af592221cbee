//! VP8 frames (RFC 6386): the RFC 7741 payload header stays clear (`spec/frames.md`
//! section 6.2).
//!
//! The first 3 bytes (the frame tag: `P` inverse keyframe bit, version, `show_frame`, first
//! partition size) on every frame, and on a keyframe the next 7 as well (start code
//! `9d 01 2a`, width and height with their scaling bits): 10 bytes. SFUs detect keyframes from
//! the `P` bit and resolution changes from the keyframe header; packetizers read the first
//! partition's size. (DAVE keeps 1 byte of a delta frame; LiveKit keeps 3.)

use super::{Codec, invalid};
use crate::frame::FrameError;
use crate::frame::ranges::ClearRanges;

/// Clear bytes of a keyframe.
const KEYFRAME_CLEAR: usize = 10;
/// Clear bytes of a delta frame.
const DELTA_CLEAR: usize = 3;

pub(super) fn is_keyframe(frame: &[u8]) -> Result<bool, FrameError> {
    let b = frame.first().ok_or(invalid(Codec::Vp8, "empty frame"))?;
    Ok(b & 1 == 0)
}

pub(super) fn clear_ranges(frame: &[u8]) -> Result<ClearRanges, FrameError> {
    let n = if is_keyframe(frame)? {
        if frame.get(3..6) != Some(&[0x9D, 0x01, 0x2A][..]) {
            return Err(invalid(Codec::Vp8, "keyframe without start code"));
        }
        if frame.len() < KEYFRAME_CLEAR {
            return Err(invalid(Codec::Vp8, "truncated keyframe header"));
        }
        KEYFRAME_CLEAR
    } else {
        if frame.len() < DELTA_CLEAR {
            return Err(invalid(Codec::Vp8, "truncated frame tag"));
        }
        DELTA_CLEAR
    };
    ClearRanges::prefix(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_header() {
        let key = [
            0x50, 0x2D, 0x01, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01, 0xAA,
        ];
        assert_eq!(clear_ranges(&key).unwrap().prefix_len(), Some(10));
        assert!(is_keyframe(&key).unwrap());
        let delta = [0x31, 0x05, 0x00, 0xAA];
        assert_eq!(clear_ranges(&delta).unwrap().prefix_len(), Some(3));
        assert!(!is_keyframe(&delta).unwrap());
        assert!(clear_ranges(&key[..9]).is_err());
        assert!(clear_ranges(&[0x50, 0, 0, 1, 2, 3, 4, 5, 6, 7]).is_err());
        assert!(clear_ranges(&[0x31, 0]).is_err());
        assert!(clear_ranges(&[]).is_err());
    }
}
