//! AV1 temporal units (low-overhead bitstream format, AV1 spec section 5): OBU headers and
//! sizes stay clear, and sequence headers whole (`spec/frames.md` section 6.6).
//!
//! What is sealed is the unit's canonical form (as the AV1 RTP payload format transmits it):
//! temporal delimiter, tile list and padding OBUs are dropped (packetizers drop them, so they
//! could not be authenticated), every OBU but the last has a minimal `leb128` size field, and
//! the last has none (`obu_has_size_field = 0`): it extends to the end of the frame and so
//! covers the trailer, which packetizers then carry as part of the last OBU. After decryption
//! the last OBU gets its size field back, so the decoder sees a valid low-overhead bitstream.

use super::{Codec, invalid};
use crate::frame::ranges::ClearRanges;
use crate::frame::{FrameError, MAX_FRAME_PLAINTEXT};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;
/// Longest `leb128` in AV1 (bytes).
const MAX_LEB128_LEN: usize = 8;

fn bad(reason: &'static str) -> FrameError {
    invalid(Codec::Av1, reason)
}

/// One OBU: its header (1 or 2 bytes) and payload.
struct Obu<'a> {
    header: &'a [u8],
    payload: &'a [u8],
}

impl Obu<'_> {
    fn obu_type(&self) -> u8 {
        self.header.first().map_or(0, |b| (b >> 3) & 0x0F)
    }
}

fn read_leb128(buf: &[u8], pos: &mut usize) -> Result<u64, FrameError> {
    let mut value = 0u64;
    for i in 0..MAX_LEB128_LEN {
        let b = *buf.get(*pos).ok_or(bad("truncated OBU size"))?;
        *pos += 1;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("OBU size longer than 8 bytes"))
}

fn leb128_len(v: usize) -> usize {
    let bits = usize::BITS as usize - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn write_leb128(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Parses the OBUs of `frame`; an OBU without a size field must be the last.
fn parse(frame: &[u8]) -> Result<Vec<Obu<'_>>, FrameError> {
    let mut obus = Vec::new();
    let mut pos = 0usize;
    while pos < frame.len() {
        let h = *frame.get(pos).ok_or(bad("truncated OBU header"))?;
        if h & 0x80 != 0 {
            return Err(bad("obu_forbidden_bit set"));
        }
        let header_len = if h & 0x04 != 0 { 2 } else { 1 };
        let header = frame
            .get(pos..pos + header_len)
            .ok_or(bad("truncated OBU header"))?;
        pos += header_len;
        let size = if h & 0x02 != 0 {
            let s = read_leb128(frame, &mut pos)?;
            usize::try_from(s).map_err(|_| bad("OBU longer than the frame"))?
        } else {
            frame.len() - pos
        };
        let end = pos
            .checked_add(size)
            .filter(|e| *e <= frame.len())
            .ok_or(bad("OBU longer than the frame"))?;
        let payload = frame
            .get(pos..end)
            .ok_or(bad("OBU longer than the frame"))?;
        pos = end;
        if obus.len() >= crate::frame::MAX_CLEAR_RANGES {
            return Err(bad("too many OBUs"));
        }
        obus.push(Obu { header, payload });
    }
    Ok(obus)
}

fn dropped(obu: &Obu<'_>) -> bool {
    matches!(
        obu.obu_type(),
        OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
    )
}

/// See [`super::av1_canonical`].
pub(super) fn canonicalize(frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    if frame.len() > MAX_FRAME_PLAINTEXT {
        return Err(FrameError::TooLarge {
            what: "frame plaintext",
            len: frame.len(),
            max: MAX_FRAME_PLAINTEXT,
        });
    }
    let obus = parse(frame)?;
    let kept: Vec<&Obu<'_>> = obus.iter().filter(|o| !dropped(o)).collect();
    let last = kept.len().checked_sub(1).ok_or(bad("no OBU to encrypt"))?;
    let mut out = Vec::with_capacity(frame.len());
    for (i, obu) in kept.iter().enumerate() {
        let (first, ext) = obu
            .header
            .split_first()
            .ok_or(bad("truncated OBU header"))?;
        if i == last {
            out.push(first & !0x02);
            out.extend_from_slice(ext);
        } else {
            out.push(first | 0x02);
            out.extend_from_slice(ext);
            write_leb128(&mut out, obu.payload.len());
        }
        out.extend_from_slice(obu.payload);
    }
    Ok(out)
}

/// The clear ranges of `frame`'s canonical form, which `frame` must be.
pub(super) fn clear_ranges(frame: &[u8]) -> Result<ClearRanges, FrameError> {
    let obus = parse(frame)?;
    let mut ranges = ClearRanges::new();
    let mut pos = 0usize;
    for (i, obu) in obus.iter().enumerate() {
        let last = i + 1 == obus.len();
        let has_size = obu.header.first().is_some_and(|b| b & 0x02 != 0);
        if dropped(obu) || has_size == last {
            return Err(bad("not in canonical form"));
        }
        let size_len = if last {
            0
        } else {
            leb128_len(obu.payload.len())
        };
        let head = obu.header.len() + size_len;
        let end = pos + head + obu.payload.len();
        let clear_end = if obu.obu_type() == OBU_SEQUENCE_HEADER {
            end
        } else {
            pos + head
        };
        ranges
            .push(pos, clear_end)
            .map_err(|_| bad("too many OBUs"))?;
        pos = end;
    }
    if pos != frame.len() || ranges.is_empty() {
        return Err(bad("not in canonical form"));
    }
    Ok(ranges)
}

/// Gives the last OBU of the decrypted canonical body `out[..len]` its size field back;
/// returns the new length (at most `len + 3`, which `out` must hold).
pub(super) fn restore_last_size(out: &mut [u8], len: usize) -> Result<usize, FrameError> {
    let body = out.get(..len).ok_or(bad("body beyond the output"))?;
    let obus = parse(body)?;
    let last = obus.last().ok_or(bad("no OBU"))?;
    if last.header.first().is_some_and(|b| b & 0x02 != 0) {
        return Ok(len);
    }
    let header_at = len - last.payload.len() - last.header.len();
    let payload_at = len - last.payload.len();
    let size = last.payload.len();
    let k = leb128_len(size);
    let new_len = len.checked_add(k).ok_or(bad("frame too long"))?;
    if out.len() < new_len {
        return Err(FrameError::BufferTooSmall { needed: new_len });
    }
    out.copy_within(payload_at..len, payload_at + k);
    let mut field = Vec::with_capacity(k);
    write_leb128(&mut field, size);
    out.get_mut(payload_at..payload_at + k)
        .ok_or(bad("frame too long"))?
        .copy_from_slice(&field);
    if let Some(h) = out.get_mut(header_at) {
        *h |= 0x02;
    }
    Ok(new_len)
}

/// Whether the temporal unit has a sequence header OBU (clear, or its encryption).
pub(super) fn has_sequence_header(frame: &[u8]) -> Result<bool, FrameError> {
    Ok(parse(frame)?
        .iter()
        .any(|o| o.obu_type() == OBU_SEQUENCE_HEADER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_and_restore() {
        // TD, sequence header (3 bytes), frame OBU with extension (4 bytes), padding.
        let tu = [
            0x12, 0x00, 0x0A, 0x03, 1, 2, 3, 0x36, 0x10, 0x04, 9, 9, 9, 9, 0x7A, 0x01, 0,
        ];
        let c = canonicalize(&tu).unwrap();
        assert_eq!(c, vec![0x0A, 0x03, 1, 2, 3, 0x34, 0x10, 9, 9, 9, 9]);
        assert_eq!(canonicalize(&c).unwrap(), c, "idempotent");
        let r = clear_ranges(&c).unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 7)]);
        assert!(has_sequence_header(&c).unwrap());
        let mut out = c.clone();
        out.resize(20, 0);
        let n = restore_last_size(&mut out, c.len()).unwrap();
        assert_eq!(
            &out[..n],
            &[0x0A, 0x03, 1, 2, 3, 0x36, 0x10, 0x04, 9, 9, 9, 9]
        );
        assert!(clear_ranges(&tu).is_err());
        assert!(canonicalize(&[0x12, 0x00]).is_err());
        assert!(canonicalize(&[0x0A, 0x05, 1]).is_err());
        assert!(canonicalize(&[0x8A, 0x00]).is_err());
        assert!(canonicalize(&[0x0E, 0x80]).is_err());
        assert!(canonicalize(&[0x0E, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]).is_err());
    }
}
