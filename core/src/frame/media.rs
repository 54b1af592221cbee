//! Codec-aware encryption: [`FrameCrypto::encrypt_media`] and [`FrameCrypto::decrypt_media`]
//! (`spec/frames.md` section 6).

use core::time::Duration;

use super::codec::{self, Codec};
use super::crypto::{Decrypted, DecryptedInfo, FrameCrypto, check_plaintext_len, max_frame_len};
use super::trailer::TAG_LEN;
use super::{AeadBackend, FrameError, MAX_FRAME_PLAINTEXT};

impl<B: AeadBackend> FrameCrypto<B> {
    /// Encrypts the `codec` frame `frame` as a frame of `stream`: the bytes packetizers and SFUs
    /// read stay in place and in the clear (authenticated), the rest is encrypted, and the
    /// trailer is appended (`spec/frames.md` section 6).
    ///
    /// An H.264 or H.265 frame is sealed again under the next counter when its output would
    /// emulate a start code (about once in 4 million bytes of ciphertext).
    pub fn encrypt_media(
        &self,
        codec: Codec,
        stream: u32,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        check_plaintext_len(frame.len())?;
        let mut out = vec![0u8; max_frame_len(frame.len())];
        let n = self.encrypt_media_into(codec, stream, frame, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Like [`encrypt_media`](Self::encrypt_media) but writes to `out` and returns the frame's
    /// length. `max_frame_len(frame.len())` bytes are always enough (an H.264/H.265 frame with
    /// 3-byte start codes grows by one byte per such unit in canonical form). Allocates nothing
    /// except for a frame that is not in canonical form (AV1 always; H.264/H.265 with an access
    /// unit delimiter, a repeated parameter set or a start code other than `00 00 00 01`), which
    /// is built in a new buffer.
    pub fn encrypt_media_into(
        &self,
        codec: Codec,
        stream: u32,
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<usize, FrameError> {
        check_plaintext_len(frame.len())?;
        let prepared = codec::prepare(codec, frame)?;
        let frame = prepared.canonical.as_deref().unwrap_or(frame);
        self.encrypt_layout(
            stream,
            frame,
            &prepared.layout.clear,
            prepared.layout.patch,
            |sealed| prepared.check.accepts(sealed),
            out,
        )
    }

    /// Decrypts a frame made by [`encrypt_media`](Self::encrypt_media) with the same `codec`,
    /// received at `now`, and returns the codec frame in its canonical form (for H.264/H.265
    /// without access unit delimiters, with 4-byte start codes).
    pub fn decrypt_media(
        &self,
        codec: Codec,
        frame: &[u8],
        now: Duration,
    ) -> Result<Decrypted, FrameError> {
        let canonical = codec::canonical(codec, frame)?;
        let frame = canonical.as_deref().unwrap_or(frame);
        let mut out = vec![0u8; frame.len().saturating_sub(TAG_LEN).min(MAX_FRAME_PLAINTEXT)];
        let info = self.decrypt_canonical_into(codec, frame, &mut out, now)?;
        Ok(Decrypted::from_buffer(info, out))
    }

    /// Like [`decrypt_media`](Self::decrypt_media) but writes the codec frame to `out`.
    /// An AV1, H.264 or H.265 frame is brought to its canonical form first (depacketizers may
    /// add temporal delimiters, size fields, access unit delimiters or copies of parameter sets,
    /// and write 3-byte start codes), in a new buffer if it changes. `frame.len() - 16` bytes
    /// are enough for a frame whose start codes all have 4 bytes (as sent);
    /// [`max_plaintext_len(frame.len())`](super::max_plaintext_len) bytes are always enough (a
    /// 3-byte start code grows by one byte, at most [`MAX_UNITS`](super::MAX_UNITS) in a
    /// frame). A
    /// too small `out` fails with [`FrameError::BufferTooSmall`] before the frame's counter is
    /// used up.
    pub fn decrypt_media_into(
        &self,
        codec: Codec,
        frame: &[u8],
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        let canonical = codec::canonical(codec, frame)?;
        let frame = canonical.as_deref().unwrap_or(frame);
        self.decrypt_canonical_into(codec, frame, out, now)
    }

    /// [`decrypt_media_into`](Self::decrypt_media_into) of a frame already in canonical form.
    fn decrypt_canonical_into(
        &self,
        codec: Codec,
        frame: &[u8],
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        // Check the room for a restored AV1 size field before the frame's counter is used up.
        let needed = frame.len().saturating_sub(TAG_LEN);
        if out.len() < needed.min(MAX_FRAME_PLAINTEXT) {
            return Err(FrameError::BufferTooSmall { needed });
        }
        let mut info = self.decrypt_into(frame, out, now)?;
        let trailer_len = frame.len().saturating_sub(info.len);
        match codec::restore(codec, out, info.len, trailer_len) {
            Ok(len) => {
                info.len = len;
                Ok(info)
            }
            Err(e) => {
                if let Some(o) = out.get_mut(..info.len) {
                    o.iter_mut().for_each(|b| *b = 0);
                }
                Err(e)
            }
        }
    }
}
