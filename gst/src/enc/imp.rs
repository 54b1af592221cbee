//! The `conclaveenc` implementation: a copying `BaseTransform` (the frame grows by its trailer).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use conclave_core::frame::{FrameError, max_frame_len};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::BaseTransformExtManual;
use gst_base::subclass::prelude::*;

use crate::common::{CAT, Shared, codec_spec, counter_spec, pad_templates, test_secret_spec};
use crate::report::{ENCRYPT_FAILED_MESSAGE, Failure};

/// The `conclaveenc` element's state.
#[derive(Default)]
pub struct ConclaveEnc {
    shared: Shared,
    stream_id: AtomicU32,
    /// A frame was dropped since the last keyframe sent: the receivers cannot decode the next
    /// delta frames, so the encoder is asked for a keyframe once frames flow again.
    keyframe_wanted: AtomicBool,
}

impl ConclaveEnc {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    fn drop_frame(&self, failure: Failure) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.keyframe_wanted.store(true, Ordering::Relaxed);
        self.shared
            .drop_frame(self.obj().upcast_ref(), ENCRYPT_FAILED_MESSAGE, failure);
        Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED)
    }
}

impl ConclaveEnc {
    /// After a frame was sent: if frames were dropped before and this is a delta frame, asks
    /// upstream for a keyframe (the `GstForceKeyUnit` event video encoders handle).
    fn after_sent(&self, delta: bool) {
        if !delta {
            self.keyframe_wanted.store(false, Ordering::Relaxed);
        } else if self.keyframe_wanted.swap(false, Ordering::Relaxed) {
            let s = gst::Structure::builder(FORCE_KEY_UNIT)
                .field("all-headers", true)
                .build();
            gst::debug!(CAT, imp = self, "asking upstream for a keyframe");
            if !self
                .obj()
                .sink_pad()
                .push_event(gst::event::CustomUpstream::new(s))
            {
                gst::debug!(
                    CAT,
                    imp = self,
                    "nobody upstream handled the keyframe request"
                );
            }
        }
    }
}

/// The structure name of an upstream force-key-unit event (`gst_video_event_new_upstream_force_key_unit`).
const FORCE_KEY_UNIT: &str = "GstForceKeyUnit";

#[glib::object_subclass]
impl ObjectSubclass for ConclaveEnc {
    const NAME: &'static str = "GstConclaveEnc";
    type Type = super::ConclaveEnc;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ConclaveEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("stream-id")
                    .nick("Stream id")
                    .blurb(
                        "Stream id sealed into every frame (unique per sender: e.g. 0 audio, \
                         1 camera, 2 screen)",
                    )
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                codec_spec(),
                counter_spec("frames", "Frames", "Buffers received"),
                counter_spec("encrypted", "Encrypted", "Frames encrypted and pushed"),
                counter_spec(
                    "dropped",
                    "Dropped",
                    "Frames dropped: before keys (no FrameCrypto, no send epoch or no own \
                     sender index) or refused by the codec processor; each posts a \
                     conclave-encrypt-failed element message (rate-limited). The first delta \
                     frame sent after a drop sends a GstForceKeyUnit event upstream",
                ),
                test_secret_spec(" with own sender index 0"),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "stream-id" => {
                if let Ok(v) = value.get::<u32>() {
                    self.stream_id.store(v, Ordering::Relaxed);
                }
            }
            "codec" => {
                if let Ok(Some(v)) = value.get::<Option<String>>() {
                    self.shared.set_codec_property(&*self.obj(), &v);
                }
            }
            "insecure-test-secret" => {
                if let Ok(Some(v)) = value.get::<Option<String>>()
                    && let Err(e) = self.shared.set_test_secret(&v, Some(0))
                {
                    gst::error!(CAT, imp = self, "{e}");
                }
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stream-id" => self.stream_id.load(Ordering::Relaxed).to_value(),
            "codec" => self.shared.codec_property().to_value(),
            name => self
                .shared
                .counter(name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }
}

impl GstObjectImpl for ConclaveEnc {}

impl ElementImpl for ConclaveEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Conclave frame encryptor",
                "Filter/Encryptor/Video/Audio",
                "Encrypts encoded frames end to end with a Conclave meeting's keys (set by the \
                 application with gstconclave::set_frame_crypto); codec-aware, so RTP \
                 payloaders and SFUs still work. Place between encoder and payloader",
                "Conclave developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for ConclaveEnc {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let codec = self.shared.negotiate(incaps)?;
        gst::info!(CAT, imp = self, "encrypting {codec} frames");
        Ok(())
    }

    fn transform_size(
        &self,
        direction: gst::PadDirection,
        _caps: &gst::Caps,
        size: usize,
        _othercaps: &gst::Caps,
    ) -> Option<usize> {
        match direction {
            gst::PadDirection::Sink => Some(max_frame_len(size)),
            _ => Some(size),
        }
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let codec = self.shared.codec().ok_or(gst::FlowError::NotNegotiated)?;
        let Some(keys) = self.shared.keys().filter(|k| k.crypto.can_encrypt()) else {
            return self.drop_frame(Failure::no_keys());
        };
        let stream = self.stream_id.load(Ordering::Relaxed);
        let Ok(input) = inbuf.map_readable() else {
            // An empty buffer (no memory) does not map; it is no frame.
            return self.drop_frame(Failure::from_error(&FrameError::InvalidMedia {
                codec,
                reason: "empty buffer",
            }));
        };
        let written = {
            let mut out = outbuf.map_writable().map_err(|_| gst::FlowError::Error)?;
            keys.crypto
                .encrypt_media_into(codec, stream, &input, &mut out)
        };
        match written {
            Ok(n) => {
                outbuf.set_size(n);
                self.shared.done.fetch_add(1, Ordering::Relaxed);
                self.after_sent(inbuf.flags().contains(gst::BufferFlags::DELTA_UNIT));
                Ok(gst::FlowSuccess::Ok)
            }
            Err(e) => self.drop_frame(Failure::from_error(&e)),
        }
    }
}
