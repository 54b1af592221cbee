//! H.264 (ITU-T H.264 / RFC 6184) NAL units: what stays clear (`spec/frames.md` section 6.4).
//!
//! - Parameter sets (SPS 7, PPS 8, SPS extension 13, subset SPS 15), access unit delimiters (9)
//!   and end of sequence/stream (10, 11): the whole unit. They carry no picture content, and
//!   packetizers (`sprop-parameter-sets`), depacketizers and SFUs read them.
//! - Slices (1, 5) and data partition A (2): the NAL header and the slice header up to and
//!   including `pic_parameter_set_id` (`first_mb_in_slice`, `slice_type`, PPS id): receivers'
//!   depacketizers check that the referenced PPS arrived, and parsers find picture boundaries
//!   from `first_mb_in_slice`.
//! - Prefix NAL units and slice extensions (14, 20): the header and its 3-byte extension.
//! - Everything else (SEI 6, partitions B/C 3/4, filler, reserved): the 1-byte header.

use super::bits::RbspReader;
use super::nal::Rules;

/// The H.264 NAL unit rules.
pub(super) const RULES: Rules = Rules {
    clear_len,
    is_aud,
    is_param,
};

/// NAL unit type of a unit (its first byte's low 5 bits).
fn nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| b & 0x1F)
}

/// How many bytes of `unit` (header included) stay clear.
pub(super) fn clear_len(unit: &[u8]) -> Result<usize, &'static str> {
    let header = *unit.first().ok_or("empty NAL unit")?;
    if header & 0x80 != 0 {
        return Err("forbidden_zero_bit set");
    }
    match header & 0x1F {
        7 | 8 | 9 | 10 | 11 | 13 | 15 => Ok(unit.len()),
        1 | 2 | 5 => {
            let rbsp = unit.get(1..).unwrap_or(&[]);
            let mut r = RbspReader::new(rbsp);
            // first_mb_in_slice, slice_type, pic_parameter_set_id
            for _ in 0..3 {
                r.ue().ok_or("truncated slice header")?;
            }
            Ok(1 + r.consumed())
        }
        14 | 20 => {
            if unit.len() < 4 {
                return Err("truncated NAL header extension");
            }
            Ok(4)
        }
        _ => Ok(1),
    }
}

/// Whether `unit` is an access unit delimiter (type 9).
pub(super) fn is_aud(unit: &[u8]) -> bool {
    nal_type(unit) == Some(9)
}

/// Whether `unit` is a parameter set (SPS 7, PPS 8, SPS extension 13, subset SPS 15).
pub(super) fn is_param(unit: &[u8]) -> bool {
    matches!(nal_type(unit), Some(7 | 8 | 13 | 15))
}

/// Whether `unit` is an IDR slice (type 5).
pub(super) fn is_idr(unit: &[u8]) -> bool {
    nal_type(unit) == Some(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_lengths() {
        assert_eq!(clear_len(&[0x67, 1, 2, 3]), Ok(4));
        assert_eq!(clear_len(&[0x68, 0xCE]), Ok(2));
        assert_eq!(clear_len(&[0x09, 0xF0]), Ok(2));
        assert_eq!(clear_len(&[0x06, 5, 5, 5]), Ok(1));
        // IDR: first_mb 0 (1), slice_type 7 (0001000), pps 0 (1): 9 bits -> 2 bytes.
        assert_eq!(clear_len(&[0x65, 0b1000_1000, 0b1000_0000, 0xAA]), Ok(3));
        // P slice: 1, slice_type 5 (00110), pps 0 (1): 7 bits -> 1 byte.
        assert_eq!(clear_len(&[0x41, 0b1001_1010, 0xAA]), Ok(2));
        assert_eq!(clear_len(&[0x41]), Err("truncated slice header"));
        assert_eq!(clear_len(&[0x41, 0]), Err("truncated slice header"));
        assert_eq!(
            clear_len(&[0x94, 1, 2, 3, 4]),
            Err("forbidden_zero_bit set")
        );
        assert_eq!(clear_len(&[0x0E, 1, 2, 3, 4]), Ok(4));
        assert_eq!(clear_len(&[0x0E, 1]), Err("truncated NAL header extension"));
        assert_eq!(clear_len(&[]), Err("empty NAL unit"));
        assert!(is_idr(&[0x65]) && !is_idr(&[0x41]) && !is_idr(&[]));
    }
}
