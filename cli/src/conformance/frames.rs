//! Checker of frames.json: every frame decrypts to its plaintext, and every rejected frame is
//! rejected with its error kind.

use core::time::Duration;

use conclave_core::Secret;
use conclave_core::frame::{Codec, FrameConfig, FrameCrypto, FrameError};
use serde_json::Value;

use super::Report;
use super::json::{array, bytes, get, list, num, text};

/// The error kind of `spec/wire.md` section 2.1 / `frames.md` section 4.1: the stable
/// snake_case name of the error's variant.
fn kind(e: &FrameError) -> &'static str {
    e.kind().as_str()
}

const T0: Duration = Duration::ZERO;

fn receiver(fs: [u8; 32], epochs: &[u64]) -> Result<FrameCrypto, String> {
    let r = FrameCrypto::new(FrameConfig::default()).map_err(|e| e.to_string())?;
    for &e in epochs {
        r.install_epoch(e, &Secret::from_bytes(fs), T0)
            .map_err(|e| e.to_string())?;
    }
    Ok(r)
}

/// frames.json.
pub fn check(v: &Value, r: &mut Report) -> Result<(), String> {
    let fs = array::<32>(v, "frame_secret")?;
    for c in list(v, "cases")? {
        let rx = receiver(fs, &[num(c, "epoch")?])?;
        let frame = bytes(c, "frame")?;
        let d = match Codec::from_name(text(c, "codec")?) {
            Some(codec) => rx.decrypt_media(codec, &frame, T0),
            None => rx.decrypt(&frame, T0),
        };
        let ok = d.is_ok_and(|d| {
            u64::from(d.sender) == num(c, "sender").unwrap_or(u64::MAX)
                && u64::from(d.stream) == num(c, "stream").unwrap_or(u64::MAX)
                && d.counter == num(c, "counter").unwrap_or(u64::MAX)
                && bytes(c, "decrypted").is_ok_and(|p| p == d.plaintext)
        });
        r.positive(text(c, "description")?, ok);
    }
    for c in list(v, "rejected")? {
        let what = text(c, "description")?;
        let epochs: Vec<u64> = list(c, "epochs")?
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let rx = receiver(fs, &epochs)?;
        if let Some(own) = get(c, "own_sender")?.as_u64() {
            let own = u32::try_from(own).map_err(|_| "own_sender exceeds u32")?;
            rx.set_own_sender(own).map_err(|e| e.to_string())?;
        }
        for f in list(c, "accepted_first")? {
            let f = super::json::unhex(f.as_str().ok_or("accepted_first holds a non-string")?)?;
            if let Err(e) = rx.decrypt(&f, T0) {
                r.error(format!(
                    "{what}: a frame of accepted_first was rejected: {e}"
                ));
            }
        }
        let pad = usize::try_from(num(c, "pad_zeros")?).map_err(|_| "pad_zeros too large")?;
        if pad > 2 * conclave_core::frame::MAX_FRAME_PLAINTEXT {
            return Err("pad_zeros too large".into());
        }
        let mut frame = vec![0u8; pad];
        frame.extend(bytes(c, "frame")?);
        let got = match rx.decrypt(&frame, T0) {
            Ok(_) => "accepted",
            Err(e) => kind(&e),
        };
        r.rejected(what, got, text(c, "kind")?);
    }
    Ok(())
}
