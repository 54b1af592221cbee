//! Reading vector files: hex byte strings, numbers and arrays, with errors that name the field.

use serde_json::Value;

/// Decodes lowercase or uppercase hex.
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd-length hex".into());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("not hex: {:?}", char::from(c))),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| match p {
            [a, b] => Ok(digit(*a)? << 4 | digit(*b)?),
            _ => Err("odd-length hex".into()),
        })
        .collect()
}

/// Encodes lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A member of an object.
pub fn get<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing {key:?}"))
}

/// A hex byte-string member.
pub fn bytes(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    let s = get(v, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} is not a string"))?;
    unhex(s).map_err(|e| format!("{key:?}: {e}"))
}

/// A hex member of exactly `N` bytes.
pub fn array<const N: usize>(v: &Value, key: &str) -> Result<[u8; N], String> {
    bytes(v, key)?
        .try_into()
        .map_err(|_| format!("{key:?} is not {N} bytes"))
}

/// An unsigned integer member.
pub fn num(v: &Value, key: &str) -> Result<u64, String> {
    get(v, key)?
        .as_u64()
        .ok_or_else(|| format!("{key:?} is not an unsigned integer"))
}

/// A `u32` member.
pub fn num32(v: &Value, key: &str) -> Result<u32, String> {
    u32::try_from(num(v, key)?).map_err(|_| format!("{key:?} exceeds u32"))
}

/// A string member.
pub fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    get(v, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} is not a string"))
}

/// An array member.
pub fn list<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    get(v, key)?
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{key:?} is not an array"))
}

/// An array of `u32`.
pub fn u32s(v: &Value, key: &str) -> Result<Vec<u32>, String> {
    list(v, key)?
        .iter()
        .map(|x| {
            x.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{key:?} holds a non-u32"))
        })
        .collect()
}

/// A random source that yields exactly the given bytes (the vector's fixed randomness), then
/// fails closed by yielding zeros and recording that it ran out.
pub struct FixedRng {
    bytes: Vec<u8>,
    pos: usize,
    /// Whether more bytes were drawn than given.
    pub exhausted: bool,
}

impl FixedRng {
    /// A source of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            pos: 0,
            exhausted: false,
        }
    }
}

impl rand_core::TryRng for FixedRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst.iter_mut() {
            match self.bytes.get(self.pos) {
                Some(b) => *d = *b,
                None => {
                    *d = 0;
                    self.exhausted = true;
                }
            }
            self.pos = self.pos.saturating_add(1);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRng {}
