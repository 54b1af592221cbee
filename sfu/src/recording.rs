//! Test only: what Janus recorded, opened with the meeting's keys.
//!
//! `janus-pp-rec` turns the VideoRoom's `.mjr` recording of a publisher into a Matroska file whose
//! frames are the encrypted H.264 access units. This reads them (`matroskademux`), decrypts each with
//! the frame secrets that a participant exported (`--export-frame-keys-for-test`), writes the
//! decrypted frames to a new Matroska file (for ffmpeg to decode), and checks each against the
//! sender's log of clear frames (`--log-clear-frames`): a decrypted frame is byte-identical to
//! the one its sender encoded, so it decodes to the same picture.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conclave_core::frame::{Codec, FrameConfig, FrameCrypto};
use conclave_core::secret::Secret;
use gst::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::error::MediaError;

/// Most epochs read from a key file.
pub const MAX_EXPORTED_EPOCHS: usize = 256;

/// Arguments of `conclave-media open-recording`.
#[derive(Debug, Clone, clap::Args)]
pub struct OpenArgs {
    /// The Matroska file made by `janus-pp-rec` from a video recording (`.mkv`).
    #[arg(long)]
    pub recording: PathBuf,
    /// Frame secrets exported by a participant (`epoch hex` lines).
    #[arg(long)]
    pub keys: PathBuf,
    /// The sender's clear-frame log (SHA-256 hex lines).
    #[arg(long)]
    pub clear_log: PathBuf,
    /// Where the decrypted Matroska is written.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Default)]
struct Tally {
    frames: u64,
    decrypted: u64,
    identical: u64,
    rejected: BTreeMap<&'static str, u64>,
}

/// Decrypts the recording and prints a JSON summary; fails unless every frame either decrypted
/// to a clear frame of the sender or was rejected as tampered.
pub fn run(args: &OpenArgs) -> Result<(), MediaError> {
    let keys = read_keys(&args.keys)?;
    let clear: HashSet<String> = std::fs::read_to_string(&args.clear_log)?
        .lines()
        .map(str::to_string)
        .collect();
    let desc = format!(
        "filesrc location=\"{}\" ! matroskademux ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! identity name=tap ! filesink location=\"{}\"",
        args.recording.display(),
        args.out.display()
    );
    let pipeline = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| MediaError::Pipeline("not a pipeline".into()))?;
    let tap = pipeline
        .by_name("tap")
        .ok_or_else(|| MediaError::Pipeline("no tap".into()))?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let t = Arc::clone(&tally);
    if let Some(pad) = tap.static_pad("src") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer_mut() else {
                return gst::PadProbeReturn::Ok;
            };
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            t.frames += 1;
            let Ok(map) = buffer.map_readable() else {
                return gst::PadProbeReturn::Drop;
            };
            let mut last = "unknown_epoch";
            let mut opened = None;
            for crypto in &keys {
                match crypto.decrypt_media(Codec::H264, map.as_slice(), Duration::ZERO) {
                    Ok(d) => {
                        opened = Some(d.plaintext);
                        break;
                    }
                    // Each decryptor holds one epoch: report an authentication failure over
                    // "unknown epoch" / "too old" from the others.
                    Err(e) if last != "tampered" => last = e.kind().as_str(),
                    Err(_) => {}
                }
            }
            drop(map);
            let Some(plain) = opened else {
                *t.rejected.entry(last).or_default() += 1;
                return gst::PadProbeReturn::Drop;
            };
            t.decrypted += 1;
            if clear.contains(&hex::encode(Sha256::digest(&plain))) {
                t.identical += 1;
            }
            let pts = buffer.pts();
            let flags = buffer.flags();
            let mut out = gst::Buffer::from_mut_slice(plain);
            if let Some(b) = out.get_mut() {
                b.set_pts(pts);
                b.set_flags(flags);
            }
            *buffer = out;
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| MediaError::Pipeline("no bus".into()))?;
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                error = Some(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "{}",
        json!({"frames": t.frames, "decrypted": t.decrypted, "identical_to_clear": t.identical,
               "rejected": t.rejected, "error": error})
    );
    if let Some(e) = error {
        return Err(MediaError::Pipeline(e));
    }
    // Frames rejected as tampered are the sender's test tampering (`--tamper-every-for-test`);
    // the caller compares their number with the sender's report.
    if t.decrypted == 0 || t.identical != t.decrypted || t.rejected.keys().any(|r| *r != "tampered")
    {
        return Err(MediaError::Pipeline(
            "the recording did not decrypt to the sender's clear frames".into(),
        ));
    }
    Ok(())
}

/// One frame decryptor per exported epoch.
fn read_keys(path: &PathBuf) -> Result<Vec<FrameCrypto>, MediaError> {
    let bad = |why: &str| MediaError::Meeting(format!("key file: {why}"));
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let (epoch, secret) = line.split_once(' ').ok_or_else(|| bad("no space"))?;
        let epoch: u64 = epoch.parse().map_err(|_| bad("epoch"))?;
        if !seen.insert(epoch) {
            continue;
        }
        if out.len() >= MAX_EXPORTED_EPOCHS {
            return Err(bad("too many epochs"));
        }
        let mut bytes = hex::decode(secret).map_err(|_| bad("hex"))?;
        let secret = Secret::<32>::from_slice(&bytes, "frame secret");
        bytes.zeroize();
        let secret = secret.map_err(|_| bad("length"))?;
        let crypto = FrameCrypto::new(FrameConfig::default()).map_err(|e| bad(&e.to_string()))?;
        crypto
            .install_epoch(epoch, &secret, Duration::ZERO)
            .map_err(|e| bad(&e.to_string()))?;
        out.push(crypto);
    }
    Ok(out)
}
