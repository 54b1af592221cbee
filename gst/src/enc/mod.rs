//! `conclaveenc`: encrypts each encoded frame (between encoder and payloader).

mod imp;

use std::sync::Arc;

use conclave_core::frame::FrameCrypto;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::common::Keys;
use crate::keys::{Clock, monotonic_now};

glib::wrapper! {
    /// The `conclaveenc` element. Create it with `gst::ElementFactory::make("conclaveenc")` and
    /// downcast, or give keys to any element with [`crate::set_frame_crypto`].
    pub struct ConclaveEnc(ObjectSubclass<imp::ConclaveEnc>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

impl ConclaveEnc {
    /// Gives the element the meeting's frame keys (see [`crate::set_frame_crypto`]).
    pub fn set_frame_crypto(&self, crypto: Arc<FrameCrypto>) {
        self.set_frame_crypto_with_clock(crypto, Arc::new(monotonic_now));
    }

    /// Like [`set_frame_crypto`](Self::set_frame_crypto), with the application's clock.
    pub fn set_frame_crypto_with_clock(&self, crypto: Arc<FrameCrypto>, clock: Clock) {
        self.set_keys(Some(Keys { crypto, clock }));
    }

    pub(crate) fn set_keys(&self, keys: Option<Keys>) {
        self.imp().shared().set_keys(keys);
    }
}

/// Registers `conclaveenc` with `plugin`.
pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "conclaveenc",
        gst::Rank::NONE,
        ConclaveEnc::static_type(),
    )
}
