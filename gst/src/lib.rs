//! `gst-conclave`: the GStreamer plugin `conclave`, with the elements `conclaveenc` and
//! `conclavedec` that encrypt and decrypt media frames end to end with Conclave's frame layer
//! (`conclave_core::frame`, `spec/frames.md` section 6).
//!
//! `conclaveenc` sits between an encoder and its RTP payloader, `conclavedec` between the
//! depayloader and the decoder:
//!
//! ```text
//! x264enc ! conclaveenc ! rtph264pay ! ... SFU ... ! rtph264depay ! conclavedec ! avdec_h264
//! ```
//!
//! Both pick the codec processor from their caps (Opus, VP8, VP9, H.264 byte-stream or avc,
//! H.265 byte-stream, AV1 obu-stream), so that the bytes packetizers and SFUs read stay in the
//! clear. The keys come from the application: it gives each element the meeting's
//! [`FrameCrypto`] with [`set_frame_crypto`] and keeps installing epochs into it as the meeting
//! runs. Frames before keys are dropped and counted, never sent or passed in the clear. A frame
//! that does not decrypt is dropped, counted, and reported on the bus as an element message
//! named [`DECRYPT_FAILED_MESSAGE`], never as a flow error.
//!
//! ```no_run
//! use std::sync::Arc;
//! use conclave_core::frame::{FrameConfig, FrameCrypto};
//! use gst::prelude::*;
//!
//! gst::init()?;
//! gstconclave::register_static()?; // or load libgstconclave.so from GST_PLUGIN_PATH
//! let enc = gst::ElementFactory::make("conclaveenc").property("stream-id", 1u32).build()?;
//! let crypto = Arc::new(FrameCrypto::new(FrameConfig::default())?);
//! crypto.set_own_sender(0)?; // our leaf index in the meeting
//! gstconclave::set_frame_crypto(&enc, Arc::clone(&crypto))?;
//! // ... as the meeting runs: crypto.install_epoch(epoch, &frame_secret, gstconclave::monotonic_now())
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod caps;
mod common;
pub mod dec;
pub mod enc;
mod keys;
mod report;

use gst::glib;

pub use caps::{CODEC_AUTO, codec_from_caps};
pub use conclave_core::frame::FrameCrypto;
pub use dec::ConclaveDec;
pub use enc::ConclaveEnc;
pub use keys::{
    Clock, NotConclaveElement, clear_frame_crypto, monotonic_now, set_frame_crypto,
    set_frame_crypto_with_clock,
};
pub use report::{DECRYPT_FAILED_MESSAGE, ENCRYPT_FAILED_MESSAGE, MAX_FAILURE_MESSAGES_PER_SECOND};

/// Registers `conclaveenc` and `conclavedec` with `plugin`.
fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    enc::register(plugin)?;
    dec::register(plugin)
}

gst::plugin_define!(
    conclave,
    "Conclave end-to-end encryption of media frames (conclaveenc, conclavedec)",
    plugin_init,
    "0.1.0",
    "MIT/X11",
    "gst-conclave",
    "gst-conclave",
    "https://example.invalid/conclave",
    "2026-12-01"
);

/// Registers the plugin `conclave` (elements `conclaveenc` and `conclavedec`) with GStreamer
/// from Rust code that links this crate, without loading `libgstconclave.so`. Call it once after
/// `gst::init()`; later calls do nothing.
pub fn register_static() -> Result<(), glib::BoolError> {
    static DONE: std::sync::OnceLock<Result<(), glib::BoolError>> = std::sync::OnceLock::new();
    DONE.get_or_init(plugin_register_static).clone()
}
