//! One WebRTC PeerConnection to Janus: a GStreamer pipeline around a `webrtcbin`.
//!
//! Offer/answer run on the caller's thread (GStreamer promises, waited for); ICE candidates
//! come from `webrtcbin`'s threads as [`Input::Candidate`](crate::Input) and are trickled to
//! Janus by the main thread. `scripts/test-sfu.sh` runs Janus and the participants in a network
//! namespace of their own, so that no candidate leads off the machine.

use std::time::Duration;

use gst::prelude::*;

use crate::error::MediaError;
use crate::{Input, InputTx};

/// A pipeline holding one `webrtcbin` tied to a Janus handle.
pub struct Peer {
    /// The pipeline (media elements are added to it by the caller).
    pub pipeline: gst::Pipeline,
    /// The `webrtcbin`.
    pub webrtc: gst::Element,
}

impl Peer {
    /// A new pipeline with a `webrtcbin` (max-bundle, no STUN) whose candidates go to `tx`.
    pub fn new(name: &str, handle: u64, tx: InputTx) -> Result<Peer, MediaError> {
        let pipeline = gst::Pipeline::with_name(name);
        let webrtc = make("webrtcbin")?;
        webrtc.set_property_from_str("bundle-policy", "max-bundle");
        pipeline.add(&webrtc)?;
        webrtc.connect("on-ice-candidate", false, move |values| {
            let mline = values.get(1).and_then(|v| v.get::<u32>().ok());
            let cand = values.get(2).and_then(|v| v.get::<String>().ok());
            if let (Some(mline), Some(cand)) = (mline, cand) {
                let _ = tx.try_send(Input::Candidate {
                    handle,
                    mline,
                    candidate: cand,
                });
            }
            None
        });
        Ok(Peer { pipeline, webrtc })
    }

    /// Creates an offer, sets it as the local description and returns its SDP text.
    pub fn offer(&self) -> Result<String, MediaError> {
        let reply = self.promise("create-offer")?;
        self.set_local(reply, "offer")
    }

    /// Creates an answer (after [`set_remote`](Self::set_remote) of an offer), sets it as the
    /// local description and returns its SDP text.
    pub fn answer(&self) -> Result<String, MediaError> {
        let reply = self.promise("create-answer")?;
        self.set_local(reply, "answer")
    }

    /// Sets the remote description (`kind` is `offer` or `answer`).
    pub fn set_remote(&self, kind: &str, sdp: &str) -> Result<(), MediaError> {
        let msg = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes())
            .map_err(|_| MediaError::Sdp("cannot parse the remote SDP".into()))?;
        let t = if kind == "offer" {
            gst_webrtc::WebRTCSDPType::Offer
        } else {
            gst_webrtc::WebRTCSDPType::Answer
        };
        let desc = gst_webrtc::WebRTCSessionDescription::new(t, msg);
        let promise = gst::Promise::new();
        self.webrtc
            .emit_by_name::<()>("set-remote-description", &[&desc, &promise]);
        wait(&promise)?;
        Ok(())
    }

    /// Starts the pipeline, and a thread that logs its errors and warnings (as `who`) and
    /// gives element messages to `on_element` (with the name of the element that posted it).
    pub fn play(&self, who: &str, on_element: Option<OnElement>) -> Result<(), MediaError> {
        if let Some(bus) = self.pipeline.bus() {
            let who = format!("{who}/{}", self.pipeline.name());
            let _ = std::thread::Builder::new()
                .name("bus".into())
                .spawn(move || watch_bus(&bus, &who, on_element));
        }
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Pipeline("cannot start the pipeline".into()))?;
        Ok(())
    }

    /// Waits (at most 5 s) until every sink pad of the `webrtcbin` has caps: an offer made
    /// before would lack the payloaders' parameters (SSRC, H.264 parameter sets).
    pub fn wait_for_caps(&self) {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let pads = self.webrtc.sink_pads();
            if !pads.is_empty() && pads.iter().all(|p| p.current_caps().is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the pipeline (waits at most 5 s).
    pub fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.pipeline.state(gst::ClockTime::from_seconds(5));
        // Elements added from `pad-added` while the pipeline changed state may have missed it.
        for e in self.pipeline.iterate_recurse().into_iter().flatten() {
            let _ = e.set_state(gst::State::Null);
        }
    }

    fn promise(&self, signal: &str) -> Result<gst::Structure, MediaError> {
        let promise = gst::Promise::new();
        self.webrtc
            .emit_by_name::<()>(signal, &[&None::<gst::Structure>, &promise]);
        wait(&promise)?.ok_or_else(|| MediaError::Sdp(format!("{signal}: no reply")))
    }

    fn set_local(&self, reply: gst::Structure, field: &str) -> Result<String, MediaError> {
        let desc = reply
            .get::<gst_webrtc::WebRTCSessionDescription>(field)
            .map_err(|_| MediaError::Sdp(format!("no {field} in the reply: {reply}")))?;
        let promise = gst::Promise::new();
        self.webrtc
            .emit_by_name::<()>("set-local-description", &[&desc, &promise]);
        wait(&promise)?;
        desc.sdp()
            .as_text()
            .map_err(|_| MediaError::Sdp("cannot print the local SDP".into()))
    }
}

/// A handler of element messages: the posting element's name and the message's structure.
pub type OnElement = Box<dyn Fn(&str, &gst::StructureRef) + Send>;

fn watch_bus(bus: &gst::Bus, who: &str, on_element: Option<OnElement>) {
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let (Some(f), Some(s), Some(src)) = (&on_element, e.structure(), msg.src()) {
                    f(&src.name(), s);
                }
            }
            gst::MessageView::Error(e) => {
                eprintln!("[{who}] GStreamer error: {} ({:?})", e.error(), e.debug());
            }
            gst::MessageView::Warning(w) => {
                eprintln!("[{who}] GStreamer warning: {} ({:?})", w.error(), w.debug());
            }
            gst::MessageView::Eos(..) => return,
            _ => {}
        }
    }
}

/// Waits for `promise` (at most 10 s) and returns its reply.
fn wait(promise: &gst::Promise) -> Result<Option<gst::Structure>, MediaError> {
    let start = std::time::Instant::now();
    loop {
        match promise.wait() {
            gst::PromiseResult::Replied => {
                return Ok(promise.get_reply().map(|s| s.to_owned()));
            }
            gst::PromiseResult::Pending if start.elapsed() < Duration::from_secs(10) => {}
            r => return Err(MediaError::Sdp(format!("promise: {r:?}"))),
        }
    }
}

/// Makes a GStreamer element of `factory`.
pub fn make(factory: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory.to_string()))
}
