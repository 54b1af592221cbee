//! The validating pre-pass `decode_bounded` runs before prost decodes: walks the protobuf wire
//! bytes against the schema table (`schema.rs`, generated from the `.proto`) and rejects what
//! proto3 parsers would silently accept or merge (`spec/wire.md` section 3, "Strict decoding"):
//!
//! - a singular field that occurs more than once, or two members of one oneof;
//! - a wire type that does not match the field's type;
//! - a varint longer than 10 bytes or over 64 bits, a 32-bit field whose value is out of
//!   range, a `bool` other than 0 or 1;
//! - a repeated field with more elements than its limit (packed scalars count elements);
//! - messages nested deeper than `MAX_MESSAGE_DEPTH`, group wire types, truncation.
//!
//! Unknown fields are skipped (their wire type must be 0, 1, 2 or 5). `bytes` and `string`
//! fields are not looked into: signed content is checked by its own `decode_bounded` call.
//! The pass allocates nothing.

use crate::limits::MAX_MESSAGE_DEPTH;
use crate::schema::{
    FieldDesc, FieldType, MAX_FIELDS_PER_MESSAGE, MAX_REPEATED_PER_MESSAGE, MESSAGES, MessageDesc,
    Scalar,
};

// One bit per field of a message in a `u64`.
const _: () = assert!(MAX_FIELDS_PER_MESSAGE <= 64);

/// Which strict-decoding rule an input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireRule {
    /// The input ends inside a tag, a varint, a fixed-width value or a length-delimited value.
    #[error("truncated")]
    Truncated,
    /// A varint is longer than 10 bytes or does not fit in 64 bits.
    #[error("varint longer than 10 bytes or over 64 bits")]
    VarintTooLong,
    /// A tag is over 32 bits or has field number 0.
    #[error("invalid tag")]
    InvalidTag,
    /// Wire type 3 or 4 (groups), 6 or 7.
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// The wire type does not match the field's type.
    #[error("wire type {found} where the schema needs {expected}")]
    WrongWireType {
        /// Wire type the schema requires.
        expected: u8,
        /// Wire type found.
        found: u8,
    },
    /// A singular field occurs more than once.
    #[error("singular field occurs more than once")]
    Duplicate,
    /// A second member of a oneof occurs.
    #[error("second member of a oneof")]
    OneofConflict,
    /// A 32-bit field's value is out of its type's range.
    #[error("value out of the 32-bit range")]
    OutOfRange,
    /// A `bool` is neither 0 nor 1.
    #[error("bool other than 0 or 1")]
    NotBool,
    /// A packed fixed-width field's length is not a multiple of the element size.
    #[error("packed length not a multiple of the element size")]
    PackedLength,
    /// A repeated field has more elements than its limit.
    #[error("more than {max} elements")]
    TooMany {
        /// The field's limit.
        max: usize,
    },
    /// Messages are nested deeper than `MAX_MESSAGE_DEPTH`.
    #[error("nested deeper than {max} messages")]
    TooDeep {
        /// `MAX_MESSAGE_DEPTH`.
        max: usize,
    },
}

/// A rule violation: the innermost message and field it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) message: &'static str,
    pub(crate) field: u32,
    pub(crate) rule: WireRule,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Checks that `bytes` is a strict encoding of `desc` (see the module documentation).
pub(crate) fn check(desc: &'static MessageDesc, bytes: &[u8]) -> Result<(), Violation> {
    check_message(desc, bytes, 1)
}

fn check_message(
    desc: &'static MessageDesc,
    mut buf: &[u8],
    depth: usize,
) -> Result<(), Violation> {
    let at = |field: u32, rule: WireRule| Violation {
        message: desc.name,
        field,
        rule,
    };
    if depth > MAX_MESSAGE_DEPTH {
        return Err(at(
            0,
            WireRule::TooDeep {
                max: MAX_MESSAGE_DEPTH,
            },
        ));
    }
    // Singular fields seen (by position in the message, below MAX_FIELDS_PER_MESSAGE = 64),
    // oneofs seen, and the element count of each repeated field.
    let mut seen: u64 = 0;
    let mut oneofs_seen: u64 = 0;
    let mut counts = [0usize; MAX_REPEATED_PER_MESSAGE];
    while !buf.is_empty() {
        let key = read_varint(&mut buf).map_err(|r| at(0, r))?;
        let (number, wire) = split_key(key).map_err(|r| at(0, r))?;
        let Some((i, field)) = desc.field(number) else {
            skip_unknown(wire, &mut buf).map_err(|r| at(number, r))?;
            continue;
        };
        if !field.repeated {
            let field_bit = bit(i);
            if seen & field_bit != 0 {
                return Err(at(number, WireRule::Duplicate));
            }
            seen |= field_bit;
            if let Some(o) = field.oneof {
                let oneof_bit = bit(usize::from(o));
                if oneofs_seen & oneof_bit != 0 {
                    return Err(at(number, WireRule::OneofConflict));
                }
                oneofs_seen |= oneof_bit;
            }
        }
        let n = check_field(desc.name, field, wire, &mut buf, depth)?;
        if field.repeated {
            let count = counts
                .get_mut(field.slot)
                .ok_or_else(|| at(number, WireRule::InvalidTag))?;
            *count = count.saturating_add(n);
            if *count > field.max_count {
                return Err(at(
                    number,
                    WireRule::TooMany {
                        max: field.max_count,
                    },
                ));
            }
        }
    }
    Ok(())
}

/// Bit `i` of a `u64` (build.rs keeps positions below 64).
fn bit(i: usize) -> u64 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}

/// Checks one occurrence of a known field and returns how many elements it holds (1, or the
/// element count of a packed run).
fn check_field(
    message: &'static str,
    field: &FieldDesc,
    wire: u8,
    buf: &mut &[u8],
    depth: usize,
) -> Result<usize, Violation> {
    let here = |rule| Violation {
        message,
        field: field.number,
        rule,
    };
    let wrong = |expected| {
        here(WireRule::WrongWireType {
            expected,
            found: wire,
        })
    };
    match field.ty {
        FieldType::Scalar(s) if wire == scalar_wire_type(s) => {
            check_scalar(s, buf).map_err(here)?;
            Ok(1)
        }
        FieldType::Scalar(s) if wire == LEN && field.repeated => {
            let mut run = read_len(buf).map_err(here)?;
            count_packed(s, &mut run).map_err(here)
        }
        FieldType::Scalar(s) => Err(wrong(scalar_wire_type(s))),
        FieldType::Bytes | FieldType::String if wire == LEN => {
            read_len(buf).map_err(here)?;
            Ok(1)
        }
        FieldType::Message(target) if wire == LEN => {
            let inner = read_len(buf).map_err(here)?;
            let desc = MESSAGES
                .get(target)
                .ok_or_else(|| here(WireRule::InvalidTag))?;
            check_message(desc, inner, depth.saturating_add(1))?;
            Ok(1)
        }
        FieldType::Bytes | FieldType::String | FieldType::Message(_) => Err(wrong(LEN)),
    }
}

fn scalar_wire_type(s: Scalar) -> u8 {
    match s {
        Scalar::Fixed32 => FIXED32,
        Scalar::Fixed64 => FIXED64,
        Scalar::U32 | Scalar::I32 | Scalar::S32 | Scalar::U64 | Scalar::Bool => VARINT,
    }
}

/// Reads one non-packed value of scalar type `s` and checks its range.
fn check_scalar(s: Scalar, buf: &mut &[u8]) -> Result<(), WireRule> {
    match s {
        Scalar::Fixed32 => take(buf, 4).map(drop),
        Scalar::Fixed64 => take(buf, 8).map(drop),
        Scalar::U32 | Scalar::I32 | Scalar::S32 | Scalar::U64 | Scalar::Bool => {
            let v = read_varint(buf)?;
            let ok = match s {
                Scalar::U32 | Scalar::S32 => v <= u64::from(u32::MAX),
                // Two's complement: a negative int32 is sign-extended to 64 bits.
                Scalar::I32 => i32::try_from(v.cast_signed()).is_ok(),
                Scalar::Bool => v <= 1,
                _ => true,
            };
            match (ok, s) {
                (true, _) => Ok(()),
                (false, Scalar::Bool) => Err(WireRule::NotBool),
                (false, _) => Err(WireRule::OutOfRange),
            }
        }
    }
}

/// Checks a packed run of scalars and returns its element count.
fn count_packed(s: Scalar, run: &mut &[u8]) -> Result<usize, WireRule> {
    let width = match s {
        Scalar::Fixed32 => 4,
        Scalar::Fixed64 => 8,
        _ => {
            let mut n = 0usize;
            while !run.is_empty() {
                check_scalar(s, run)?;
                n = n.saturating_add(1);
            }
            return Ok(n);
        }
    };
    if !run.len().is_multiple_of(width) {
        return Err(WireRule::PackedLength);
    }
    Ok(run.len() / width)
}

/// Splits a tag into field number and wire type.
fn split_key(key: u64) -> Result<(u32, u8), WireRule> {
    let key = u32::try_from(key).map_err(|_| WireRule::InvalidTag)?;
    let number = key >> 3;
    let wire = u8::try_from(key & 7).map_err(|_| WireRule::InvalidTag)?;
    if number == 0 {
        return Err(WireRule::InvalidTag);
    }
    Ok((number, wire))
}

/// Skips the value of an unknown field.
fn skip_unknown(wire: u8, buf: &mut &[u8]) -> Result<(), WireRule> {
    match wire {
        VARINT => read_varint(buf).map(drop),
        FIXED64 => take(buf, 8).map(drop),
        LEN => read_len(buf).map(drop),
        FIXED32 => take(buf, 4).map(drop),
        other => Err(WireRule::UnsupportedWireType(other)),
    }
}

/// Reads a varint of at most 10 bytes whose value fits in 64 bits.
#[inline]
fn read_varint(buf: &mut &[u8]) -> Result<u64, WireRule> {
    // Fast path: one byte (tags and small values).
    if let Some((&b, rest)) = buf.split_first()
        && b < 0x80
    {
        *buf = rest;
        return Ok(u64::from(b));
    }
    read_varint_slow(buf)
}

fn read_varint_slow(buf: &mut &[u8]) -> Result<u64, WireRule> {
    let mut value = 0u64;
    for i in 0..10u32 {
        let (&b, rest) = buf.split_first().ok_or(WireRule::Truncated)?;
        *buf = rest;
        // The tenth byte may only carry the 64th bit.
        if i == 9 && b > 1 {
            return Err(WireRule::VarintTooLong);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(WireRule::VarintTooLong)
}

/// Reads a length prefix and the bytes it covers.
fn read_len<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], WireRule> {
    let len = read_varint(buf)?;
    let len = usize::try_from(len).map_err(|_| WireRule::Truncated)?;
    take(buf, len)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireRule> {
    let (head, rest) = buf.split_at_checked(n).ok_or(WireRule::Truncated)?;
    *buf = rest;
    Ok(head)
}
