//! Sealing and opening one frame body with its clear ranges (`spec/frames.md` section 2),
//! given the stream's key and nonce. No state: [`FrameCrypto`](super::FrameCrypto) picks the
//! key, counter and replay window.
//!
//! The associated data is `clear || fields`: the clear bytes of the body in order, then the
//! trailer without the tag. The encrypted bytes (the complement of the clear ranges) are one
//! AEAD plaintext. When they form one segment (no range, a prefix, or ranges at both ends only)
//! they are sealed straight into place; otherwise they are gathered at the start of the output,
//! sealed in place and moved to their positions (the segments only move towards the end, last
//! one first).

use super::backend::{AeadBackend, NONCE_LEN};
use super::ranges::ClearRanges;
use super::trailer::{FrameHeader, MAX_TRAILER_LEN, TAG_LEN};
use super::{FrameError, MAX_CLEAR_BYTES, MAX_CLEAR_RANGES};

/// Room for the associated data: the clear bytes and the trailer fields.
const AAD_CAP: usize = MAX_CLEAR_BYTES + MAX_TRAILER_LEN;
/// Associated data that fits this buffer is gathered without clearing the large one.
const SMALL_AAD: usize = 320;
/// Most encrypted segments of a body.
const MAX_SEGMENTS: usize = MAX_CLEAR_RANGES + 1;

/// The encrypted segments of a body, in order.
struct Segments {
    len: usize,
    segs: [(usize, usize); MAX_SEGMENTS],
}

impl Segments {
    fn of(clear: &ClearRanges, body_len: usize) -> Self {
        let mut s = Segments {
            len: 0,
            segs: [(0, 0); MAX_SEGMENTS],
        };
        for seg in clear.encrypted(body_len) {
            if let Some(slot) = s.segs.get_mut(s.len) {
                *slot = seg;
                s.len += 1;
            }
        }
        s
    }

    fn as_slice(&self) -> &[(usize, usize)] {
        self.segs.get(..self.len).unwrap_or(&[])
    }

    fn total(&self) -> usize {
        self.as_slice().iter().map(|(s, e)| e - s).sum()
    }
}

/// Gathers the clear bytes of `body` into `aad` (which must hold them); returns their length.
fn gather_clear(body: &[u8], clear: &ClearRanges, aad: &mut [u8]) -> Option<usize> {
    let mut pos = 0usize;
    for (s, e) in clear.iter() {
        let src = body.get(s..e)?;
        let end = pos.checked_add(src.len())?;
        aad.get_mut(pos..end)?.copy_from_slice(src);
        pos = end;
    }
    Some(pos)
}

/// Writes the gathered clear bytes back to their positions in `body`.
fn scatter_clear(gathered: &[u8], clear: &ClearRanges, body: &mut [u8]) -> Option<()> {
    let mut pos = 0usize;
    for (s, e) in clear.iter() {
        let end = pos.checked_add(e - s)?;
        body.get_mut(s..e)?.copy_from_slice(gathered.get(pos..end)?);
        pos = end;
    }
    Some(())
}

/// Moves the segments gathered at `out[..total]` to their positions (last one first).
fn expand(out: &mut [u8], segs: &Segments) -> Option<()> {
    let mut pos = segs.total();
    for &(s, e) in segs.as_slice().iter().rev() {
        pos = pos.checked_sub(e - s)?;
        if pos != s {
            out.get(pos..pos.checked_add(e - s)?)?;
            out.get(s..e)?;
            out.copy_within(pos..pos + (e - s), s);
        }
    }
    Some(())
}

/// A codec-specific change of the clear bytes made once the trailer's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patch {
    /// Nothing to change.
    None,
    /// Add the trailer's length (tag included) to the big-endian `u32` at this body offset (the
    /// length prefix of the last NAL unit of an AVCC frame), which lies in a clear range.
    AddTrailerLen(usize),
}

fn apply_patch(
    patch: Patch,
    clear: &ClearRanges,
    gathered: &mut [u8],
    trailer_len: usize,
) -> Option<()> {
    let Patch::AddTrailerLen(at) = patch else {
        return Some(());
    };
    // The position of body offset `at` among the gathered clear bytes.
    let mut pos = 0usize;
    for (s, e) in clear.iter() {
        if (s..e).contains(&at) && at.checked_add(4)? <= e {
            let i = pos.checked_add(at - s)?;
            let field: &mut [u8; 4] = gathered.get_mut(i..i.checked_add(4)?)?.try_into().ok()?;
            let v = u32::from_be_bytes(*field).checked_add(u32::try_from(trailer_len).ok()?)?;
            *field = v.to_be_bytes();
            return Some(());
        }
        pos = pos.checked_add(e - s)?;
    }
    None
}

/// Seals `plaintext` with clear ranges `clear` as a frame with trailer fields `header` into
/// `out`; returns the frame's length.
pub(crate) fn seal<B: AeadBackend>(
    key: &B::Key,
    nonce: &[u8; NONCE_LEN],
    header: &FrameHeader,
    plaintext: &[u8],
    clear: &ClearRanges,
    patch: Patch,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let n = plaintext.len();
    let c = clear.clear_len();
    if clear.end() > n {
        return Err(FrameError::Malformed {
            reason: "clear range beyond the plaintext",
        });
    }
    if c > MAX_CLEAR_BYTES {
        return Err(FrameError::TooLarge {
            what: "clear bytes",
            len: c,
            max: MAX_CLEAR_BYTES,
        });
    }
    let t = header.fields_len(clear);
    let needed = n.saturating_add(t).saturating_add(TAG_LEN);
    let too_small = FrameError::BufferTooSmall { needed };
    let out = out.get_mut(..needed).ok_or(too_small.clone())?;

    // Most frames have a few clear bytes: a small buffer avoids clearing the large one.
    let (mut small, mut large);
    let aad_buf: &mut [u8] = if c.saturating_add(t) <= SMALL_AAD {
        small = [0u8; SMALL_AAD];
        &mut small
    } else {
        large = [0u8; AAD_CAP];
        &mut large
    };
    let aad = aad_buf
        .get_mut(..c.saturating_add(t))
        .ok_or(too_small.clone())?;
    gather_clear(plaintext, clear, aad).ok_or(too_small.clone())?;
    if let Some(gathered) = aad.get_mut(..c) {
        apply_patch(patch, clear, gathered, t + TAG_LEN).ok_or(FrameError::Malformed {
            reason: "length prefix to patch is not clear",
        })?;
    }
    header.encode(clear, aad.get_mut(c..).ok_or(too_small.clone())?)?;
    let aad: &[u8] = aad;
    let fields = aad.get(c..).ok_or(too_small.clone())?;
    let (body, rest) = out.split_at_mut_checked(n).ok_or(too_small.clone())?;
    let (fields_out, tag_out) = rest.split_at_mut_checked(t).ok_or(too_small.clone())?;
    fields_out.copy_from_slice(fields);

    let segs = Segments::of(clear, n);
    let aead_failed = |_| FrameError::TooLarge {
        what: "frame plaintext",
        len: n,
        max: super::MAX_FRAME_PLAINTEXT,
    };
    let tag = match segs.as_slice() {
        [] => B::seal_in_place_detached(key, nonce, aad, &mut []).map_err(aead_failed)?,
        [(s, e)] => {
            let input = plaintext.get(*s..*e).ok_or(too_small.clone())?;
            let output = body.get_mut(*s..*e).ok_or(too_small.clone())?;
            B::seal_detached(key, nonce, aad, input, output).map_err(aead_failed)?
        }
        many => {
            let mut pos = 0usize;
            for &(s, e) in many {
                let end = pos + (e - s);
                let src = plaintext.get(s..e).ok_or(too_small.clone())?;
                body.get_mut(pos..end)
                    .ok_or(too_small.clone())?
                    .copy_from_slice(src);
                pos = end;
            }
            let gathered = body.get_mut(..pos).ok_or(too_small.clone())?;
            let tag = B::seal_in_place_detached(key, nonce, aad, gathered).map_err(aead_failed)?;
            expand(body, &segs).ok_or(too_small.clone())?;
            tag
        }
    };
    let gathered = aad.get(..c).ok_or(too_small.clone())?;
    scatter_clear(gathered, clear, body).ok_or(too_small)?;
    tag_out.copy_from_slice(&tag);
    Ok(needed)
}

/// Verifies and decrypts the body of `frame` (`frame[..body_len]`, clear ranges `clear`) into
/// `out[..body_len]`. On failure the bytes of `out` that were written are zeroed.
pub(crate) fn open<B: AeadBackend>(
    key: &B::Key,
    nonce: &[u8; NONCE_LEN],
    frame: &[u8],
    body_len: usize,
    clear: &ClearRanges,
    out: &mut [u8],
) -> Result<(), OpenFailure> {
    let n = body_len;
    let c = clear.clear_len();
    let tag_at = frame
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(OpenFailure::Layout)?;
    let body = frame.get(..n).ok_or(OpenFailure::Layout)?;
    let fields = frame.get(n..tag_at).ok_or(OpenFailure::Layout)?;
    let tag: &[u8; TAG_LEN] = frame
        .get(tag_at..)
        .and_then(|t| t.try_into().ok())
        .ok_or(OpenFailure::Layout)?;
    let need = c.checked_add(fields.len()).ok_or(OpenFailure::Layout)?;
    let (mut small, mut large);
    let aad_buf: &mut [u8] = if need <= SMALL_AAD {
        small = [0u8; SMALL_AAD];
        &mut small
    } else {
        large = [0u8; AAD_CAP];
        &mut large
    };
    let aad = aad_buf.get_mut(..need).ok_or(OpenFailure::Layout)?;
    gather_clear(body, clear, aad).ok_or(OpenFailure::Layout)?;
    aad.get_mut(c..)
        .ok_or(OpenFailure::Layout)?
        .copy_from_slice(fields);
    let aad: &[u8] = aad;
    let out = out.get_mut(..n).ok_or(OpenFailure::Layout)?;

    let segs = Segments::of(clear, n);
    let ok = match segs.as_slice() {
        [] => B::open_in_place_detached(key, nonce, aad, &mut [], tag).is_ok(),
        [(s, e)] => {
            let input = body.get(*s..*e).ok_or(OpenFailure::Layout)?;
            let output = out.get_mut(*s..*e).ok_or(OpenFailure::Layout)?;
            B::open_detached(key, nonce, aad, input, output, tag).is_ok()
        }
        many => {
            let mut pos = 0usize;
            for &(s, e) in many {
                let end = pos + (e - s);
                let src = body.get(s..e).ok_or(OpenFailure::Layout)?;
                out.get_mut(pos..end)
                    .ok_or(OpenFailure::Layout)?
                    .copy_from_slice(src);
                pos = end;
            }
            let gathered = out.get_mut(..pos).ok_or(OpenFailure::Layout)?;
            let ok = B::open_in_place_detached(key, nonce, aad, gathered, tag).is_ok();
            ok && expand(out, &segs).is_some()
        }
    };
    if !ok {
        out.iter_mut().for_each(|b| *b = 0);
        return Err(OpenFailure::Tag);
    }
    let gathered = aad.get(..c).ok_or(OpenFailure::Layout)?;
    scatter_clear(gathered, clear, out).ok_or(OpenFailure::Layout)?;
    Ok(())
}

/// Why [`open`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// The lengths do not fit (output too small, or a layout beyond the frame).
    Layout,
    /// The tag does not verify.
    Tag,
}
