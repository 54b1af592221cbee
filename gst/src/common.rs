//! State both elements share: the keys slot, the counters, failure reporting, the codec choice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Instant;

use conclave_core::Secret;
use conclave_core::frame::{Codec, FrameConfig, FrameCrypto};
use gst::glib;
use gst::prelude::*;
use zeroize::Zeroize;

use crate::caps::{CODEC_AUTO, codec_from_caps, parse_codec_property};
use crate::keys::{Clock, monotonic_now};
use crate::report::{Failure, Limiter};

/// The plugin's debug category (`GST_DEBUG=conclave:5`). Never given key material.
pub(crate) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "conclave",
        gst::DebugColorFlags::empty(),
        Some("Conclave end-to-end frame encryption"),
    )
});

/// The epoch the test-only `insecure-test-secret` property installs.
pub(crate) const TEST_EPOCH: u64 = 1;

/// A meeting's frame keys as an element holds them.
#[derive(Clone)]
pub(crate) struct Keys {
    pub crypto: Arc<FrameCrypto>,
    pub clock: Clock,
}

/// Locks `m`; a panic in another thread holding it does not poison the element.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state of one element.
#[derive(Default)]
pub(crate) struct Shared {
    keys: Mutex<Option<Keys>>,
    /// The `codec` property: `None` is `auto`.
    codec_override: Mutex<Option<Codec>>,
    /// The codec of the negotiated caps.
    codec: Mutex<Option<Codec>>,
    limiter: Mutex<Limiter>,
    /// Buffers received.
    pub frames: AtomicU64,
    /// Buffers encrypted or decrypted.
    pub done: AtomicU64,
    /// Buffers dropped (no keys, refused).
    pub dropped: AtomicU64,
}

impl Shared {
    pub fn set_keys(&self, keys: Option<Keys>) {
        *lock(&self.keys) = keys;
    }

    pub fn keys(&self) -> Option<Keys> {
        lock(&self.keys).clone()
    }

    /// Installs a fresh `FrameCrypto` with `hex` (64 hex digits) as the frame secret of epoch
    /// [`TEST_EPOCH`], with `own_sender` as the own leaf index if given. Test-only.
    pub fn set_test_secret(&self, hex: &str, own_sender: Option<u32>) -> Result<(), &'static str> {
        let mut bytes = [0u8; 32];
        if hex.len() != 64 || !hex.is_ascii() {
            return Err("insecure-test-secret must be 64 hex digits");
        }
        for (i, b) in bytes.iter_mut().enumerate() {
            let digits = hex
                .get(i.saturating_mul(2)..i.saturating_mul(2).saturating_add(2))
                .ok_or("insecure-test-secret must be 64 hex digits")?;
            *b = u8::from_str_radix(digits, 16)
                .map_err(|_| "insecure-test-secret must be 64 hex digits")?;
        }
        let secret = Secret::from_bytes(bytes);
        bytes.zeroize();
        let crypto = FrameCrypto::new(FrameConfig::default()).map_err(|_| "frame config")?;
        if let Some(sender) = own_sender {
            crypto.set_own_sender(sender).map_err(|_| "sender index")?;
        }
        crypto
            .install_epoch(TEST_EPOCH, &secret, monotonic_now())
            .map_err(|_| "epoch install")?;
        self.set_keys(Some(Keys {
            crypto: Arc::new(crypto),
            clock: Arc::new(monotonic_now),
        }));
        Ok(())
    }

    pub fn codec_property(&self) -> String {
        match *lock(&self.codec_override) {
            Some(c) => c.name().to_owned(),
            None => CODEC_AUTO.to_owned(),
        }
    }

    pub fn set_codec_property(&self, obj: &impl IsA<gst::Object>, name: &str) {
        match parse_codec_property(name) {
            Ok(c) => *lock(&self.codec_override) = c,
            Err(()) => gst::warning!(
                CAT,
                obj = obj,
                "unknown codec {name:?}, keeping the old one"
            ),
        }
    }

    /// Reads the codec of `caps`; fails for caps of no known codec unless the `codec` property
    /// names one.
    pub fn negotiate(&self, caps: &gst::Caps) -> Result<Codec, gst::LoggableError> {
        let from_caps = codec_from_caps(caps);
        *lock(&self.codec) = from_caps;
        self.codec()
            .ok_or_else(|| gst::loggable_error!(CAT, "no codec processor for {caps}"))
    }

    /// The codec in use: the `codec` property if set, else the one of the caps.
    pub fn codec(&self) -> Option<Codec> {
        let forced = *lock(&self.codec_override);
        forced.or(*lock(&self.codec))
    }

    /// Counts a dropped frame and posts the message `name` for it, if the rate limit allows.
    pub fn drop_frame(&self, element: &gst::Element, name: &str, failure: Failure) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        gst::debug!(CAT, obj = element, "dropping a frame: {}", failure.reason);
        let admitted = lock(&self.limiter).admit(Instant::now());
        if let Some(suppressed) = admitted {
            let msg = gst::message::Element::builder(failure.structure(name, suppressed))
                .src(element)
                .build();
            if element.post_message(msg).is_err() {
                gst::debug!(CAT, obj = element, "no bus to post the failure on");
            }
        }
    }

    /// The read-only counter properties.
    pub fn counter(&self, name: &str) -> Option<glib::Value> {
        let c = match name {
            "frames" => &self.frames,
            "encrypted" | "decrypted" => &self.done,
            "dropped" | "rejected" => &self.dropped,
            _ => return None,
        };
        Some(c.load(Ordering::Relaxed).to_value())
    }
}

/// A read-only `u64` counter property.
pub(crate) fn counter_spec(name: &str, nick: &str, blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecUInt64::builder(name)
        .nick(nick)
        .blurb(blurb)
        .read_only()
        .build()
}

/// The `codec` property.
pub(crate) fn codec_spec() -> glib::ParamSpec {
    glib::ParamSpecString::builder("codec")
        .nick("Codec")
        .blurb(crate::caps::CODEC_BLURB)
        .default_value(Some(CODEC_AUTO))
        .mutable_playing()
        .build()
}

/// The test-only `insecure-test-secret` property.
pub(crate) fn test_secret_spec(what: &str) -> glib::ParamSpec {
    glib::ParamSpecString::builder("insecure-test-secret")
        .nick("TEST ONLY: fixed frame secret")
        .blurb(&format!(
            "TEST ONLY, NOT FOR REAL MEETINGS (gst-launch demos and benchmarks): 64 hex digits \
             installed as the frame secret of epoch 1 in a new FrameCrypto{what}. The secret \
             is on the command line and never changes; applications use \
             gstconclave::set_frame_crypto with the meeting's keys. Write-only"
        ))
        .write_only()
        .build()
}

/// The pad templates (`sink` and `src`, the same caps).
pub(crate) fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = crate::caps::template_caps();
    [gst::PadDirection::Src, gst::PadDirection::Sink]
        .into_iter()
        .filter_map(|dir| {
            let name = if dir == gst::PadDirection::Src {
                "src"
            } else {
                "sink"
            };
            gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).ok()
        })
        .collect()
}
