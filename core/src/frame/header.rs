//! The frame header codec (`spec/frames.md` section 1).

use super::{FrameError, MAX_CLEAR_PREFIX, MAX_FRAME_COUNTER};
use crate::protocol::limits::MAX_TREE_LEAVES;

/// The `flags` byte of a frame without an unencrypted prefix (version 1, `P` clear).
pub const FLAGS_NO_PREFIX: u8 = 0x10;
/// The `flags` byte of a frame with an unencrypted prefix (version 1, `P` set).
pub const FLAGS_WITH_PREFIX: u8 = 0x11;
/// Longest varint (bytes).
pub const MAX_VARINT_LEN: usize = 10;
/// Longest header without the prefix bytes: flags, epoch tag, sender (< 2^14: 2 bytes),
/// stream (u32: 5 bytes), counter (< 2^48: 7 bytes), prefix length (<= 255: 2 bytes).
pub const MAX_HEADER_LEN: usize = 1 + 1 + 2 + 5 + 7 + 2;
/// Length of the AEAD tag.
pub const TAG_LEN: usize = 16;

/// The fields of a frame header.
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
    /// The length of the unencrypted prefix; 0 when absent (`P` clear).
    pub prefix_len: u8,
}

/// A frame header parsed from a frame, with the positions of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedHeader {
    /// The header fields.
    pub header: FrameHeader,
    /// Length of the header including the prefix bytes: `frame[..header_len]` is the AAD,
    /// `frame[header_len - prefix_len..header_len]` the prefix.
    pub header_len: usize,
}

impl ParsedHeader {
    /// Length of the ciphertext (without the tag) of a frame of `frame_len` bytes.
    pub fn ciphertext_len(&self, frame_len: usize) -> usize {
        frame_len
            .saturating_sub(self.header_len)
            .saturating_sub(TAG_LEN)
    }
}

/// Number of bytes of the minimal LEB128 encoding of `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Writes the minimal LEB128 encoding of `v` at `out[*pos..]`. Returns `None` if `out` is too
/// short.
pub fn write_varint(out: &mut [u8], pos: &mut usize, mut v: u64) -> Option<()> {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        let slot = out.get_mut(*pos)?;
        *pos += 1;
        if v == 0 {
            *slot = byte;
            return Some(());
        }
        *slot = byte | 0x80;
    }
}

/// Reads a minimal LEB128 varint of at most 10 bytes from `buf[*pos..]`.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
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
    /// Length of the encoded header without the prefix bytes.
    pub fn encoded_len(&self) -> usize {
        let mut n = 2
            + varint_len(u64::from(self.sender))
            + varint_len(u64::from(self.stream))
            + varint_len(self.counter);
        if self.prefix_len > 0 {
            n += varint_len(u64::from(self.prefix_len));
        }
        n
    }

    /// Checks the header's fields against the limits of `spec/frames.md`.
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

    /// Writes the header without the prefix bytes into `out`; returns its length.
    ///
    /// The prefix bytes (if `prefix_len > 0`) must follow at `out[len..len + prefix_len]`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        self.validate()?;
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(FrameError::BufferTooSmall { needed });
        }
        let too_small = FrameError::BufferTooSmall { needed };
        let mut pos = 0;
        let flags = if self.prefix_len > 0 {
            FLAGS_WITH_PREFIX
        } else {
            FLAGS_NO_PREFIX
        };
        *out.get_mut(0).ok_or(too_small.clone())? = flags;
        *out.get_mut(1).ok_or(too_small.clone())? = self.epoch_tag;
        pos += 2;
        write_varint(out, &mut pos, u64::from(self.sender)).ok_or(too_small.clone())?;
        write_varint(out, &mut pos, u64::from(self.stream)).ok_or(too_small.clone())?;
        write_varint(out, &mut pos, self.counter).ok_or(too_small.clone())?;
        if self.prefix_len > 0 {
            write_varint(out, &mut pos, u64::from(self.prefix_len)).ok_or(too_small)?;
        }
        Ok(pos)
    }

    /// Parses the header of `frame` (which must also hold at least the 16-byte tag).
    pub fn parse(frame: &[u8]) -> Result<ParsedHeader, FrameError> {
        parse_attributed(frame).map_err(|(e, _)| e)
    }
}

/// Parses a header; on failure also returns the sender index if it was read and is in range,
/// so that the failure can be counted against that sender.
pub(crate) fn parse_attributed(frame: &[u8]) -> Result<ParsedHeader, (FrameError, Option<u32>)> {
    let malformed = |reason, sender| (FrameError::Malformed { reason }, sender);
    let flags = *frame
        .first()
        .ok_or(malformed("frame shorter than a header", None))?;
    let has_prefix = match flags {
        FLAGS_NO_PREFIX => false,
        FLAGS_WITH_PREFIX => true,
        _ if flags >> 4 != 1 => return Err(malformed("unsupported frame version", None)),
        _ => return Err(malformed("reserved flag bits set", None)),
    };
    let epoch_tag = *frame
        .get(1)
        .ok_or(malformed("frame shorter than a header", None))?;
    let mut pos = 2;
    let sender = read_varint(frame, &mut pos).map_err(|r| malformed(r, None))?;
    let sender = match u32::try_from(sender) {
        Ok(s) if s < MAX_TREE_LEAVES => s,
        Ok(s) => {
            return Err((
                FrameError::UnknownSender {
                    sender: s,
                    bound: MAX_TREE_LEAVES,
                },
                None,
            ));
        }
        Err(_) => {
            return Err((
                FrameError::UnknownSender {
                    sender: u32::MAX,
                    bound: MAX_TREE_LEAVES,
                },
                None,
            ));
        }
    };
    let who = Some(sender);
    let stream = read_varint(frame, &mut pos).map_err(|r| malformed(r, who))?;
    let stream = u32::try_from(stream).map_err(|_| malformed("stream id above u32::MAX", who))?;
    let counter = read_varint(frame, &mut pos).map_err(|r| malformed(r, who))?;
    if counter > MAX_FRAME_COUNTER {
        return Err(malformed("counter above MAX_FRAME_COUNTER", who));
    }
    let mut prefix_len = 0u8;
    if has_prefix {
        let len = read_varint(frame, &mut pos).map_err(|r| malformed(r, who))?;
        prefix_len = match u8::try_from(len) {
            Ok(l) if l >= 1 && usize::from(l) <= MAX_CLEAR_PREFIX => l,
            _ => return Err(malformed("prefix length not in 1..=255", who)),
        };
        pos = pos
            .checked_add(usize::from(prefix_len))
            .ok_or(malformed("truncated prefix", who))?;
        if pos > frame.len() {
            return Err(malformed("truncated prefix", who));
        }
    }
    if frame.len().saturating_sub(pos) < TAG_LEN {
        return Err(malformed("frame shorter than header and tag", who));
    }
    Ok(ParsedHeader {
        header: FrameHeader {
            epoch_tag,
            sender,
            stream,
            counter,
            prefix_len,
        },
        header_len: pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut b = [0u8; 10];
        let mut pos = 0;
        write_varint(&mut b, &mut pos, v).unwrap();
        assert_eq!(pos, varint_len(v));
        b[..pos].to_vec()
    }

    #[test]
    fn varint_round_trips_and_is_minimal() {
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
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos), Ok(v));
            assert_eq!(pos, b.len());
        }
        assert_eq!(enc(0), vec![0]);
        assert_eq!(enc(127), vec![0x7F]);
        assert_eq!(enc(128), vec![0x80, 0x01]);
        assert_eq!(enc(u64::MAX).len(), 10);
    }

    #[test]
    fn varint_rejects_bad_encodings() {
        let read = |b: &[u8]| read_varint(b, &mut 0);
        assert_eq!(read(&[0x80, 0x00]), Err("non-minimal varint"));
        assert_eq!(read(&[0x81, 0x80, 0x00]), Err("non-minimal varint"));
        assert_eq!(read(&[0x80]), Err("truncated varint"));
        assert_eq!(read(&[]), Err("truncated varint"));
        let mut over = vec![0xFF; 9];
        over.push(0x02);
        assert_eq!(read(&over), Err("varint overflows 64 bits"));
        let mut long = vec![0xFF; 10];
        long.push(0x01);
        assert_eq!(read(&long), Err("varint overflows 64 bits"));
        let mut max = vec![0xFF; 9];
        max.push(0x01);
        assert_eq!(read(&max), Ok(u64::MAX));
    }

    #[test]
    fn header_round_trips() {
        let h = FrameHeader {
            epoch_tag: 7,
            sender: 16_383,
            stream: u32::MAX,
            counter: MAX_FRAME_COUNTER,
            prefix_len: 255,
        };
        assert_eq!(h.encoded_len(), MAX_HEADER_LEN);
        let mut buf = vec![0u8; MAX_HEADER_LEN + 255 + TAG_LEN];
        let n = h.encode(&mut buf).unwrap();
        assert_eq!(n, MAX_HEADER_LEN);
        let p = FrameHeader::parse(&buf).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.header_len, MAX_HEADER_LEN + 255);
        assert_eq!(p.ciphertext_len(buf.len()), 0);
    }

    #[test]
    fn audio_header_is_seven_bytes() {
        let h = FrameHeader {
            epoch_tag: 1,
            sender: 100,
            stream: 0,
            counter: (1 << 21) - 1,
            prefix_len: 0,
        };
        assert_eq!(h.encoded_len(), 7);
        let h = FrameHeader {
            sender: 16_000,
            ..h
        };
        assert_eq!(h.encoded_len(), 8);
    }

    #[test]
    fn parse_rejects_bad_headers() {
        let tag = [0u8; TAG_LEN];
        let frame = |head: &[u8]| {
            let mut f = head.to_vec();
            f.extend_from_slice(&tag);
            f
        };
        let malformed = |r| FrameError::Malformed { reason: r };
        for flags in [0x00u8, 0x20, 0x12, 0x14, 0x18, 0x1F, 0xFF] {
            assert!(matches!(
                FrameHeader::parse(&frame(&[flags, 0, 0, 0, 0])),
                Err(FrameError::Malformed { .. })
            ));
        }
        assert_eq!(
            FrameHeader::parse(&frame(&[0x10, 0, 0x80, 0x80, 0x01, 0, 0])),
            Err(FrameError::UnknownSender {
                sender: 16_384,
                bound: MAX_TREE_LEAVES
            })
        );
        assert_eq!(
            FrameHeader::parse(&frame(&[0x10, 0, 0x80, 0x00, 0, 0])),
            Err(malformed("non-minimal varint"))
        );
        assert_eq!(
            FrameHeader::parse(&frame(&[0x10, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0])),
            Err(malformed("stream id above u32::MAX"))
        );
        // counter = 2^48
        assert_eq!(
            FrameHeader::parse(&frame(&[
                0x10, 0, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40
            ])),
            Err(malformed("counter above MAX_FRAME_COUNTER"))
        );
        assert_eq!(
            FrameHeader::parse(&frame(&[0x11, 0, 1, 0, 0, 0])),
            Err(malformed("prefix length not in 1..=255"))
        );
        assert_eq!(
            FrameHeader::parse(&frame(&[0x11, 0, 1, 0, 0, 0x80, 0x02])),
            Err(malformed("prefix length not in 1..=255"))
        );
        // Prefix of 20 bytes, 16 bytes follow: the tag is missing.
        assert_eq!(
            FrameHeader::parse(&frame(&[0x11, 0, 1, 0, 0, 20])),
            Err(malformed("truncated prefix"))
        );
        assert_eq!(
            FrameHeader::parse(&[0x10, 0, 1, 0, 0, 1, 2, 3]),
            Err(malformed("frame shorter than header and tag"))
        );
        assert!(FrameHeader::parse(&[]).is_err());
        assert!(FrameHeader::parse(&[0x10]).is_err());
        assert!(FrameHeader::parse(&frame(&[0x10, 0, 1, 0, 0])).is_ok());
    }
}
