//! Codec processors (`spec/frames.md` section 6): which bytes of a codec frame stay in the
//! clear so that RTP packetizers, depacketizers and SFUs still work on the encrypted frame.
//!
//! One file per codec. Every processor reads its input with bounds-checked accessors and
//! returns [`FrameError::InvalidMedia`] for a bitstream it cannot parse; none panics.
//!
//! [`is_keyframe`] reads only clear bytes, so an SFU can run it on encrypted frames and gets the
//! same answer as on the clear ones.

mod av1;
mod bits;
mod h264;
mod h265;
mod nal;
mod opus;
mod scan;
mod vp8;
mod vp9;

use super::FrameError;
use super::ranges::ClearRanges;
use super::seal::Patch;

/// A codec whose frames [`FrameCrypto::encrypt_media`](super::FrameCrypto::encrypt_media)
/// encrypts with codec-specific clear ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus packets (RFC 6716): nothing clear.
    Opus,
    /// VP8 frames (RFC 6386): the RFC 7741 payload header (10 bytes on a keyframe, 3 otherwise).
    Vp8,
    /// VP9 frames (one frame or a superframe): the first byte, or 10 bytes of a keyframe.
    Vp9,
    /// H.264 access units in Annex B byte-stream format (start codes).
    H264,
    /// H.264 access units in AVCC format (4-byte big-endian length prefixes).
    H264Avcc,
    /// H.265 access units in Annex B byte-stream format (start codes).
    H265,
    /// AV1 temporal units in the low-overhead bitstream format (OBUs with size fields).
    Av1,
}

impl Codec {
    /// Every codec, in declaration order.
    pub const ALL: [Codec; 7] = [
        Codec::Opus,
        Codec::Vp8,
        Codec::Vp9,
        Codec::H264,
        Codec::H264Avcc,
        Codec::H265,
        Codec::Av1,
    ];

    /// A short lowercase name (`"h264"`, `"h264-avcc"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
            Codec::H264 => "h264",
            Codec::H264Avcc => "h264-avcc",
            Codec::H265 => "h265",
            Codec::Av1 => "av1",
        }
    }

    /// The codec named `name` (as returned by [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether output must be checked for start-code emulation (H.26x byte streams).
    pub fn scans_start_codes(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265)
    }
}

impl core::fmt::Display for Codec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an invalid frame of `codec`.
pub(crate) fn invalid(codec: Codec, reason: &'static str) -> FrameError {
    FrameError::InvalidMedia { codec, reason }
}

/// What the sender seals: the clear ranges and a codec patch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) clear: ClearRanges,
    pub(crate) patch: Patch,
}

/// The clear ranges of `frame` (for AV1, of its canonical form: see [`av1_canonical`]).
///
/// This is what [`FrameCrypto::encrypt_media`](super::FrameCrypto::encrypt_media) leaves in
/// the clear; exposed for tests and diagnostics.
pub fn clear_ranges(codec: Codec, frame: &[u8]) -> Result<ClearRanges, FrameError> {
    layout(codec, frame).map(|l| l.clear)
}

pub(crate) fn layout(codec: Codec, frame: &[u8]) -> Result<Layout, FrameError> {
    let clear = |clear| Layout {
        clear,
        patch: Patch::None,
    };
    match codec {
        Codec::Opus => opus::clear_ranges(frame).map(clear),
        Codec::Vp8 => vp8::clear_ranges(frame).map(clear),
        Codec::Vp9 => vp9::clear_ranges(frame).map(clear),
        Codec::H264 | Codec::H265 => {
            nal::annexb_walk(codec, frame, annexb_rules(codec), RANGES).map(|w| clear(w.ranges))
        }
        Codec::H264Avcc => {
            let (ranges, last) = nal::avcc_ranges(codec, frame, h264::clear_len)?;
            Ok(Layout {
                clear: ranges,
                patch: Patch::AddTrailerLen(last),
            })
        }
        Codec::Av1 => av1::clear_ranges(frame).map(clear),
    }
}

/// The rules of an Annex B codec (H.264 for anything but H.265).
fn annexb_rules(codec: Codec) -> &'static nal::Rules {
    match codec {
        Codec::H265 => &h265::RULES,
        _ => &h264::RULES,
    }
}

const RANGES: nal::Want = nal::Want {
    ranges: true,
    canonical: false,
};

/// What the sender checks on a sealed frame before sending it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutputCheck {
    /// Nothing.
    None,
    /// No start-code emulation (Annex B, `spec/frames.md` section 6.4): the input had this many
    /// `00 00 00`/`00 00 01` positions, all in start codes.
    StartCodes(usize),
}

impl OutputCheck {
    /// Whether `sealed` passes the check.
    pub(crate) fn accepts(self, sealed: &[u8]) -> bool {
        match self {
            OutputCheck::None => true,
            OutputCheck::StartCodes(patterns) => nal::annexb_output_ok(patterns, sealed),
        }
    }
}

/// What the sender seals for one frame: its canonical form if it differs from the frame, the
/// layout of what is sealed, and the check of the output.
pub(crate) struct Prepared {
    pub(crate) canonical: Option<Vec<u8>>,
    pub(crate) layout: Layout,
    pub(crate) check: OutputCheck,
}

/// Computes everything the sender needs for `frame` in as few passes as possible: one pass over
/// an Annex B frame already in canonical form (the usual case), three otherwise.
pub(crate) fn prepare(codec: Codec, frame: &[u8]) -> Result<Prepared, FrameError> {
    if !codec.scans_start_codes() {
        let canonical = canonical(codec, frame)?;
        let layout = layout(codec, canonical.as_deref().unwrap_or(frame))?;
        return Ok(Prepared {
            canonical,
            layout,
            check: OutputCheck::None,
        });
    }
    let rules = annexb_rules(codec);
    let both = nal::Want {
        ranges: true,
        canonical: true,
    };
    let mut walk = nal::annexb_walk(codec, frame, rules, both)?;
    let mut canonical = None;
    if !walk.canonical {
        canonical = nal::annexb_canonical(codec, frame, rules)?;
        walk = nal::annexb_walk(codec, canonical.as_deref().unwrap_or(frame), rules, RANGES)?;
    }
    Ok(Prepared {
        canonical,
        layout: Layout {
            clear: walk.ranges,
            patch: Patch::None,
        },
        check: OutputCheck::StartCodes(walk.patterns),
    })
}

/// The canonical form of an AV1 temporal unit that is encrypted and decrypted
/// (`spec/frames.md` section 6.6): temporal delimiter, tile list and padding OBUs dropped, every
/// OBU with a minimal size field except the last, which has none.
pub fn av1_canonical(frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    av1::canonicalize(frame)
}

/// The canonical form of `frame` that is sealed and opened, if it differs from `frame`: AV1
/// (section 6.6) and Annex B H.264/H.265 (section 6.4; at most [`MAX_UNITS`](super::MAX_UNITS)
/// bytes longer than `frame`).
pub(crate) fn canonical(codec: Codec, frame: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
    match codec {
        Codec::Av1 => av1::canonicalize(frame).map(Some),
        Codec::H264 | Codec::H265 => {
            let rules = annexb_rules(codec);
            let only = nal::Want {
                ranges: false,
                canonical: true,
            };
            if nal::annexb_walk(codec, frame, rules, only)?.canonical {
                return Ok(None);
            }
            nal::annexb_canonical(codec, frame, rules)
        }
        _ => Ok(None),
    }
}

/// The form of `frame` that `encrypt_media` seals and `decrypt_media` opens (section 6): AV1
/// canonical form, H.264/H.265 without access unit delimiters and repeated parameter sets and
/// with every start code written as `00 00 00 01`, the frame itself otherwise.
pub fn canonical_form(codec: Codec, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    Ok(canonical(codec, frame)?.unwrap_or_else(|| frame.to_vec()))
}

/// Undoes the codec's change of a decrypted body `out[..len]` of a frame whose trailer is
/// `trailer_len` bytes long; returns the plaintext's length.
pub(crate) fn restore(
    codec: Codec,
    out: &mut [u8],
    len: usize,
    trailer_len: usize,
) -> Result<usize, FrameError> {
    match codec {
        Codec::H264Avcc => nal::avcc_restore(codec, out, len, trailer_len).map(|()| len),
        Codec::Av1 => av1::restore_last_size(out, len),
        _ => Ok(len),
    }
}

/// Whether `frame` (clear or encrypted: only clear bytes are read) starts a new decodable
/// sequence: a VP8 or VP9 keyframe, an H.264 IDR slice, an H.265 IRAP picture, an AV1 temporal
/// unit with a sequence header. Every Opus packet is.
pub fn is_keyframe(codec: Codec, frame: &[u8]) -> Result<bool, FrameError> {
    match codec {
        Codec::Opus => Ok(true),
        Codec::Vp8 => vp8::is_keyframe(frame),
        Codec::Vp9 => vp9::is_keyframe(frame),
        Codec::H264 => nal::annexb_any(codec, frame, h264::is_idr),
        Codec::H265 => nal::annexb_any(codec, frame, h265::is_irap),
        Codec::H264Avcc => nal::avcc_any(codec, frame, h264::is_idr),
        Codec::Av1 => av1::has_sequence_header(frame),
    }
}
