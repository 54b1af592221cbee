//! The media branches: test pattern and tone → encoder → encryption → payloader → `webrtcbin`
//! (publisher), and `webrtcbin` → depayloader → decryption → decoder → sink (subscriber), with
//! counters at each step.
//!
//! Encryption and decryption are pad probes that call the meeting's
//! [`FrameCrypto`] with the codec processors
//! (`encrypt_media` / `decrypt_media`): exactly where the `conclaveenc` / `conclavedec` elements
//! of `gst-conclave` sit (between encoder and payloader, depayloader and decoder). A frame that
//! fails to decrypt is counted by reason and dropped, never an error of the pipeline.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conclave_core::frame::{Codec, FrameCrypto, FrameError};
use gst::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::MediaError;
use crate::peer::{Peer, make};
use crate::stats::{SharedStats, note_epoch};

/// Frame stream id of video.
pub const VIDEO_STREAM: u32 = 0;
/// Frame stream id of audio.
pub const AUDIO_STREAM: u32 = 1;
/// RTP payload type of H.264.
const H264_PT: u32 = 96;
/// RTP payload type of Opus.
const OPUS_PT: u32 = 111;

/// How the media branches treat frames.
#[derive(Clone)]
pub struct MediaCrypto {
    /// The meeting's frame keys.
    pub frames: Arc<FrameCrypto>,
    /// Clock origin of the engine (the replay window's `now`).
    pub origin: Instant,
    /// Counters.
    pub stats: SharedStats,
    /// Test only: where the SHA-256 of every clear video frame sealed is written (one hex line
    /// per frame), to compare with a recording decrypted later.
    pub clear_log: Option<Arc<Mutex<std::fs::File>>>,
    /// Test only: flip the last byte (in the authentication tag) of every n-th sealed video
    /// frame, as a tampering SFU would, to show that receivers reject it.
    pub tamper_every: Option<u64>,
}

/// Adds the publisher branches (H.264 video, Opus audio) to `peer`'s pipeline.
pub fn add_publisher(peer: &Peer, crypto: &MediaCrypto) -> Result<(), MediaError> {
    let video = [
        (
            "videotestsrc",
            vec![("is-live", "true"), ("pattern", "ball")],
        ),
        (
            "capsfilter",
            vec![("caps", "video/x-raw,width=320,height=240,framerate=15/1")],
        ),
        (
            "x264enc",
            vec![
                ("tune", "zerolatency"),
                ("speed-preset", "ultrafast"),
                ("key-int-max", "15"),
                ("bitrate", "300"),
                // No access unit delimiters: decryption returns the canonical form, which has
                // none, so the clear frames hashed for the recording check equal it.
                ("aud", "false"),
            ],
        ),
        (
            "capsfilter",
            vec![(
                "caps",
                "video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au",
            )],
        ),
    ];
    let audio = [
        ("audiotestsrc", vec![("is-live", "true"), ("wave", "sine")]),
        ("audioconvert", vec![]),
        ("audioresample", vec![]),
        ("opusenc", vec![]),
    ];
    let vcaps = format!(
        "application/x-rtp,media=video,encoding-name=H264,payload={H264_PT},clock-rate=90000"
    );
    let acaps = format!(
        "application/x-rtp,media=audio,encoding-name=OPUS,payload={OPUS_PT},clock-rate=48000"
    );
    let v_enc = chain(peer, &video)?;
    let a_enc = chain(peer, &audio)?;
    link_pay(peer, &v_enc, "rtph264pay", &vcaps)?;
    link_pay(peer, &a_enc, "rtpopuspay", &acaps)?;
    seal_probe(&v_enc, crypto.clone(), Codec::H264, VIDEO_STREAM, "video");
    seal_probe(&a_enc, crypto.clone(), Codec::Opus, AUDIO_STREAM, "audio");
    Ok(())
}

/// Builds and links `elements` in `peer`'s pipeline; returns the last one.
fn chain(peer: &Peer, elements: &[(&str, Vec<(&str, &str)>)]) -> Result<gst::Element, MediaError> {
    let mut last: Option<gst::Element> = None;
    for (factory, props) in elements {
        let e = make(factory)?;
        for (k, v) in props {
            e.set_property_from_str(k, v);
        }
        peer.pipeline.add(&e)?;
        if let Some(prev) = &last {
            prev.link(&e)?;
        }
        last = Some(e);
    }
    last.ok_or_else(|| MediaError::Pipeline("empty chain".into()))
}

fn link_pay(peer: &Peer, enc: &gst::Element, pay: &str, caps: &str) -> Result<(), MediaError> {
    let pay = make(pay)?;
    let filter = make("capsfilter")?;
    filter.set_property_from_str("caps", caps);
    peer.pipeline.add_many([&pay, &filter])?;
    gst::Element::link_many([enc, &pay, &filter, &peer.webrtc])?;
    Ok(())
}

/// Replaces each encoded frame on `enc`'s source pad by its encryption; drops it (counted)
/// while no send keys are installed.
fn seal_probe(enc: &gst::Element, c: MediaCrypto, codec: Codec, stream: u32, kind: &'static str) {
    let Some(pad) = enc.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Drop;
        };
        let four;
        let clear = if codec == Codec::H264 {
            four = four_byte_start_codes(map.as_slice());
            four.as_slice()
        } else {
            map.as_slice()
        };
        let sealed = c.frames.encrypt_media(codec, stream, clear);
        let clear_hash = (codec == Codec::H264).then(|| Sha256::digest(clear));
        debug_frame("clear", kind, clear);
        drop(map);
        let epoch = c.frames.send_epoch();
        match sealed {
            Ok(mut frame) => {
                let mut tampered = false;
                c.stats.sent(kind, |s| {
                    s.encoded += 1;
                    s.sealed += 1;
                    if let Some(e) = epoch {
                        note_epoch(&mut s.epochs, e);
                    }
                    if let Some(n) = c.tamper_every.filter(|n| *n > 0 && kind == "video")
                        && s.sealed.is_multiple_of(n)
                    {
                        s.tampered += 1;
                        tampered = true;
                    }
                });
                if tampered && let Some(last) = frame.last_mut() {
                    *last ^= 0x01;
                }
                debug_frame("sealed", kind, &frame);
                if let (Some(log), Some(h)) = (&c.clear_log, clear_hash) {
                    let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = writeln!(f, "{}", hex::encode(h));
                }
                let pts = buffer.pts();
                let flags = buffer.flags();
                let mut out = gst::Buffer::from_mut_slice(frame);
                if let Some(b) = out.get_mut() {
                    b.set_pts(pts);
                    b.set_flags(flags);
                }
                *buffer = out;
                gst::PadProbeReturn::Ok
            }
            Err(_) => {
                c.stats.sent(kind, |s| {
                    s.encoded += 1;
                    s.no_keys += 1;
                });
                gst::PadProbeReturn::Drop
            }
        }
    });
}

/// Links a new `webrtcbin` source pad (a subscribed track of `feed`) to a depayloader,
/// decryption, a decoder and a sink, with counters.
pub fn add_subscriber_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    feed: &str,
    crypto: &MediaCrypto,
) -> Result<(), MediaError> {
    let caps = pad
        .current_caps()
        .ok_or_else(|| MediaError::Pipeline("pad without caps".into()))?;
    let s = caps
        .structure(0)
        .ok_or_else(|| MediaError::Pipeline("empty caps".into()))?;
    let name = s.get::<String>("encoding-name").unwrap_or_default();
    let (codec, kind, depay, dec) = match name.to_ascii_uppercase().as_str() {
        "H264" => (Codec::H264, "video", "rtph264depay", "avdec_h264"),
        "OPUS" => (Codec::Opus, "audio", "rtpopusdepay", "opusdec"),
        other => {
            let sink = make("fakesink")?;
            pipeline.add(&sink)?;
            sink.sync_state_with_parent()?;
            pad.link(
                &sink
                    .static_pad("sink")
                    .ok_or_else(|| MediaError::Pipeline("sink".into()))?,
            )
            .map_err(|_| MediaError::Pipeline(format!("cannot link a {other} track")))?;
            return Ok(());
        }
    };
    let depay = make(depay)?;
    // H.264 as Annex B access units (what `Codec::H264` decrypts); any caps for Opus.
    let format = make("capsfilter")?;
    if codec == Codec::H264 {
        format.set_property_from_str(
            "caps",
            "video/x-h264,stream-format=byte-stream,alignment=au",
        );
    }
    let queue = make("queue")?;
    let dec = make(dec)?;
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    pipeline.add_many([&depay, &format, &queue, &dec, &sink])?;
    gst::Element::link_many([&depay, &format, &queue, &dec, &sink])?;
    for e in [&depay, &format, &queue, &dec, &sink] {
        e.sync_state_with_parent()?;
    }
    let depay_sink = depay
        .static_pad("sink")
        .ok_or_else(|| MediaError::Pipeline("depayloader without sink pad".into()))?;
    pad.link(&depay_sink)
        .map_err(|e| MediaError::Pipeline(format!("cannot link the {kind} track: {e:?}")))?;
    open_probe(&format, crypto.clone(), codec, feed.to_string(), kind);
    decoded_probe(&dec, crypto.stats.clone(), feed.to_string(), kind);
    Ok(())
}

/// Replaces each frame out of `before_dec` (after the depayloader) by its decryption; drops (and counts) the ones rejected.
fn open_probe(
    before_dec: &gst::Element,
    c: MediaCrypto,
    codec: Codec,
    feed: String,
    kind: &'static str,
) {
    let Some(pad) = before_dec.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Drop;
        };
        debug_frame("received", kind, map.as_slice());
        let opened = c
            .frames
            .decrypt_media(codec, map.as_slice(), c.origin.elapsed());
        drop(map);
        match opened {
            Ok(d) => {
                c.stats.received(&feed, kind, |r| {
                    r.received += 1;
                    r.decrypted += 1;
                    note_epoch(&mut r.epochs, d.epoch);
                    if r.leaves.len() < crate::stats::MAX_EPOCHS_PER_ROW {
                        r.leaves.insert(d.sender);
                    }
                });
                let pts = buffer.pts();
                let flags = buffer.flags();
                let mut out = gst::Buffer::from_mut_slice(d.plaintext);
                if let Some(b) = out.get_mut() {
                    b.set_pts(pts);
                    b.set_flags(flags);
                }
                *buffer = out;
                gst::PadProbeReturn::Ok
            }
            Err(e) => {
                let reason = rejection_reason(&e);
                c.stats.received(&feed, kind, |r| {
                    r.received += 1;
                    *r.rejected.entry(reason).or_default() += 1;
                });
                gst::PadProbeReturn::Drop
            }
        }
    });
}

fn decoded_probe(dec: &gst::Element, stats: SharedStats, feed: String, kind: &'static str) {
    let Some(pad) = dec.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        stats.received(&feed, kind, |r| r.decoded += 1);
        gst::PadProbeReturn::Ok
    });
}

/// The H.264 byte stream `frame` with every 3-byte start code written as a 4-byte one, as
/// `rtph264depay` writes them. The encoder (x264 with sliced threads) writes 3-byte start codes
/// before its second and later slices; the codec processor's canonical form keeps the start
/// code lengths, so a frame sealed with 3-byte start codes does not authenticate after RTP.
pub fn four_byte_start_codes(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len().saturating_add(64));
    let mut zeros = 0usize;
    for &b in frame {
        if b == 1 && zeros == 2 {
            out.push(0);
        }
        out.push(b);
        zeros = if b == 0 { zeros.saturating_add(1) } else { 0 };
    }
    out
}

/// A short name for why a frame was rejected.
pub fn rejection_reason(e: &FrameError) -> &'static str {
    match e {
        FrameError::Tampered { .. } => "tampered",
        FrameError::Replayed { .. } => "replayed",
        FrameError::TooOld { .. } => "too_old",
        FrameError::UnknownEpoch { .. } | FrameError::NoKeys => "unknown_epoch",
        FrameError::OwnFrame { .. } => "own_frame",
        _ => "malformed",
    }
}

fn debug_frame(what: &str, kind: &str, frame: &[u8]) {
    if kind == "video" && std::env::var_os("CONCLAVE_SFU_DEBUG").is_some() {
        eprintln!(
            "{what} {kind} {} bytes: {} .. {}",
            frame.len(),
            hex::encode(frame.get(..48).unwrap_or(frame)),
            hex::encode(frame.get(frame.len().saturating_sub(24)..).unwrap_or(frame))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::four_byte_start_codes;

    #[test]
    fn start_codes_become_four_bytes() {
        let x = [
            0, 0, 0, 1, 0x67, 0, 0, 1, 0x41, 5, 0, 0, 3, 1, 0, 0, 1, 0x41,
        ];
        let want = [
            0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x41, 5, 0, 0, 3, 1, 0, 0, 0, 1, 0x41,
        ];
        assert_eq!(four_byte_start_codes(&x), want);
        assert_eq!(four_byte_start_codes(&want), want);
        assert!(four_byte_start_codes(&[]).is_empty());
    }
}
