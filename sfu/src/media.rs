//! The media branches: test pattern and tone → encoder → `conclaveenc` → payloader →
//! `webrtcbin` (publisher), and `webrtcbin` → depayloader → `conclavedec` → decoder → sink
//! (subscriber), with counters around each step.
//!
//! `conclaveenc` and `conclavedec` (crate `gst-conclave`) take the meeting's [`FrameCrypto`]
//! and pick the codec processor from the caps. A frame that fails to decrypt is dropped by
//! `conclavedec` and reported on the bus (reason, sender), never an error of the pipeline; the
//! pad probes here count frames in and out of the elements, per Janus feed, and read the
//! sender and epoch tag of each frame that decrypted from its (authenticated) trailer.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conclave_core::frame::codec::canonical_form;
use conclave_core::frame::{Codec, FrameCrypto, FrameHeader};
use gst::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::MediaError;
use crate::peer::{Peer, make};
use crate::stats::{MAX_EPOCHS_PER_ROW, SharedStats, note_epoch};

/// Frame stream id of video.
pub const VIDEO_STREAM: u32 = 0;
/// Frame stream id of audio.
pub const AUDIO_STREAM: u32 = 1;
/// RTP payload type of H.264.
const H264_PT: u32 = 96;
/// RTP payload type of Opus.
const OPUS_PT: u32 = 111;

/// What the media branches need from the meeting, and the test-only switches.
#[derive(Clone)]
pub struct MediaCrypto {
    /// The meeting's frame keys.
    pub frames: Arc<FrameCrypto>,
    /// Clock origin of the engine (the `now` epochs are installed with).
    pub origin: Instant,
    /// Counters.
    pub stats: SharedStats,
    /// Test only: where the SHA-256 of every clear video frame given to `conclaveenc` is
    /// written (one hex line per frame), to compare with a recording decrypted later.
    pub clear_log: Option<Arc<Mutex<std::fs::File>>>,
    /// Test only: flip the last byte (in the authentication tag) of every n-th encrypted video
    /// frame, as a tampering SFU would, to show that receivers reject it.
    pub tamper_every: Option<u64>,
}

impl MediaCrypto {
    /// Gives `element` (a `conclaveenc` or `conclavedec`) the meeting's keys and clock.
    fn attach(&self, element: &gst::Element) -> Result<(), MediaError> {
        let origin = self.origin;
        gstconclave::set_frame_crypto_with_clock(
            element,
            Arc::clone(&self.frames),
            Arc::new(move || origin.elapsed()),
        )
        .map_err(|e| MediaError::Pipeline(e.to_string()))
    }
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
    let v_seal = add_encryptor(peer, crypto, &v_enc, VIDEO_STREAM)?;
    let a_seal = add_encryptor(peer, crypto, &a_enc, AUDIO_STREAM)?;
    link_pay(peer, &v_seal, "rtph264pay", &vcaps)?;
    link_pay(peer, &a_seal, "rtpopuspay", &acaps)?;
    clear_probe(&v_enc, crypto.clone(), Codec::H264, "video");
    clear_probe(&a_enc, crypto.clone(), Codec::Opus, "audio");
    sealed_probe(&v_seal, crypto.clone(), "video");
    sealed_probe(&a_seal, crypto.clone(), "audio");
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

fn add_encryptor(
    peer: &Peer,
    crypto: &MediaCrypto,
    after: &gst::Element,
    stream: u32,
) -> Result<gst::Element, MediaError> {
    let enc = make("conclaveenc")?;
    enc.set_property("stream-id", stream);
    crypto.attach(&enc)?;
    peer.pipeline.add(&enc)?;
    after.link(&enc)?;
    Ok(enc)
}

fn link_pay(peer: &Peer, enc: &gst::Element, pay: &str, caps: &str) -> Result<(), MediaError> {
    let pay = make(pay)?;
    let filter = make("capsfilter")?;
    filter.set_property_from_str("caps", caps);
    peer.pipeline.add_many([&pay, &filter])?;
    gst::Element::link_many([enc, &pay, &filter, &peer.webrtc])?;
    Ok(())
}

/// Counts the encoder's frames and (test only) logs the hashes of what `conclaveenc` seals: the
/// frame's canonical form (`spec/frames.md` section 6), which is what `conclavedec` returns.
/// The frames go to `conclaveenc` as the encoder wrote them.
fn clear_probe(enc: &gst::Element, c: MediaCrypto, codec: Codec, kind: &'static str) {
    let Some(pad) = enc.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        c.stats.sent(kind, |s| s.encoded += 1);
        let Some(log) = &c.clear_log else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Ok;
        };
        let frame = map.as_slice();
        let clear = canonical_form(codec, frame).unwrap_or_else(|_| frame.to_vec());
        let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{}", hex::encode(Sha256::digest(&clear)));
        gst::PadProbeReturn::Ok
    });
}

/// Counts what `conclaveenc` pushes, notes its epoch tags and (test only) tampers.
fn sealed_probe(seal: &gst::Element, c: MediaCrypto, kind: &'static str) {
    let Some(pad) = seal.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Ok;
        };
        let tag = FrameHeader::parse(map.as_slice())
            .ok()
            .map(|p| p.header.epoch_tag);
        let mut tamper = false;
        c.stats.sent(kind, |s| {
            s.sealed += 1;
            if let Some(t) = tag {
                note_epoch(&mut s.epochs, u64::from(t));
            }
            if let Some(n) = c.tamper_every.filter(|n| *n > 0 && kind == "video")
                && s.sealed.is_multiple_of(n)
            {
                s.tampered += 1;
                tamper = true;
            }
        });
        if !tamper {
            return gst::PadProbeReturn::Ok;
        }
        let mut frame = map.as_slice().to_vec();
        drop(map);
        if let Some(last) = frame.last_mut() {
            *last ^= 0x01;
        }
        replace(buffer, frame);
        gst::PadProbeReturn::Ok
    });
}

/// Replaces `buffer`'s bytes, keeping its timestamps and flags.
fn replace(buffer: &mut gst::Buffer, bytes: Vec<u8>) {
    let pts = buffer.pts();
    let dts = buffer.dts();
    let flags = buffer.flags();
    let mut out = gst::Buffer::from_mut_slice(bytes);
    if let Some(b) = out.get_mut() {
        b.set_pts(pts);
        b.set_dts(dts);
        b.set_flags(flags);
    }
    *buffer = out;
}

/// Links a new `webrtcbin` source pad (a subscribed track of `feed`) to a depayloader,
/// `conclavedec`, a decoder and a sink, with counters. The `conclavedec` is named
/// `conclavedec-video` or `conclavedec-audio` (its bus messages are told apart by that name).
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
    let (kind, depay, format, dec) = match name.to_ascii_uppercase().as_str() {
        // H.264 as Annex B access units.
        "H264" => (
            "video",
            "rtph264depay",
            "video/x-h264,stream-format=byte-stream,alignment=au",
            "avdec_h264",
        ),
        "OPUS" => ("audio", "rtpopusdepay", "audio/x-opus", "opusdec"),
        other => {
            let sink = make("fakesink")?;
            pipeline.add(&sink)?;
            sink.sync_state_with_parent()?;
            let sink_pad = sink
                .static_pad("sink")
                .ok_or_else(|| MediaError::Pipeline("sink".into()))?;
            pad.link(&sink_pad)
                .map_err(|_| MediaError::Pipeline(format!("cannot link a {other} track")))?;
            return Ok(());
        }
    };
    let depay = make(depay)?;
    let filter = make("capsfilter")?;
    filter.set_property_from_str("caps", format);
    let open = gst::ElementFactory::make("conclavedec")
        .name(format!("conclavedec-{kind}"))
        .build()
        .map_err(|_| MediaError::MissingElement("conclavedec".into()))?;
    crypto.attach(&open)?;
    let queue = make("queue")?;
    let dec = make(dec)?;
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    let all = [&depay, &filter, &open, &queue, &dec, &sink];
    pipeline.add_many(all)?;
    gst::Element::link_many(all)?;
    for e in all {
        e.sync_state_with_parent()?;
    }
    let depay_sink = depay
        .static_pad("sink")
        .ok_or_else(|| MediaError::Pipeline("depayloader without sink pad".into()))?;
    pad.link(&depay_sink)
        .map_err(|e| MediaError::Pipeline(format!("cannot link the {kind} track: {e:?}")))?;
    open_probes(&open, crypto.stats.clone(), feed, kind);
    decoded_probe(&dec, crypto.stats.clone(), feed.to_string(), kind);
    Ok(())
}

/// Counts the frames into `conclavedec` and the ones it pushes out. `conclavedec` handles one
/// buffer at a time on its streaming thread: a frame that comes out is the one that went in
/// last, so its trailer (read on the way in) names its sender and epoch tag.
fn open_probes(open: &gst::Element, stats: SharedStats, feed: &str, kind: &'static str) {
    let (Some(sink), Some(src)) = (open.static_pad("sink"), open.static_pad("src")) else {
        return;
    };
    let last = Arc::new(Mutex::new(None::<(u32, u8)>));
    let (l, st, f) = (Arc::clone(&last), stats.clone(), feed.to_string());
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let header = info
            .buffer()
            .and_then(|b| b.map_readable().ok())
            .and_then(|m| FrameHeader::parse(m.as_slice()).ok())
            .map(|p| (p.header.sender, p.header.epoch_tag));
        *l.lock().unwrap_or_else(|p| p.into_inner()) = header;
        st.received(&f, kind, |r| r.received += 1);
        gst::PadProbeReturn::Ok
    });
    let f = feed.to_string();
    src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let header = last.lock().unwrap_or_else(|p| p.into_inner()).take();
        stats.received(&f, kind, |r| {
            r.decrypted += 1;
            if let Some((sender, tag)) = header {
                note_epoch(&mut r.epochs, u64::from(tag));
                if r.leaves.len() < MAX_EPOCHS_PER_ROW {
                    r.leaves.insert(sender);
                }
            }
        });
        gst::PadProbeReturn::Ok
    });
}

/// Counts a `conclave-decrypt-failed` message of the `conclavedec` of `kind` in the pipeline of
/// `feed`'s subscription (`suppressed` failures, not reported because of the element's rate
/// limit, are counted as `unreported`).
pub fn count_failure(stats: &SharedStats, feed: &str, element: &str, s: &gst::StructureRef) {
    if s.name() != gstconclave::DECRYPT_FAILED_MESSAGE {
        return;
    }
    let kind = match element {
        "conclavedec-video" => "video",
        "conclavedec-audio" => "audio",
        _ => return,
    };
    let reason = s.get::<String>("reason").unwrap_or_default();
    let suppressed = s.get::<u64>("suppressed").unwrap_or(0);
    stats.received(feed, kind, |r| {
        let key = crate::stats::reason_key(&reason);
        *r.rejected.entry(key).or_default() += 1;
        if suppressed > 0 {
            *r.rejected.entry("unreported").or_default() += suppressed;
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
