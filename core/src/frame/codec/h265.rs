//! H.265 (ITU-T H.265 / RFC 7798) NAL units: what stays clear (`spec/frames.md` section 6.5).
//!
//! - Parameter sets (VPS 32, SPS 33, PPS 34), access unit delimiters (35), end of sequence and
//!   bitstream (36, 37): the whole unit.
//! - VCL units (types 0..=31): the 2-byte NAL header and the slice segment header up to and
//!   including `slice_pic_parameter_set_id`.
//! - Everything else (SEI 39/40, reserved, unspecified): the 2-byte header.

use super::bits::RbspReader;
use super::nal::Rules;

/// The H.265 NAL unit rules.
pub(super) const RULES: Rules = Rules {
    clear_len,
    is_aud,
    is_param,
};

fn nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| (b >> 1) & 0x3F)
}

/// How many bytes of `unit` (header included) stay clear.
pub(super) fn clear_len(unit: &[u8]) -> Result<usize, &'static str> {
    let (b0, b1) = match unit {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Err("truncated NAL header"),
    };
    if b0 & 0x80 != 0 {
        return Err("forbidden_zero_bit set");
    }
    if b1 & 0x07 == 0 {
        return Err("nuh_temporal_id_plus1 is 0");
    }
    let t = (b0 >> 1) & 0x3F;
    match t {
        32..=37 => Ok(unit.len()),
        0..=31 => {
            let mut r = RbspReader::new(unit.get(2..).unwrap_or(&[]));
            r.bit().ok_or("truncated slice header")?; // first_slice_segment_in_pic_flag
            if (16..=23).contains(&t) {
                r.bit().ok_or("truncated slice header")?; // no_output_of_prior_pics_flag
            }
            r.ue().ok_or("truncated slice header")?; // slice_pic_parameter_set_id
            Ok(2 + r.consumed())
        }
        _ => Ok(2),
    }
}

/// Whether `unit` is an access unit delimiter (type 35).
pub(super) fn is_aud(unit: &[u8]) -> bool {
    nal_type(unit) == Some(35)
}

/// Whether `unit` is a parameter set (VPS 32, SPS 33, PPS 34).
pub(super) fn is_param(unit: &[u8]) -> bool {
    matches!(nal_type(unit), Some(32..=34))
}

/// Whether `unit` is an IRAP picture's slice (BLA, IDR, CRA: types 16..=23).
pub(super) fn is_irap(unit: &[u8]) -> bool {
    nal_type(unit).is_some_and(|t| (16..=23).contains(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_lengths() {
        // VPS, SPS, PPS: whole.
        assert_eq!(clear_len(&[0x40, 0x01, 9, 9]), Ok(4));
        assert_eq!(clear_len(&[0x44, 0x01, 9]), Ok(3));
        // IDR_W_RADL (19): first_slice 1, no_output 0, pps 0 (1): 3 bits -> 1 byte.
        assert_eq!(clear_len(&[0x26, 0x01, 0b1010_0000, 0xAA]), Ok(3));
        // TRAIL_R (1): first_slice 1, pps 3 (00100): 6 bits.
        assert_eq!(clear_len(&[0x02, 0x01, 0b1001_0000, 0xAA]), Ok(3));
        // SEI prefix (39).
        assert_eq!(clear_len(&[0x4E, 0x01, 5, 5]), Ok(2));
        assert_eq!(clear_len(&[0x02, 0x01]), Err("truncated slice header"));
        assert_eq!(clear_len(&[0x02]), Err("truncated NAL header"));
        assert_eq!(
            clear_len(&[0x02, 0x00, 1]),
            Err("nuh_temporal_id_plus1 is 0")
        );
        assert_eq!(clear_len(&[0x82, 0x01, 1]), Err("forbidden_zero_bit set"));
        assert!(is_irap(&[0x26, 0x01]) && is_irap(&[0x2A, 0x01]) && !is_irap(&[0x02, 0x01]));
    }
}
