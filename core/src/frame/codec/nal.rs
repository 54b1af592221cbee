//! NAL unit framing shared by H.264 and H.265: Annex B byte streams (start codes) and AVCC
//! (4-byte length prefixes), and the start-code emulation check of encrypted Annex B output.

use super::scan::{find_zero_zero, more_zero_zero_than};
use super::{Codec, invalid};
use crate::frame::ranges::ClearRanges;
use crate::frame::{FrameError, MAX_UNITS};

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

/// Iterates over the NAL units of an Annex B byte stream.
struct AnnexB<'a> {
    buf: &'a [u8],
    /// Start of the next unit's start code; `None` when done.
    pos: Option<usize>,
    /// Positions `i` with `buf[i..i + 3]` = `00 00 00` or `00 00 01` in the start codes read so
    /// far (a start code of `z` zero bytes has `z - 1`). A valid stream has no others.
    patterns: usize,
}

impl<'a> AnnexB<'a> {
    fn new(buf: &'a [u8]) -> Self {
        AnnexB {
            buf,
            pos: Some(0),
            patterns: 0,
        }
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
        self.patterns = self.patterns.saturating_add(i - unit - 1);
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

/// The NAL unit rules of one codec (H.264 or H.265).
pub(super) struct Rules {
    /// How many bytes of a unit (header included) stay clear.
    pub(super) clear_len: fn(&[u8]) -> Result<usize, &'static str>,
    /// Whether a unit is an access unit delimiter.
    pub(super) is_aud: fn(&[u8]) -> bool,
    /// Whether a unit is a parameter set.
    pub(super) is_param: fn(&[u8]) -> bool,
}

/// Appends the clear range of `nal` (its start code or length prefix and the first
/// `clear_len(unit)` bytes of the unit) to `ranges`.
fn push_unit(
    codec: Codec,
    buf: &[u8],
    nal: Nal,
    clear_len: fn(&[u8]) -> Result<usize, &'static str>,
    ranges: &mut ClearRanges,
) -> Result<(), FrameError> {
    let unit = buf.get(nal.start..nal.end).unwrap_or(&[]);
    let n = clear_len(unit).map_err(|r| invalid(codec, r))?;
    let end = nal.start.saturating_add(n.min(unit.len()));
    ranges.push(nal.unit, end).map_err(|e| match e {
        FrameError::TooLarge { .. } => invalid(codec, "too many NAL units"),
        e => e,
    })
}

/// The clear ranges of a frame whose units are `nals`, and the offset of its last unit.
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
        push_unit(codec, buf, nal, clear_len, &mut ranges)?;
        last = Some(nal.unit);
    }
    let last = last.ok_or(invalid(codec, "no NAL unit"))?;
    Ok((ranges, last))
}

/// Parameter sets that [`annexb_walk`] compares for copies without allocating; a frame with
/// more is handed to [`annexb_canonical`], which compares them all.
const TRACKED_PARAMS: usize = 16;

/// What [`annexb_walk`] computes in its pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Want {
    /// The clear ranges.
    pub(super) ranges: bool,
    /// Whether the frame is in canonical form; the pass stops at the first unit showing it is
    /// not (an access unit delimiter or the second copy of a parameter set).
    pub(super) canonical: bool,
}

/// What one pass over an Annex B frame found.
pub(super) struct Walk {
    /// The clear ranges (empty unless wanted, or when the pass stopped early).
    pub(super) ranges: ClearRanges,
    /// Positions of `00 00 00` and `00 00 01` in the frame, all in start codes (0 when the pass
    /// stopped early): see [`annexb_output_ok`].
    pub(super) patterns: usize,
    /// False if the frame is (or, beyond [`TRACKED_PARAMS`] parameter sets, may be) not in
    /// canonical form; the pass stopped there.
    pub(super) canonical: bool,
}

/// One pass over the NAL units of an Annex B frame: validates it and computes what `want`
/// asks for. Each unit's end is found by one scan ([`find_zero_zero`]); no unit is walked
/// twice.
pub(super) fn annexb_walk(
    codec: Codec,
    frame: &[u8],
    rules: &Rules,
    want: Want,
) -> Result<Walk, FrameError> {
    let mut walk = Walk {
        ranges: ClearRanges::new(),
        patterns: 0,
        canonical: true,
    };
    let mut params = [(0usize, 0usize); TRACKED_PARAMS];
    let mut tracked = 0usize;
    let mut nals = AnnexB::new(frame);
    let mut units = 0usize;
    for nal in nals.by_ref() {
        let nal = nal.map_err(|r| invalid(codec, r))?;
        units += 1;
        let unit = frame.get(nal.start..nal.end).unwrap_or(&[]);
        if want.canonical {
            if nal.start.saturating_sub(nal.unit) != START_CODE.len() || (rules.is_aud)(unit) {
                walk.canonical = false;
            } else if (rules.is_param)(unit) {
                let seen = params.get(..tracked).unwrap_or(&[]);
                if seen.iter().any(|&(s, e)| frame.get(s..e) == Some(unit)) {
                    walk.canonical = false;
                } else if let Some(slot) = params.get_mut(tracked) {
                    *slot = (nal.start, nal.end);
                    tracked += 1;
                } else {
                    walk.canonical = false;
                }
            }
            if !walk.canonical {
                return Ok(walk);
            }
        }
        if want.ranges {
            push_unit(codec, frame, nal, rules.clear_len, &mut walk.ranges)?;
        }
    }
    if units == 0 {
        return Err(invalid(codec, "no NAL unit"));
    }
    walk.patterns = nals.patterns;
    Ok(walk)
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

/// The start code of every unit in canonical form (`spec/frames.md` section 6.4).
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The canonical form of an Annex B frame (`spec/frames.md` section 6.4): access unit
/// delimiters dropped (RTP payloaders drop them), a parameter-set unit dropped when the same
/// bytes occur again later in the frame (depayloaders insert copies of the parameter sets they
/// learnt from the session in front of a frame), and every start code (any run of two or more
/// zero bytes and `01`) written as `00 00 00 01` (encoders and depayloaders write 3- or 4-byte
/// ones). `None` when the frame already is canonical.
///
/// The output is at most one byte per unit longer than `frame` (a 3-byte start code becoming
/// four), so at most [`MAX_UNITS`] bytes longer.
pub(super) fn annexb_canonical(
    codec: Codec,
    frame: &[u8],
    rules: &Rules,
) -> Result<Option<Vec<u8>>, FrameError> {
    let (is_aud, is_param) = (rules.is_aud, rules.is_param);
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
    let short_or_long = |n: &Nal| n.start.saturating_sub(n.unit) != START_CODE.len();
    if !units
        .iter()
        .enumerate()
        .any(|(i, n)| short_or_long(n) || dropped(i, n))
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(frame.len().saturating_add(units.len()));
    for (i, n) in units.iter().enumerate() {
        if !dropped(i, n) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(bytes(n));
        }
    }
    if out.is_empty() {
        return Err(invalid(codec, "no NAL unit to encrypt"));
    }
    Ok(Some(out))
}

/// Whether `sealed`, the encryption of an Annex B frame that has `patterns` positions of
/// `00 00 00` or `00 00 01` (all in its start codes, which stay clear), splits into the same NAL
/// units (`spec/frames.md` section 6.4). It does exactly when it has no other position of
/// `00 00 x` (`x <= 2`) and does not end with `00`: any other such position lies in a unit or
/// makes a unit end with `00`, and the start codes are unchanged.
pub(super) fn annexb_output_ok(patterns: usize, sealed: &[u8]) -> bool {
    sealed.last().is_some_and(|&b| b != 0) && !more_zero_zero_than(sealed, patterns)
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

    /// The check as `spec/frames.md` section 6.4 words it, unit by unit.
    fn output_ok_by_units(plaintext: &[u8], sealed: &[u8]) -> bool {
        let units: Vec<Nal> = nals(plaintext).into_iter().map(Result::unwrap).collect();
        units.iter().enumerate().all(|(i, nal)| {
            let end = if i + 1 == units.len() {
                sealed.len()
            } else {
                nal.end
            };
            let unit = &sealed[nal.start..end];
            unit.last() != Some(&0) && !unit.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2)
        })
    }

    #[test]
    fn one_pass_walk_matches_the_unit_by_unit_rules() {
        let rules = &crate::frame::codec::h264::RULES;
        // Not the canonical-form check: 3-byte start codes would stop the pass.
        let both = Want {
            ranges: true,
            canonical: false,
        };
        let mut x = 0x1234_5678_9ABC_DEF1u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut accepted, mut rejected) = (0, 0);
        for _ in 0..3000 {
            // Two or three units with 3- or 4-byte start codes: a P slice header, then bytes
            // that contain no start code.
            let mut f = Vec::new();
            for _ in 0..2 + next() % 2 {
                f.extend_from_slice(if next() % 2 == 0 {
                    &[0, 0, 1]
                } else {
                    &[0, 0, 0, 1]
                });
                f.extend_from_slice(&[0x41, 0x9A]);
                for _ in 0..next() % 12 {
                    f.push([1, 0x55, 3, 0x80][(next() % 4) as usize]);
                }
            }
            let walk = annexb_walk(Codec::H264, &f, rules, both).unwrap();
            let naive = (0..f.len())
                .filter(|&i| f[i..].starts_with(&[0, 0]) && f.get(i + 2).is_some_and(|&b| b <= 1))
                .count();
            assert_eq!(walk.patterns, naive, "{f:?}");
            // "Ciphertext": every byte after the clear ranges replaced by small values (many
            // zeros), and a trailer-like tail.
            let mut sealed = f.clone();
            let clear: Vec<(usize, usize)> = walk.ranges.iter().collect();
            for (i, b) in sealed.iter_mut().enumerate() {
                if !clear.iter().any(|&(s, e)| (s..e).contains(&i)) {
                    *b = [0, 0, 1, 2, 3, 7][(next() % 6) as usize];
                }
            }
            for _ in 0..next() % 4 {
                sealed.push([0, 1, 9][(next() % 3) as usize]);
            }
            let ok = output_ok_by_units(&f, &sealed);
            assert_eq!(
                annexb_output_ok(walk.patterns, &sealed),
                ok,
                "{f:?} {sealed:?}"
            );
            if ok { accepted += 1 } else { rejected += 1 }
        }
        assert!(accepted > 100 && rejected > 100, "{accepted} {rejected}");
    }

    #[test]
    fn walk_finds_non_canonical_frames() {
        let rules = &crate::frame::codec::h264::RULES;
        let only = Want {
            ranges: false,
            canonical: true,
        };
        let idr = [0, 0, 0, 1, 0x65, 0x88, 0x80, 0x10];
        let canonical = |f: &[u8]| annexb_walk(Codec::H264, f, rules, only).unwrap().canonical;
        let with = |units: &[&[u8]]| -> Vec<u8> {
            let mut f: Vec<u8> = units
                .iter()
                .flat_map(|u| [&[0, 0, 0, 1][..], u].concat())
                .collect();
            f.extend_from_slice(&idr);
            f
        };
        assert!(canonical(&with(&[&[0x67, 1], &[0x68, 2]])));
        // Start codes other than 00 00 00 01 (3 bytes, 6 bytes) are written with 4 bytes.
        let three = [&[0, 0, 1, 0x67, 1][..], &[0, 0, 0, 0, 0, 1, 0x68, 2], &idr].concat();
        assert!(!canonical(&[&[0, 0, 1, 0x67, 1][..], &idr].concat()));
        assert!(!canonical(&three));
        let four = annexb_canonical(Codec::H264, &three, rules)
            .unwrap()
            .unwrap();
        let want = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88, 0x80, 0x10,
        ];
        assert_eq!(four, want);
        assert!(canonical(&four));
        assert_eq!(annexb_canonical(Codec::H264, &four, rules).unwrap(), None);
        assert!(!canonical(&with(&[&[0x09, 0xF0], &[0x67, 1]])), "AUD");
        assert!(
            !canonical(&with(&[&[0x67, 1], &[0x68, 2], &[0x67, 1]])),
            "SPS twice"
        );
        assert!(
            canonical(&with(&[&[0x67, 1], &[0x67, 2]])),
            "two different SPS"
        );
        // Beyond the tracked parameter sets the walk cannot tell; the full comparison can.
        let many: Vec<Vec<u8>> = (0..TRACKED_PARAMS as u8 + 1)
            .map(|i| vec![0x68, i + 1])
            .collect();
        let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        let f = with(&refs);
        assert!(!canonical(&f));
        assert_eq!(annexb_canonical(Codec::H264, &f, rules).unwrap(), None);
        // The sender then seals the frame as it is.
        let p = crate::frame::codec::prepare(Codec::H264, &f).unwrap();
        assert!(p.canonical.is_none());
        assert_eq!(
            p.layout.clear.iter().collect::<Vec<_>>(),
            vec![(0, f.len() - 1)]
        );
    }
}
