//! The `conclavedec` implementation: a copying `BaseTransform` (the frame shrinks by its
//! trailer).

use std::sync::LazyLock;
use std::sync::atomic::Ordering;

use conclave_core::frame::{FrameError, MAX_TRAILER_LEN, max_frame_len, max_plaintext_len};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::common::{CAT, Shared, codec_spec, counter_spec, pad_templates, test_secret_spec};
use crate::report::{DECRYPT_FAILED_MESSAGE, Failure};

/// The `conclavedec` element's state.
#[derive(Default)]
pub struct ConclaveDec {
    shared: Shared,
}

impl ConclaveDec {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    fn drop_frame(&self, failure: Failure) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.shared
            .drop_frame(self.obj().upcast_ref(), DECRYPT_FAILED_MESSAGE, failure);
        Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for ConclaveDec {
    const NAME: &'static str = "GstConclaveDec";
    type Type = super::ConclaveDec;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ConclaveDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                codec_spec(),
                counter_spec("frames", "Frames", "Buffers received"),
                counter_spec(
                    "decrypted",
                    "Decrypted",
                    "Frames that authenticated, decrypted and were pushed",
                ),
                counter_spec(
                    "rejected",
                    "Rejected",
                    "Frames dropped: before keys, or refused by FrameCrypto::decrypt_media \
                     (tampered, replayed, too old, unknown epoch, malformed, ...); each posts a \
                     conclave-decrypt-failed element message with fields reason, sender, \
                     stream, epoch, suppressed (rate-limited). Never a flow error",
                ),
                test_secret_spec(" (no own sender index)"),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "codec" => {
                if let Ok(Some(v)) = value.get::<Option<String>>() {
                    self.shared.set_codec_property(&*self.obj(), &v);
                }
            }
            "insecure-test-secret" => {
                if let Ok(Some(v)) = value.get::<Option<String>>()
                    && let Err(e) = self.shared.set_test_secret(&v, None)
                {
                    gst::error!(CAT, imp = self, "{e}");
                }
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "codec" => self.shared.codec_property().to_value(),
            name => self
                .shared
                .counter(name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }
}

impl GstObjectImpl for ConclaveDec {}

impl ElementImpl for ConclaveDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Conclave frame decryptor",
                "Filter/Decryptor/Video/Audio",
                "Authenticates and decrypts frames sealed by conclaveenc with a Conclave \
                 meeting's keys (set by the application with gstconclave::set_frame_crypto); \
                 drops and reports frames that fail. Place between depayloader and decoder",
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

impl BaseTransformImpl for ConclaveDec {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let codec = self.shared.negotiate(incaps)?;
        gst::info!(CAT, imp = self, "decrypting {codec} frames");
        Ok(())
    }

    fn transform_size(
        &self,
        direction: gst::PadDirection,
        _caps: &gst::Caps,
        size: usize,
        _othercaps: &gst::Caps,
    ) -> Option<usize> {
        // The plaintext is never longer than `max_plaintext_len` (the frame minus its tag, plus
        // a byte per 3-byte H.26x start code: `decrypt_media_into`).
        match direction {
            // At least one byte: mapping an empty output buffer fails, and an empty or short
            // frame must be dropped as malformed, not turn into a flow error.
            gst::PadDirection::Sink => Some(max_plaintext_len(size).max(1)),
            _ => Some(max_frame_len(size).max(MAX_TRAILER_LEN)),
        }
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let codec = self.shared.codec().ok_or(gst::FlowError::NotNegotiated)?;
        let Some(keys) = self.shared.keys() else {
            return self.drop_frame(Failure::no_keys());
        };
        let Ok(input) = inbuf.map_readable() else {
            // An empty buffer (no memory) does not map; it is no frame.
            return self.drop_frame(Failure::from_error(&FrameError::Malformed {
                reason: "empty buffer",
            }));
        };
        let now = (keys.clock)();
        let result = {
            let mut out = outbuf.map_writable().map_err(|_| gst::FlowError::Error)?;
            keys.crypto.decrypt_media_into(codec, &input, &mut out, now)
        };
        match result {
            Ok(info) => {
                outbuf.set_size(info.len);
                self.shared.done.fetch_add(1, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            }
            Err(e) => self.drop_frame(Failure::from_error(&e)),
        }
    }
}
