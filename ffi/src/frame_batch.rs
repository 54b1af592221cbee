//! Many frames per call: [`FrameCrypto::encrypt_batch`] and [`FrameCrypto::decrypt_batch`].
//!
//! A call from Python, Kotlin or Swift costs far more than the cryptography of one 1,200-byte
//! frame (argument conversion, allocations, the foreign-function call itself). These methods take
//! many frames packed into one byte buffer and return one packed buffer, so that cost is paid
//! once per batch. The packed input is borrowed (`&[u8]`: uniffi hands the foreign buffer over
//! without copying it). All integers are little-endian.
//!
//! Input of `encrypt_batch`, per frame: `stream: i32, prefix_len: i32, len: u32`, then `len`
//! plaintext bytes ([`ENCRYPT_INPUT_HEADER`] = 12 bytes of header).
//! Output, per input frame in order: `status: u8, len: u32`, then `len` frame bytes
//! ([`ENCRYPT_OUTPUT_HEADER`] = 5 bytes).
//!
//! Input of `decrypt_batch`, per frame: `len: u32`, then `len` frame bytes
//! ([`DECRYPT_INPUT_HEADER`] = 4 bytes).
//! Output, per input frame in order: `status: u8, sender: u32, stream: u32, epoch: u64,
//! counter: u64, prefix_len: u32, len: u32`, then `len` plaintext bytes
//! ([`DECRYPT_OUTPUT_HEADER`] = 33 bytes).
//!
//! `status` is [`BATCH_OK`] or [`BATCH_FAILED`]; a failed frame's other fields are zero and it
//! has no bytes, and [`FrameBatch::failures`] holds its index and its error (the same
//! [`ConclaveError`] the single-frame call would have raised). One bad frame never fails the
//! others. Only a batch whose packing is malformed (a length past the end, a truncated header,
//! bytes after the last frame), with more than [`MAX_FRAME_BATCH`] frames or more than
//! [`MAX_FRAME_BATCH_BYTES`] bytes, or with a negative `now_ms`, fails as a whole, with
//! `InvalidArgument`, before any frame is touched (no counter is used up, no replay window
//! moves).

use conclave_core::frame::max_frame_len;

use crate::{ConclaveError, FrameCrypto, ms};

/// Most frames in one batch.
pub const MAX_FRAME_BATCH: u32 = 1024;
/// Most bytes of one packed batch given to [`FrameCrypto::encrypt_batch`] or
/// [`FrameCrypto::decrypt_batch`] (4 MiB: four of the largest frames, or more than 3,000
/// 1,200-byte frames).
pub const MAX_FRAME_BATCH_BYTES: u32 = 4 * 1024 * 1024;
/// Bytes before each plaintext in the input of `encrypt_batch`.
pub const ENCRYPT_INPUT_HEADER: u32 = 12;
/// Bytes before each frame in the output of `encrypt_batch`.
pub const ENCRYPT_OUTPUT_HEADER: u32 = 5;
/// Bytes before each frame in the input of `decrypt_batch`.
pub const DECRYPT_INPUT_HEADER: u32 = 4;
/// Bytes before each plaintext in the output of `decrypt_batch`.
pub const DECRYPT_OUTPUT_HEADER: u32 = 33;
/// `status` of a frame that was encrypted or decrypted.
pub const BATCH_OK: u8 = 0;
/// `status` of a frame that failed (its error is in [`FrameBatch::failures`]).
pub const BATCH_FAILED: u8 = 1;

/// Bytes that cross the FFI in one copy: foreign code sees a byte string (`bytes`, `ByteArray`,
/// `Data`), exactly as for a `Vec<u8>`. uniffi 0.32 writes a `Vec<u8>` into its buffer one byte
/// at a time (about 2 ns a byte here, as much as ring's decryption of the same bytes); this type
/// writes the same encoding (big-endian `i32` length, then the bytes) with one copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackedBytes(pub Vec<u8>);

impl core::ops::Deref for PackedBytes {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

// SAFETY: the FFI type and the buffer encoding are those of `Vec<u8>` (the metadata says
// `Vec<u8>`): lifting delegates to it, and `write` produces the bytes its `write` produces.
unsafe impl<UT> uniffi::FfiConverter<UT> for PackedBytes {
    type FfiType = uniffi::RustBuffer;

    fn lower(obj: Self) -> uniffi::RustBuffer {
        let mut buf = Vec::new();
        <Self as uniffi::FfiConverter<UT>>::write(obj, &mut buf);
        uniffi::RustBuffer::from_vec(buf)
    }

    fn try_lift(v: uniffi::RustBuffer) -> uniffi::Result<Self> {
        <Vec<u8> as uniffi::Lift<UT>>::try_lift(v).map(PackedBytes)
    }

    fn write(obj: Self, buf: &mut Vec<u8>) {
        // Batches are bounded far below i32::MAX bytes (MAX_FRAME_BATCH_BYTES plus overheads).
        let len = i32::try_from(obj.0.len()).unwrap_or(i32::MAX);
        buf.reserve(obj.0.len().saturating_add(4));
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&obj.0);
    }

    fn try_read(buf: &mut &[u8]) -> uniffi::Result<Self> {
        <Vec<u8> as uniffi::Lift<UT>>::try_read(buf).map(PackedBytes)
    }

    const TYPE_ID_META: uniffi::MetadataBuffer = <Vec<u8> as uniffi::TypeId<UT>>::TYPE_ID_META;
}

uniffi::derive_ffi_traits!(blanket PackedBytes);

/// The result of a batch call: every frame's result packed in input order, and the failures.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FrameBatch {
    /// One entry per input frame, in input order (layout in the method's documentation).
    pub packed: PackedBytes,
    /// The frames that failed, in input order. Empty when every frame succeeded.
    pub failures: Vec<FrameFailure>,
}

/// One frame of a batch that failed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FrameFailure {
    /// Position of the frame in the batch (0-based).
    pub index: i32,
    /// Why it failed: what the single-frame call would have raised.
    pub error: ConclaveError,
}

/// The bounds of one batch call, for the foreign-language wrappers (which split larger batches
/// instead of hard-coding them).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FrameBatchLimits {
    /// [`MAX_FRAME_BATCH`].
    pub max_frames: u32,
    /// [`MAX_FRAME_BATCH_BYTES`].
    pub max_bytes: u32,
}

/// The batch bounds ([`MAX_FRAME_BATCH`], [`MAX_FRAME_BATCH_BYTES`]).
#[uniffi::export]
pub fn frame_batch_limits() -> FrameBatchLimits {
    FrameBatchLimits {
        max_frames: MAX_FRAME_BATCH,
        max_bytes: MAX_FRAME_BATCH_BYTES,
    }
}

/// A plaintext to encrypt, as read from the packed input.
struct EncryptEntry<'a> {
    stream: i32,
    prefix_len: i32,
    plaintext: &'a [u8],
}

/// The 4 bytes at `at`, if they are there.
fn word(buf: &[u8], at: usize) -> Option<[u8; 4]> {
    buf.get(at..at.checked_add(4)?)?.try_into().ok()
}

/// Reads a little-endian `u32` at `at`, if the bytes are there.
fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    word(buf, at).map(u32::from_le_bytes)
}

/// Reads a little-endian `i32` at `at`, if the bytes are there.
fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    word(buf, at).map(i32::from_le_bytes)
}

/// One entry of a packed batch: its header (length field included) and its body.
type Entry<'a> = (&'a [u8], &'a [u8]);

/// Splits a packed batch into entries of `header` bytes (whose last 4 bytes are the body's
/// length) followed by the body. Checks the whole packing and the bounds before returning.
fn split_packed(packed: &[u8], header: usize) -> Result<Vec<Entry<'_>>, ConclaveError> {
    let max_bytes = MAX_FRAME_BATCH_BYTES as usize;
    if packed.len() > max_bytes {
        return Err(ConclaveError::invalid(format!(
            "a frame batch is {} bytes, more than MAX_FRAME_BATCH_BYTES ({max_bytes})",
            packed.len()
        )));
    }
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at < packed.len() {
        let index = entries.len();
        if index >= MAX_FRAME_BATCH as usize {
            return Err(ConclaveError::invalid(format!(
                "a frame batch has more than MAX_FRAME_BATCH ({MAX_FRAME_BATCH}) frames"
            )));
        }
        let malformed = |what: &str| {
            ConclaveError::invalid(format!(
                "malformed frame batch: frame {index} at byte {at}: {what}"
            ))
        };
        // Both checked: `at < packed.len() <= MAX_FRAME_BATCH_BYTES`, far from overflow.
        let head = packed
            .get(at..at.saturating_add(header))
            .ok_or_else(|| malformed("truncated header"))?;
        let len = read_u32(head, header.saturating_sub(4))
            .ok_or_else(|| malformed("truncated header"))? as usize;
        let start = at.saturating_add(header);
        let body = packed
            .get(start..start.saturating_add(len))
            .ok_or_else(|| malformed("length past the end of the batch"))?;
        entries.push((head, body));
        at = start.saturating_add(len);
    }
    Ok(entries)
}

fn encrypt_entries(packed: &[u8]) -> Result<Vec<EncryptEntry<'_>>, ConclaveError> {
    let header = ENCRYPT_INPUT_HEADER as usize;
    split_packed(packed, header)?
        .into_iter()
        .map(
            |(head, plaintext)| match (read_i32(head, 0), read_i32(head, 4)) {
                (Some(stream), Some(prefix_len)) => Ok(EncryptEntry {
                    stream,
                    prefix_len,
                    plaintext,
                }),
                _ => Err(ConclaveError::internal("batch header split".into())),
            },
        )
        .collect()
}

/// Writes `len` as the little-endian `u32` at `out[at..at + 4]` (a header slot written before).
fn patch_u32(out: &mut [u8], at: usize, len: usize) {
    if let Some(slot) = out.get_mut(at..at.saturating_add(4)) {
        // Every length is below MAX_FRAME_BATCH_BYTES plus a frame's overhead.
        slot.copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    }
}

/// A per-frame failure's result entry: `BATCH_FAILED` and zeros.
fn push_failed(out: &mut Vec<u8>, header: usize) {
    let at = out.len();
    out.resize(at.saturating_add(header), 0);
    if let Some(s) = out.get_mut(at) {
        *s = BATCH_FAILED;
    }
}

/// Runs `one` on every item, appending each result to `out` (a failed item gets a
/// [`BATCH_FAILED`] entry of `header` zero bytes and a [`FrameFailure`]).
fn run_batch<T>(
    items: impl Iterator<Item = T>,
    header: usize,
    mut out: Vec<u8>,
    mut one: impl FnMut(T, &mut Vec<u8>) -> Result<(), ConclaveError>,
) -> FrameBatch {
    let mut failures = Vec::new();
    for (index, item) in items.enumerate() {
        if let Err(error) = one(item, &mut out) {
            push_failed(&mut out, header);
            failures.push(FrameFailure {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                error,
            });
        }
    }
    FrameBatch {
        packed: PackedBytes(out),
        failures,
    }
}

impl FrameCrypto {
    /// Seals one entry into `out` after its 5-byte header; on failure leaves `out` as it was.
    fn encrypt_one(&self, e: &EncryptEntry<'_>, out: &mut Vec<u8>) -> Result<(), ConclaveError> {
        let stream = crate::arg32("stream", e.stream)?;
        let prefix = usize::try_from(e.prefix_len).map_err(|_| {
            ConclaveError::invalid(format!(
                "prefix_len must not be negative (got {})",
                e.prefix_len
            ))
        })?;
        let start = out.len();
        out.extend_from_slice(&[BATCH_OK, 0, 0, 0, 0]);
        let body = out.len();
        out.resize(body.saturating_add(max_frame_len(e.plaintext.len())), 0);
        let engine = self.engine_ref();
        match engine.encrypt_into(
            stream,
            e.plaintext,
            prefix,
            out.get_mut(body..).unwrap_or_default(),
        ) {
            Ok(n) => {
                out.truncate(body.saturating_add(n));
                patch_u32(out, start.saturating_add(1), n);
                Ok(())
            }
            Err(err) => {
                out.truncate(start);
                Err(ConclaveError::from_frame(err))
            }
        }
    }

    /// Opens one frame into `out` after its 33-byte header; on failure leaves `out` as it was.
    fn decrypt_one(
        &self,
        frame: &[u8],
        now: core::time::Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), ConclaveError> {
        let start = out.len();
        let header = DECRYPT_OUTPUT_HEADER as usize;
        let body = start.saturating_add(header);
        // Never more than MAX_FRAME_PLAINTEXT: a longer frame fails before writing.
        let room = frame
            .len()
            .saturating_sub(conclave_core::frame::TAG_LEN)
            .min(conclave_core::frame::MAX_FRAME_PLAINTEXT);
        out.resize(body.saturating_add(room), 0);
        let result =
            self.engine_ref()
                .decrypt_into(frame, out.get_mut(body..).unwrap_or_default(), now);
        match result {
            Ok(d) => {
                out.truncate(body.saturating_add(d.len));
                let mut h = [0u8; 33];
                h[0] = BATCH_OK;
                h[1..5].copy_from_slice(&d.sender.to_le_bytes());
                h[5..9].copy_from_slice(&d.stream.to_le_bytes());
                h[9..17].copy_from_slice(&d.epoch.to_le_bytes());
                h[17..25].copy_from_slice(&d.counter.to_le_bytes());
                // At most MAX_CLEAR_PREFIX (255).
                let prefix = u32::try_from(d.prefix_len).unwrap_or(u32::MAX);
                h[25..29].copy_from_slice(&prefix.to_le_bytes());
                let len = u32::try_from(d.len).unwrap_or(u32::MAX);
                h[29..33].copy_from_slice(&len.to_le_bytes());
                if let Some(slot) = out.get_mut(start..body) {
                    slot.copy_from_slice(&h);
                }
                Ok(())
            }
            Err(err) => {
                out.truncate(start);
                Err(ConclaveError::from_frame(err))
            }
        }
    }
}

#[uniffi::export]
impl FrameCrypto {
    /// Encrypts many frames in one call (see [`FrameCrypto::encrypt`] for one frame).
    ///
    /// `packed` holds, per frame, `stream: i32, prefix_len: i32, len: u32` (little-endian), then
    /// `len` plaintext bytes; at most `MAX_FRAME_BATCH` (1,024) frames and
    /// `MAX_FRAME_BATCH_BYTES` (4 MiB). The result's `packed` holds, per frame in order,
    /// `status: u8` (0 sealed, 1 failed), `len: u32`, then `len` frame bytes; each failed frame
    /// (no bytes) is in `failures` with its index and the error `encrypt` would have raised. A
    /// failed frame uses no counter.
    ///
    /// Fails as a whole, with `InvalidArgument` and before sealing anything, only when the
    /// packing is malformed or over a bound.
    pub fn encrypt_batch(&self, packed: &[u8]) -> Result<FrameBatch, ConclaveError> {
        let entries = encrypt_entries(packed)?;
        let out = Vec::with_capacity(
            entries
                .iter()
                .map(|e| max_frame_len(e.plaintext.len()).saturating_add(5))
                .fold(0usize, usize::saturating_add),
        );
        Ok(run_batch(
            entries.iter(),
            ENCRYPT_OUTPUT_HEADER as usize,
            out,
            |e, out| self.encrypt_one(e, out),
        ))
    }

    /// Decrypts many frames received at time `now_ms` in one call (see
    /// [`FrameCrypto::decrypt`] for one frame).
    ///
    /// `packed` holds, per frame, `len: u32` (little-endian), then `len` frame bytes; at most
    /// `MAX_FRAME_BATCH` (1,024) frames and `MAX_FRAME_BATCH_BYTES` (4 MiB). The result's
    /// `packed` holds, per frame in order, `status: u8` (0 decrypted, 1 failed), `sender: u32`,
    /// `stream: u32`, `epoch: u64`, `counter: u64`, `prefix_len: u32`, `len: u32`, then `len`
    /// plaintext bytes (clear prefix included); each failed frame (zeros, no bytes) is in
    /// `failures` with its index and the error `decrypt` would have raised (`Tampered`,
    /// `Replayed`, ...), and is counted in [`FrameCrypto::diagnostics`] as usual.
    ///
    /// Fails as a whole, with `InvalidArgument` and before decrypting anything, only when
    /// `now_ms` is negative or the packing is malformed or over a bound.
    pub fn decrypt_batch(&self, packed: &[u8], now_ms: i64) -> Result<FrameBatch, ConclaveError> {
        let now = ms(now_ms)?;
        let frames = split_packed(packed, DECRYPT_INPUT_HEADER as usize)?;
        let header = DECRYPT_OUTPUT_HEADER as usize;
        let out = Vec::with_capacity(
            frames
                .iter()
                .map(|(_, f)| f.len().saturating_add(header))
                .fold(0usize, usize::saturating_add),
        );
        Ok(run_batch(frames.iter(), header, out, |(_, frame), out| {
            self.decrypt_one(frame, now, out)
        }))
    }
}
