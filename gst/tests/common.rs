//! Helpers for the element tests: real encoder output through appsink, harnesses with a bus,
//! a pair of participants sharing an epoch.

#![allow(dead_code)]

use std::sync::{Arc, Once};

use conclave_core::Secret;
use conclave_core::frame::{FrameConfig, FrameCrypto};
use gst::prelude::*;
use gst_check::Harness;

/// Initialises GStreamer and registers the plugin once.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstconclave::register_static().unwrap();
    });
}

/// Encoded frames and their caps.
pub struct Encoded {
    pub caps: gst::Caps,
    pub frames: Vec<gst::Buffer>,
}

/// Runs `launch` (a pipeline ending in `appsink name=sink`) and returns what reached the sink,
/// or `None` (with a message) if one of `elements` is not installed.
pub fn encode(elements: &[&str], launch: &str) -> Option<Encoded> {
    init();
    if let Some(missing) = elements
        .iter()
        .find(|e| gst::ElementFactory::find(e).is_none())
    {
        eprintln!(
            "SKIPPED: GStreamer element {missing} is not installed (apt-get install gstreamer1.0-plugins-{{good,bad,ugly}})"
        );
        return None;
    }
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_property("sync", false);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut caps = None;
    while let Ok(sample) = sink.pull_sample() {
        caps = sample.caps().map(|c| c.to_owned());
        frames.push(sample.buffer_owned().unwrap());
    }
    let bus = pipeline.bus().unwrap();
    let err = bus.pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(err.is_none(), "encoder pipeline failed: {err:?}");
    assert!(!frames.is_empty(), "encoder produced nothing");
    Some(Encoded {
        caps: caps.unwrap(),
        frames,
    })
}

/// `n` frames of 160x120 30 fps test video into `encoder` (a gst-launch fragment that may
/// end in a parser and caps filter).
pub fn video(elements: &[&str], n: u32, encoder: &str) -> Option<Encoded> {
    encode(
        elements,
        &format!(
            "videotestsrc num-buffers={n} pattern=ball ! \
             video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! {encoder} ! \
             appsink name=sink"
        ),
    )
}

/// The frame secret both participants of the tests share in epoch 1.
pub fn secret() -> Secret<32> {
    Secret::from_bytes([0x42; 32])
}

/// A participant with leaf index `sender` that has epoch 1 installed.
pub fn participant(sender: u32) -> Arc<FrameCrypto> {
    let c = FrameCrypto::new(FrameConfig::default()).unwrap();
    c.set_own_sender(sender).unwrap();
    c.install_epoch(1, &secret(), gstconclave::monotonic_now())
        .unwrap();
    Arc::new(c)
}

/// A harness around a fresh `factory` element with `caps` on its input, and a bus to read the
/// element's messages from.
pub fn harness(factory: &str, caps: &gst::Caps) -> (Harness, gst::Bus) {
    init();
    let mut h = Harness::new(factory);
    h.set_src_caps(caps.clone());
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    (h, bus)
}

/// The harness's element.
pub fn element(h: &Harness) -> gst::Element {
    h.element().unwrap()
}

/// A `u64` counter property of the harness's element.
pub fn counter(h: &Harness, name: &str) -> u64 {
    element(h).property::<u64>(name)
}

/// Pushes `buf` and returns the output buffer, or `None` if the element dropped it.
pub fn process(h: &mut Harness, buf: &gst::Buffer) -> Option<gst::Buffer> {
    assert_eq!(h.push(buf.clone()), Ok(gst::FlowSuccess::Ok));
    h.try_pull()
}

/// The element messages named `name` on `bus`, as (reason, sender, epoch, suppressed).
pub fn failures(bus: &gst::Bus, name: &str) -> Vec<(String, Option<u32>, Option<u64>, u64)> {
    let mut out = Vec::new();
    // Not `timed_pop_filtered(ZERO, ..)`: gstreamer-rs 0.24 returns `None` from it at once.
    while let Some(msg) = bus.pop() {
        let Some(s) = msg.structure() else { continue };
        if s.name() != name {
            continue;
        }
        out.push((
            s.get::<String>("reason").unwrap(),
            s.get::<u32>("sender").ok(),
            s.get::<u64>("epoch").ok(),
            s.get::<u64>("suppressed").unwrap(),
        ));
    }
    out
}

/// The bytes of `buf`.
pub fn bytes(buf: &gst::Buffer) -> Vec<u8> {
    buf.map_readable().unwrap().to_vec()
}

/// `buf` with one ciphertext byte in its middle changed, keeping H.26x start codes out.
pub fn tamper(buf: &gst::Buffer) -> gst::Buffer {
    let mut data = bytes(buf);
    let mid = data.len() / 2;
    let i = (mid..data.len())
        .find(|&i| data[i] > 0x03 && (data[i] ^ 0x10) > 0x03)
        .unwrap();
    data[i] ^= 0x10;
    let mut out = gst::Buffer::from_mut_slice(data);
    {
        let o = out.get_mut().unwrap();
        o.set_pts(buf.pts());
        o.set_flags(buf.flags());
    }
    out
}
