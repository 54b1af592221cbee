//! The frame trailer codec (`spec/frames.md` sections 1 and 2).
//!
//! A frame is `body || trailer`: the body is the plaintext with its clear ranges in place and
//! every other byte encrypted; the trailer is read from the end of the frame towards its start:
//! the tag, `flags`, `epoch_tag`, then the backward varints `sender`, `counter`, `stream`, and the
//! clear layout (a prefix length, or a list of ranges).

use super::ranges::ClearRanges;
use super::{FrameError, MAX_CLEAR_BYTES, MAX_CLEAR_PREFIX, MAX_CLEAR_RANGES, MAX_FRAME_COUNTER};
use crate::protocol::limits::MAX_TREE_LEAVES;

/// The `flags` byte of a frame with no clear bytes (version 1, mode 0).
pub const FLAGS_NO_PREFIX: u8 = 0x10;
/// The `flags` byte of a frame with a clear prefix (version 1, mode 1: `P`).
pub const FLAGS_WITH_PREFIX: u8 = 0x11;
/// The `flags` byte of a frame with a list of clear ranges (version 1, mode 2: `R`).
pub const FLAGS_WITH_RANGES: u8 = 0x12;
/// Longest varint (bytes).
pub const MAX_VARINT_LEN: usize = 10;
/// Length of the AEAD tag.
pub const TAG_LEN: usize = 16;
/// Longest trailer of a frame without clear ranges, tag included: tag, flags, epoch tag, sender
/// (< 2^14: 2 bytes), counter (< 2^48: 7 bytes), stream (u32: 5 bytes), prefix length (<= 255:
/// 2 bytes).
pub const MAX_HEADER_LEN: usize = TAG_LEN + 1 + 1 + 2 + 7 + 5 + 2;
/// Longest trailer, tag included: [`MAX_HEADER_LEN`] without the prefix length, a range count
/// (<= 256: 2 bytes) and `MAX_CLEAR_RANGES` ranges of two varints below 2^21 (3 bytes each).
pub const MAX_TRAILER_LEN: usize = MAX_HEADER_LEN - 2 + 2 + MAX_CLEAR_RANGES * 6;

/// The fields of a frame trailer (the "header" of earlier drafts; it now follows the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The epoch number modulo 256.
    pub epoch_tag: u8,
    /// The sender's leaf index (`< MAX_TREE_LEAVES`).
    pub sender: u32,
    /// The stream id.
    pub stream: u32,
    /// The frame counter (`<= MAX_FRAME_COUNTER`).
    pub counter: u64,
}

/// A frame trailer parsed from a frame, with the frame's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHeader {
    /// The trailer fields.
    pub header: FrameHeader,
    /// The clear ranges of the body.
    pub clear: ClearRanges,
    /// Length of the body: `frame[..body_len]`; the trailer is `frame[body_len..]`.
    pub body_len: usize,
}

impl ParsedHeader {
    /// Length of the trailer without the tag (`frame[body_len..frame.len() - 16]`, part of the
    /// associated data) for a frame of `frame_len` bytes.
    pub fn fields_len(&self, frame_len: usize) -> usize {
        frame_len
            .saturating_sub(self.body_len)
            .saturating_sub(TAG_LEN)
    }

    /// Length of the clear prefix (mode `P`), 0 in the other modes.
    pub fn prefix_len(&self) -> usize {
        self.clear.prefix_len().unwrap_or(0)
    }
}

/// Number of bytes of the minimal LEB128 encoding of `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Writes the minimal backward varint of `v` so that it ends at `out[*end - 1]`, and moves `*end`
/// to its first byte. A backward varint is LEB128 with its bytes in reverse order: the last
/// byte holds the least significant 7 bits. Returns `None` if `out` is too short.
pub fn write_bvarint(out: &mut [u8], end: &mut usize, mut v: u64) -> Option<()> {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        *end = end.checked_sub(1)?;
        let slot = out.get_mut(*end)?;
        if v == 0 {
            *slot = byte;
            return Some(());
        }
        *slot = byte | 0x80;
    }
}

/// Reads a minimal backward varint of at most 10 bytes that ends at `buf[*end - 1]`, and moves
/// `*end` to its first byte.
pub fn read_bvarint(buf: &[u8], end: &mut usize) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        *end = end.checked_sub(1).ok_or("truncated varint")?;
        let b = *buf.get(*end).ok_or("truncated varint")?;
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            // The tenth byte holds bit 63 only, and must be the last.
            return Err("varint overflows 64 bits");
        }
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err("non-minimal varint");
            }
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

impl FrameHeader {
    /// Checks the fields against the limits of `spec/frames.md`.
    pub fn validate(&self) -> Result<(), FrameError> {
        if self.sender >= MAX_TREE_LEAVES {
            return Err(FrameError::UnknownSender {
                sender: self.sender,
                bound: MAX_TREE_LEAVES,
            });
        }
        if self.counter > MAX_FRAME_COUNTER {
            return Err(FrameError::Malformed {
                reason: "counter above MAX_FRAME_COUNTER",
            });
        }
        Ok(())
    }

    /// Length of the trailer without the tag for the clear layout `clear`.
    pub fn fields_len(&self, clear: &ClearRanges) -> usize {
        let mut n = 2
            + varint_len(u64::from(self.sender))
            + varint_len(self.counter)
            + varint_len(u64::from(self.stream));
        if let Some(p) = clear.prefix_len() {
            n += varint_len(p as u64);
        } else if !clear.is_empty() {
            n += varint_len(clear.len() as u64);
            let mut prev = 0usize;
            for (start, end) in clear.iter() {
                n += varint_len(start.saturating_sub(prev) as u64);
                n += varint_len(end.saturating_sub(start) as u64);
                prev = end;
            }
        }
        n
    }

    /// Writes the trailer fields (without the tag) for `clear` into `out`, which must be exactly
    /// [`fields_len`](Self::fields_len) bytes long.
    pub fn encode(&self, clear: &ClearRanges, out: &mut [u8]) -> Result<(), FrameError> {
        self.validate()?;
        let needed = self.fields_len(clear);
        let bad = FrameError::BufferTooSmall { needed };
        if out.len() != needed {
            return Err(bad);
        }
        let mut end = out.len();
        let (flags, _) = flags_of(clear);
        end -= 1;
        *out.get_mut(end).ok_or(bad.clone())? = flags;
        end -= 1;
        *out.get_mut(end).ok_or(bad.clone())? = self.epoch_tag;
        write_bvarint(out, &mut end, u64::from(self.sender)).ok_or(bad.clone())?;
        write_bvarint(out, &mut end, self.counter).ok_or(bad.clone())?;
        write_bvarint(out, &mut end, u64::from(self.stream)).ok_or(bad.clone())?;
        if let Some(p) = clear.prefix_len() {
            write_bvarint(out, &mut end, p as u64).ok_or(bad.clone())?;
        } else if !clear.is_empty() {
            write_bvarint(out, &mut end, clear.len() as u64).ok_or(bad.clone())?;
            let mut prev = 0usize;
            for (start, stop) in clear.iter() {
                let gap = start.saturating_sub(prev) as u64;
                write_bvarint(out, &mut end, gap).ok_or(bad.clone())?;
                let len = stop.saturating_sub(start) as u64;
                write_bvarint(out, &mut end, len).ok_or(bad.clone())?;
                prev = stop;
            }
        }
        if end != 0 {
            return Err(bad);
        }
        Ok(())
    }

    /// Parses the trailer of `frame` (tag included).
    pub fn parse(frame: &[u8]) -> Result<ParsedHeader, FrameError> {
        parse_attributed(frame).map_err(|(e, _)| e)
    }

    /// Re-encodes the trailer of `frame` with the fields of `self`, keeping its body, clear
    /// layout and tag (for tests and attack simulations: the result does not authenticate unless
    /// the fields are unchanged).
    pub fn relabel(&self, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let p = Self::parse(frame)?;
        let body = frame.get(..p.body_len).ok_or(FrameError::Malformed {
            reason: "frame shorter than its trailer",
        })?;
        let tag =
            frame
                .get(frame.len().saturating_sub(TAG_LEN)..)
                .ok_or(FrameError::Malformed {
                    reason: "frame shorter than its trailer",
                })?;
        let n = self.fields_len(&p.clear);
        let mut out = body.to_vec();
        out.resize(body.len().saturating_add(n), 0);
        let fields = out
            .get_mut(body.len()..)
            .ok_or(FrameError::BufferTooSmall { needed: n })?;
        self.encode(&p.clear, fields)?;
        out.extend_from_slice(tag);
        Ok(out)
    }
}

/// The flags byte of layout `clear`, and whether it has a prefix.
fn flags_of(clear: &ClearRanges) -> (u8, bool) {
    if clear.prefix_len().is_some() {
        (FLAGS_WITH_PREFIX, true)
    } else if clear.is_empty() {
        (FLAGS_NO_PREFIX, false)
    } else {
        (FLAGS_WITH_RANGES, false)
    }
}

/// Parses a trailer; on failure also returns the sender index if it was read and is in range,
/// so that the failure can be counted against that sender.
pub(crate) fn parse_attributed(frame: &[u8]) -> Result<ParsedHeader, (FrameError, Option<u32>)> {
    let malformed = |reason, sender| (FrameError::Malformed { reason }, sender);
    let short = "frame shorter than a trailer";
    let mut end = frame
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(malformed(short, None))?;
    end = end.checked_sub(1).ok_or(malformed(short, None))?;
    let flags = *frame.get(end).ok_or(malformed(short, None))?;
    if flags >> 4 != 1 {
        return Err(malformed("unsupported frame version", None));
    }
    if flags & 0x0F > 2 {
        return Err(malformed("reserved flag bits set", None));
    }
    end = end.checked_sub(1).ok_or(malformed(short, None))?;
    let epoch_tag = *frame.get(end).ok_or(malformed(short, None))?;
    let sender = read_bvarint(frame, &mut end).map_err(|r| malformed(r, None))?;
    let sender = match u32::try_from(sender) {
        Ok(s) if s < MAX_TREE_LEAVES => s,
        other => {
            return Err((
                FrameError::UnknownSender {
                    sender: other.unwrap_or(u32::MAX),
                    bound: MAX_TREE_LEAVES,
                },
                None,
            ));
        }
    };
    let who = Some(sender);
    let counter = read_bvarint(frame, &mut end).map_err(|r| malformed(r, who))?;
    if counter > MAX_FRAME_COUNTER {
        return Err(malformed("counter above MAX_FRAME_COUNTER", who));
    }
    let stream = read_bvarint(frame, &mut end).map_err(|r| malformed(r, who))?;
    let stream = u32::try_from(stream).map_err(|_| malformed("stream id above u32::MAX", who))?;
    let clear = match flags {
        FLAGS_WITH_PREFIX => {
            let len = read_bvarint(frame, &mut end).map_err(|r| malformed(r, who))?;
            match usize::try_from(len) {
                Ok(l) if (1..=MAX_CLEAR_PREFIX).contains(&l) && l <= end => {
                    ClearRanges::prefix(l).map_err(|_| malformed("bad prefix length", who))?
                }
                Ok(l) if (1..=MAX_CLEAR_PREFIX).contains(&l) => {
                    return Err(malformed("prefix longer than the body", who));
                }
                _ => return Err(malformed("prefix length not in 1..=255", who)),
            }
        }
        FLAGS_WITH_RANGES => parse_ranges(frame, &mut end).map_err(|r| malformed(r, who))?,
        _ => ClearRanges::new(),
    };
    Ok(ParsedHeader {
        header: FrameHeader {
            epoch_tag,
            sender,
            stream,
            counter,
        },
        clear,
        body_len: end,
    })
}

/// Reads the range list of mode `R`, ending at `frame[*end - 1]`; on success `*end` is the
/// body's length.
fn parse_ranges(frame: &[u8], end: &mut usize) -> Result<ClearRanges, &'static str> {
    let count = read_bvarint(frame, end)?;
    let count = usize::try_from(count).map_err(|_| "too many clear ranges")?;
    if count == 0 {
        return Err("empty range list");
    }
    if count > MAX_CLEAR_RANGES {
        return Err("too many clear ranges");
    }
    let mut pairs = [(0u64, 0u64); MAX_CLEAR_RANGES];
    for slot in pairs.iter_mut().take(count) {
        let gap = read_bvarint(frame, end)?;
        let len = read_bvarint(frame, end)?;
        *slot = (gap, len);
    }
    // The body is what precedes the trailer: now known, check the ranges against it.
    let body_len = *end as u64;
    let mut ranges = ClearRanges::new();
    let mut prev = 0u64;
    for (i, (gap, len)) in pairs.iter().take(count).enumerate() {
        if i > 0 && *gap == 0 {
            return Err("adjacent clear ranges");
        }
        if *len == 0 {
            return Err("empty clear range");
        }
        let start = prev
            .checked_add(*gap)
            .ok_or("clear range beyond the body")?;
        let stop = start
            .checked_add(*len)
            .ok_or("clear range beyond the body")?;
        if stop > body_len {
            return Err("clear range beyond the body");
        }
        ranges
            .push(start as usize, stop as usize)
            .map_err(|_| "bad clear range")?;
        prev = stop;
    }
    if ranges.clear_len() > MAX_CLEAR_BYTES {
        return Err("clear bytes over MAX_CLEAR_BYTES");
    }
    if ranges.prefix_len().is_some() || ranges.is_empty() {
        return Err("clear ranges not in canonical mode");
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut b = [0u8; 10];
        let mut end = 10;
        write_bvarint(&mut b, &mut end, v).unwrap();
        assert_eq!(10 - end, varint_len(v));
        b[end..].to_vec()
    }

    #[test]
    fn bvarint_round_trips_and_is_minimal() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            (1 << 21) - 1,
            1 << 21,
            MAX_FRAME_COUNTER,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let b = enc(v);
            let mut end = b.len();
            assert_eq!(read_bvarint(&b, &mut end), Ok(v));
            assert_eq!(end, 0);
        }
        assert_eq!(enc(0), vec![0]);
        assert_eq!(enc(127), vec![0x7F]);
        assert_eq!(enc(128), vec![0x01, 0x80]);
        assert_eq!(enc(300), vec![0x02, 0xAC]);
        assert_eq!(enc(u64::MAX).len(), 10);
    }

    #[test]
    fn bvarint_rejects_bad_encodings() {
        let read = |b: &[u8]| read_bvarint(b, &mut b.len());
        assert_eq!(read(&[0x00, 0x80]), Err("non-minimal varint"));
        assert_eq!(read(&[0x00, 0x80, 0x81]), Err("non-minimal varint"));
        assert_eq!(read(&[0x80]), Err("truncated varint"));
        assert_eq!(read(&[]), Err("truncated varint"));
        let mut over = vec![0x02];
        over.extend([0xFF; 9]);
        assert_eq!(read(&over), Err("varint overflows 64 bits"));
        let mut max = vec![0x01];
        max.extend([0xFF; 9]);
        assert_eq!(read(&max), Ok(u64::MAX));
    }

    fn frame_of(h: &FrameHeader, clear: &ClearRanges, body_len: usize) -> Vec<u8> {
        let n = h.fields_len(clear);
        let mut f = vec![0xAAu8; body_len + n + TAG_LEN];
        h.encode(clear, &mut f[body_len..body_len + n]).unwrap();
        f
    }

    #[test]
    fn trailer_round_trips() {
        let h = FrameHeader {
            epoch_tag: 7,
            sender: 16_383,
            stream: u32::MAX,
            counter: MAX_FRAME_COUNTER,
        };
        let p = ClearRanges::prefix(255).unwrap();
        assert_eq!(h.fields_len(&p) + TAG_LEN, MAX_HEADER_LEN);
        let f = frame_of(&h, &p, 300);
        let parsed = FrameHeader::parse(&f).unwrap();
        assert_eq!(parsed.header, h);
        assert_eq!(parsed.body_len, 300);
        assert_eq!(parsed.prefix_len(), 255);

        let mut r = ClearRanges::new();
        r.push(0, 5).unwrap();
        r.push(100, 103).unwrap();
        r.push(1000, 1300).unwrap();
        let f = frame_of(&h, &r, 2000);
        let parsed = FrameHeader::parse(&f).unwrap();
        assert_eq!(parsed.clear, r);
        assert_eq!(parsed.body_len, 2000);
        assert_eq!(f[f.len() - TAG_LEN - 1], FLAGS_WITH_RANGES);

        let f = frame_of(&h, &ClearRanges::new(), 0);
        assert_eq!(FrameHeader::parse(&f).unwrap().body_len, 0);
    }

    #[test]
    fn audio_trailer_is_23_bytes_with_tag() {
        let h = FrameHeader {
            epoch_tag: 1,
            sender: 100,
            stream: 0,
            counter: (1 << 21) - 1,
        };
        assert_eq!(h.fields_len(&ClearRanges::new()) + TAG_LEN, 23);
        let h = FrameHeader {
            sender: 16_000,
            ..h
        };
        assert_eq!(h.fields_len(&ClearRanges::new()) + TAG_LEN, 24);
    }

    /// Builds `fields || tag` (fields given in memory order).
    fn raw(fields: &[u8]) -> Vec<u8> {
        let mut f = fields.to_vec();
        f.extend_from_slice(&[0u8; TAG_LEN]);
        f
    }

    #[test]
    fn parse_rejects_bad_trailers() {
        let malformed = |r| FrameError::Malformed { reason: r };
        // Memory order: stream, counter, sender, epoch_tag, flags.
        for flags in [0x00u8, 0x20, 0x13, 0x14, 0x18, 0x1F, 0xFF] {
            assert!(matches!(
                FrameHeader::parse(&raw(&[0, 0, 0, 0, flags])),
                Err(FrameError::Malformed { .. })
            ));
        }
        assert_eq!(
            FrameHeader::parse(&raw(&[0, 0, 0x01, 0x80, 0x80, 0, 0x10])),
            Err(FrameError::UnknownSender {
                sender: 16_384,
                bound: MAX_TREE_LEAVES
            })
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[0, 0, 0x00, 0x80, 0, 0x10])),
            Err(malformed("non-minimal varint"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[0x10, 0x80, 0x80, 0x80, 0x80, 0, 1, 0, 0x10])),
            Err(malformed("stream id above u32::MAX"))
        );
        // counter = 2^48
        assert_eq!(
            FrameHeader::parse(&raw(&[
                0, 0x40, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1, 0, 0x10
            ])),
            Err(malformed("counter above MAX_FRAME_COUNTER"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[0, 0, 0, 1, 0, 0x11])),
            Err(malformed("prefix length not in 1..=255"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[0x02, 0x80, 0, 0, 1, 0, 0x11])),
            Err(malformed("prefix length not in 1..=255"))
        );
        // Prefix of 20 bytes, body of 2.
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 20, 0, 0, 1, 0, 0x11])),
            Err(malformed("prefix longer than the body"))
        );
        // Ranges: count 0; a single range at 0 (must be a prefix); adjacent; empty; too long.
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 0, 0, 0, 1, 0, 0x12])),
            Err(malformed("empty range list"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 2, 0, 1, 0, 0, 1, 0, 0x12])),
            Err(malformed("clear ranges not in canonical mode"))
        );
        // Memory order of two ranges: len1 gap1 len0 gap0 count.
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 9, 9, 1, 0, 1, 1, 2, 0, 0, 1, 0, 0x12])),
            Err(malformed("adjacent clear ranges"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 0, 1, 1, 0, 0, 1, 0, 0x12])),
            Err(malformed("empty clear range"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[9, 9, 2, 1, 1, 0, 0, 1, 0, 0x12])),
            Err(malformed("clear range beyond the body"))
        );
        assert_eq!(
            FrameHeader::parse(&raw(&[0x02, 0x81, 0, 0, 1, 0, 0x12])),
            Err(malformed("too many clear ranges"))
        );
        assert!(FrameHeader::parse(&[]).is_err());
        assert!(FrameHeader::parse(&raw(&[])).is_err());
        assert!(FrameHeader::parse(&raw(&[0x10])).is_err());
        assert!(FrameHeader::parse(&raw(&[0, 0, 0, 0, 0x10])).is_ok());
        // One range [1, 3) in a 4-byte body: canonical.
        let ok = FrameHeader::parse(&raw(&[9, 9, 9, 9, 2, 1, 1, 0, 0, 1, 0, 0x12])).unwrap();
        assert_eq!(ok.body_len, 4);
        assert_eq!(ok.clear.iter().collect::<Vec<_>>(), vec![(1, 3)]);
    }
}
