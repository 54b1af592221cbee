//! Opus packets (RFC 6716): nothing stays clear (`spec/frames.md` section 6.1).
//!
//! The RTP payload format (RFC 7587) carries the packet as it is: neither `rtpopuspay` nor
//! libwebrtc's packetizer reads the TOC byte, and an SFU learns what it needs (audio level,
//! voice activity) from RTP header extensions, not from the payload. Keeping the TOC clear would
//! reveal the mode, bandwidth and frame size of every packet for no gain.

use super::{Codec, invalid};
use crate::frame::FrameError;
use crate::frame::ranges::ClearRanges;

pub(super) fn clear_ranges(frame: &[u8]) -> Result<ClearRanges, FrameError> {
    if frame.is_empty() {
        return Err(invalid(Codec::Opus, "empty packet"));
    }
    Ok(ClearRanges::new())
}
