//! How the application hands an element the meeting's keys: a [`FrameCrypto`] and the clock it
//! installs epochs with.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conclave_core::frame::FrameCrypto;
use gst::prelude::*;

use crate::common::Keys;
use crate::{ConclaveDec, ConclaveEnc};

/// The clock the elements read the receive time of a frame from ([`FrameCrypto::decrypt_media`]
/// takes `now`, for the previous epoch's grace period). It must be the clock the application
/// passes to [`FrameCrypto::install_epoch`] and [`FrameCrypto::expire`].
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The default [`Clock`]: monotonic time since the first call in this process. Use it for
/// `install_epoch(.., now)` when the elements were given keys with [`set_frame_crypto`].
pub fn monotonic_now() -> Duration {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed()
}

/// The element given to [`set_frame_crypto`] is neither a `conclaveenc` nor a `conclavedec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("element {name} is not a conclaveenc or conclavedec")]
pub struct NotConclaveElement {
    /// The element's name.
    pub name: String,
}

/// Gives a `conclaveenc` or `conclavedec` element the meeting's frame keys, read with the
/// default clock [`monotonic_now`]. Replaces keys set before; takes effect with the next
/// buffer. The application keeps `crypto` up to date (`install_epoch`, `set_own_sender`,
/// `expire`); an encoder drops frames while `crypto` cannot encrypt.
///
/// Several elements may share one `FrameCrypto` (an encoder per stream id, a decoder per
/// received track): it is `Send + Sync`.
pub fn set_frame_crypto(
    element: &impl IsA<gst::Element>,
    crypto: Arc<FrameCrypto>,
) -> Result<(), NotConclaveElement> {
    set_frame_crypto_with_clock(element, crypto, Arc::new(monotonic_now))
}

/// Like [`set_frame_crypto`], with the application's own clock.
pub fn set_frame_crypto_with_clock(
    element: &impl IsA<gst::Element>,
    crypto: Arc<FrameCrypto>,
    clock: Clock,
) -> Result<(), NotConclaveElement> {
    install(element.upcast_ref(), Some(Keys { crypto, clock }))
}

/// Takes the keys away from a `conclaveenc` or `conclavedec`: from the next buffer on, frames
/// are dropped and counted as frames before keys.
pub fn clear_frame_crypto(element: &impl IsA<gst::Element>) -> Result<(), NotConclaveElement> {
    install(element.upcast_ref(), None)
}

fn install(element: &gst::Element, keys: Option<Keys>) -> Result<(), NotConclaveElement> {
    if let Some(enc) = element.downcast_ref::<ConclaveEnc>() {
        enc.set_keys(keys);
        Ok(())
    } else if let Some(dec) = element.downcast_ref::<ConclaveDec>() {
        dec.set_keys(keys);
        Ok(())
    } else {
        Err(NotConclaveElement {
            name: element.name().to_string(),
        })
    }
}
