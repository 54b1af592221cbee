//! NAL unit framing shared by H.264 and H.265: Annex B byte streams (start codes) and AVCC
//! (4-byte length prefixes), and the start-code emulation check of encrypted Annex B output.

use super::{Codec, invalid};
use crate::frame::FrameError;
use crate::frame::ranges::ClearRanges;

/// One NAL unit of a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Nal {
    /// First byte of its start code (leading zero bytes included) or length prefix.
    pub(super) unit: usize,
    /// First byte of the NAL unit (its header).
    pub(super) start: usize,
    /// End of the NAL unit (exclusive).
    pub(super) end: usize,
}

/// The first position `i >= from` with `buf[i..i + 3] == 00 00 x` and `x <= max_third`.
fn find_zero_zero(buf: &[u8], from: usize, max_third: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(&third) = buf.get(i.checked_add(2)?) {
        // Eight bytes without a zero byte cannot start a match: skip them at once (most of
        // the ciphertext).
        if let Some(word) = buf.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            let w = u64::from_le_bytes(word);
            if w.wrapping_sub(ONES) & !w & HIGHS == 0 {
                i += 8;
                continue;
            }
        }
        if third > max_third {
            i += 3;
        } else if buf.get(i + 1) != Some(&0) {
            i += 2;
        } else if buf.get(i) != Some(&0) {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// Iterates over the NAL units of an Annex B byte stream.
struct AnnexB<'a> {
    buf: &'a [u8],
    /// Start of the next unit's start code; `None` when done.
    pos: Option<usize>,
}

impl<'a> AnnexB<'a> {
    fn new(buf: &'a [u8]) -> Self {
        AnnexB { buf, pos: Some(0) }
    }
}

impl Iterator for AnnexB<'_> {
    type Item = Result<Nal, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let unit = self.pos?;
        self.pos = None;
        let buf = self.buf;
        // Zero bytes (at least two), then 0x01.
        let mut i = unit;
        while buf.get(i) == Some(&0) {
            i += 1;
        }
        if i.saturating_sub(unit) < 2 || buf.get(i) != Some(&1) {
            return Some(Err("no start code"));
        }
        let start = i + 1;
        // The unit ends at the next 00 00 00 or 00 00 01 (or the end of the stream).
        let end = match find_zero_zero(buf, start, 2) {
            Some(p) if buf.get(p + 2) == Some(&2) => return Some(Err("00 00 02 in a NAL unit")),
            Some(p) => {
                self.pos = Some(p);
                p
            }
            None => buf.len(),
        };
        if end <= start {
            return Some(Err("empty NAL unit"));
        }
        if buf.get(end - 1) == Some(&0) {
            return Some(Err("trailing zero bytes"));
        }
        Some(Ok(Nal { unit, start, end }))
    }
}

/// Iterates over the NAL units of an AVCC frame (4-byte big-endian lengths).
struct Avcc<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for Avcc<'_> {
    type Item = Result<Nal, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let unit = self.pos;
        if unit >= self.buf.len() {
            return None;
        }
        let Some(len) = self
            .buf
            .get(unit..unit + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            self.pos = self.buf.len();
            return Some(Err("truncated length prefix"));
        };
        let start = unit + 4;
        let end = start.checked_add(u32::from_be_bytes(len) as usize);
        match end {
            Some(end) if end <= self.buf.len() && end > start => {
                self.pos = end;
                Some(Ok(Nal { unit, start, end }))
            }
            Some(end) if end == start => {
                self.pos = self.buf.len();
                Some(Err("empty NAL unit"))
            }
            _ => {
                self.pos = self.buf.len();
                Some(Err("NAL unit longer than the frame"))
            }
        }
    }
}

/// The clear ranges of a frame whose units are `nals`: each unit's start code or length prefix
/// and the first `clear_len(unit)` bytes of the unit.
fn ranges_of(
    codec: Codec,
    buf: &[u8],
    nals: impl Iterator<Item = Result<Nal, &'static str>>,
    clear_len: fn(&[u8]) -> Result<usize, &'static str>,
) -> Result<(ClearRanges, usize), FrameError> {
    let mut ranges = ClearRanges::new();
    let mut last = None;
    for nal in nals {
        let nal = nal.map_err(|r| invalid(codec, r))?;
        let unit = buf.get(nal.start..nal.end).unwrap_or(&[]);
        let n = clear_len(unit).map_err(|r| invalid(codec, r))?;
        let end = nal.start.saturating_add(n.min(unit.len()));
        ranges.push(nal.unit, end).map_err(|e| match e {
            FrameError::TooLarge { .. } => invalid(codec, "too many NAL units"),
            e => e,
        })?;
        last = Some(nal.unit);
    }
    let last = last.ok_or(invalid(codec, "no NAL unit"))?;
    Ok((ranges, last))
}

/// The clear ranges of an Annex B access unit.
pub(super) fn annexb_ranges(
    codec: Codec,
    frame: &[u8],
    clear_len: fn(&[u8]) -> Result<usize, &'static str>,
) -> Result<ClearRanges, FrameError> {
    ranges_of(codec, frame, AnnexB::new(frame), clear_len).map(|(r, _)| r)
}

/// The clear ranges of an AVCC access unit, and the offset of its last length prefix.
pub(super) fn avcc_ranges(
    codec: Codec,
    frame: &[u8],
    clear_len: fn(&[u8]) -> Result<usize, &'static str>,
) -> Result<(ClearRanges, usize), FrameError> {
    ranges_of(codec, frame, Avcc { buf: frame, pos: 0 }, clear_len)
}

/// Whether any NAL unit of an Annex B frame satisfies `pred` (given the unit's bytes).
pub(super) fn annexb_any(
    codec: Codec,
    frame: &[u8],
    pred: fn(&[u8]) -> bool,
) -> Result<bool, FrameError> {
    any(codec, frame, AnnexB::new(frame), pred)
}

/// Whether any NAL unit of an AVCC frame satisfies `pred`.
pub(super) fn avcc_any(
    codec: Codec,
    frame: &[u8],
    pred: fn(&[u8]) -> bool,
) -> Result<bool, FrameError> {
    any(codec, frame, Avcc { buf: frame, pos: 0 }, pred)
}

fn any(
    codec: Codec,
    frame: &[u8],
    nals: impl Iterator<Item = Result<Nal, &'static str>>,
    pred: fn(&[u8]) -> bool,
) -> Result<bool, FrameError> {
    let mut found = false;
    for nal in nals {
        let nal = nal.map_err(|r| invalid(codec, r))?;
        found |= pred(frame.get(nal.start..nal.end).unwrap_or(&[]));
    }
    Ok(found)
}

/// The canonical form of an Annex B frame (`spec/frames.md` section 6.4): access unit
/// delimiters dropped (RTP payloaders drop them), and a parameter-set unit dropped when the same
/// bytes occur again later in the frame (depayloaders insert copies of the parameter sets they
/// learnt from the session in front of a frame). `None` when the frame already is canonical.
pub(super) fn annexb_canonical(
    codec: Codec,
    frame: &[u8],
    is_aud: fn(&[u8]) -> bool,
    is_param: fn(&[u8]) -> bool,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut units = Vec::new();
    for nal in AnnexB::new(frame) {
        let nal = nal.map_err(|r| invalid(codec, r))?;
        if units.len() >= MAX_UNITS {
            return Err(invalid(codec, "too many NAL units"));
        }
        units.push(nal);
    }
    let bytes = |n: &Nal| frame.get(n.start..n.end).unwrap_or(&[]);
    let dropped = |i: usize, n: &Nal| {
        let b = bytes(n);
        is_aud(b) || (is_param(b) && units.iter().skip(i + 1).any(|m| bytes(m) == b))
    };
    if !units.iter().enumerate().any(|(i, n)| dropped(i, n)) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(frame.len());
    for (i, n) in units.iter().enumerate() {
        if !dropped(i, n) {
            out.extend_from_slice(frame.get(n.unit..n.end).unwrap_or(&[]));
        }
    }
    if out.is_empty() {
        return Err(invalid(codec, "no NAL unit to encrypt"));
    }
    Ok(Some(out))
}

/// Most NAL units of one frame that [`annexb_canonical`] looks at.
const MAX_UNITS: usize = 4 * crate::frame::MAX_CLEAR_RANGES;

/// See [`super::output_ok`]. `plaintext` is a valid Annex B frame (its layout was computed).
pub(super) fn annexb_output_ok(plaintext: &[u8], sealed: &[u8]) -> bool {
    let mut nals = AnnexB::new(plaintext).peekable();
    while let Some(Ok(nal)) = nals.next() {
        let end = if nals.peek().is_none() {
            sealed.len()
        } else {
            nal.end
        };
        let Some(unit) = sealed.get(nal.start..end) else {
            return false;
        };
        if unit.last().is_none_or(|b| *b == 0) || find_zero_zero(unit, 0, 2).is_some() {
            return false;
        }
    }
    true
}

/// Subtracts `trailer_len` from the last length prefix of the decrypted AVCC body
/// `out[..len]`, whose last unit the sender extended over the trailer.
pub(super) fn avcc_restore(
    codec: Codec,
    out: &mut [u8],
    len: usize,
    trailer_len: usize,
) -> Result<(), FrameError> {
    let body = out
        .get(..len)
        .ok_or(invalid(codec, "body beyond the output"))?;
    let mut pos = 0usize;
    loop {
        let bad = invalid(codec, "length prefixes do not match the frame");
        let prefix: [u8; 4] = body
            .get(pos..pos.checked_add(4).ok_or(bad.clone())?)
            .and_then(|b| b.try_into().ok())
            .ok_or(bad.clone())?;
        let n = u32::from_be_bytes(prefix) as usize;
        let end = pos.saturating_add(4).saturating_add(n);
        if end < len {
            pos = end;
            continue;
        }
        if end != len.saturating_add(trailer_len) || end.saturating_sub(trailer_len) <= pos + 4 {
            return Err(bad);
        }
        let fixed = u32::try_from(n - trailer_len).map_err(|_| bad.clone())?;
        out.get_mut(pos..pos + 4)
            .ok_or(bad)?
            .copy_from_slice(&fixed.to_be_bytes());
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nals(buf: &[u8]) -> Vec<Result<Nal, &'static str>> {
        AnnexB::new(buf).collect()
    }

    #[test]
    fn annexb_units() {
        let f = [
            0, 0, 0, 1, 0x67, 5, 6, 0, 0, 1, 0x68, 7, 0, 0, 3, 1, 0, 0, 0, 1, 0x65, 9,
        ];
        let units: Vec<Nal> = nals(&f).into_iter().map(Result::unwrap).collect();
        assert_eq!(
            units,
            vec![
                Nal {
                    unit: 0,
                    start: 4,
                    end: 7
                },
                Nal {
                    unit: 7,
                    start: 10,
                    end: 16
                },
                Nal {
                    unit: 16,
                    start: 20,
                    end: 22
                },
            ]
        );
        assert_eq!(nals(&[0, 1, 5]), vec![Err("no start code")]);
        assert_eq!(nals(&[5, 0, 0, 1, 5]), vec![Err("no start code")]);
        assert_eq!(nals(&[0, 0, 1]), vec![Err("empty NAL unit")]);
        assert_eq!(nals(&[0, 0, 1, 5, 0]), vec![Err("trailing zero bytes")]);
        assert_eq!(
            nals(&[0, 0, 1, 5, 0, 0, 2]),
            vec![Err("00 00 02 in a NAL unit")]
        );
        assert_eq!(
            nals(&[0, 0, 1, 5, 0, 0, 0, 7])[1],
            Err("no start code"),
            "00 00 00 not followed by a start code"
        );
        assert_eq!(find_zero_zero(&[1, 2, 0, 0, 1], 0, 1), Some(2));
        assert_eq!(find_zero_zero(&[0, 0, 2], 0, 1), None);
        assert_eq!(find_zero_zero(&[0, 0], 0, 2), None);
    }

    #[test]
    fn avcc_units_and_restore() {
        let f = [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 1, 0x65];
        let units: Vec<_> = Avcc { buf: &f, pos: 0 }.map(Result::unwrap).collect();
        assert_eq!(units.len(), 2);
        assert_eq!(
            units[1],
            Nal {
                unit: 6,
                start: 10,
                end: 11
            }
        );
        let bad: Vec<_> = Avcc {
            buf: &[0, 0, 0, 9, 1],
            pos: 0,
        }
        .collect();
        assert_eq!(bad, vec![Err("NAL unit longer than the frame")]);
        let bad: Vec<_> = Avcc {
            buf: &[0, 0, 1],
            pos: 0,
        }
        .collect();
        assert_eq!(bad, vec![Err("truncated length prefix")]);
        // The last unit claims 1 + 20 bytes; the trailer is 20 bytes.
        let mut out = [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 21, 0x65];
        avcc_restore(Codec::H264Avcc, &mut out, 11, 20).unwrap();
        assert_eq!(out, f);
        let mut out = [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 21, 0x65];
        assert!(avcc_restore(Codec::H264Avcc, &mut out, 11, 19).is_err());
    }
}
