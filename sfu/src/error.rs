//! Errors of the media participant.

/// Why setting up or running the media failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A GStreamer element is not installed.
    #[error(
        "GStreamer element '{0}' is missing (install gstreamer1.0-plugins-good/-bad/-ugly, gstreamer1.0-nice)"
    )]
    MissingElement(String),
    /// The pipeline could not be built or started.
    #[error("pipeline: {0}")]
    Pipeline(String),
    /// Offer/answer failed.
    #[error("SDP: {0}")]
    Sdp(String),
    /// Janus failed.
    #[error(transparent)]
    Janus(#[from] crate::janus::JanusError),
    /// The meeting engine refused something.
    #[error("meeting: {0}")]
    Meeting(String),
    /// A file could not be written or read.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<gst::glib::BoolError> for MediaError {
    fn from(e: gst::glib::BoolError) -> Self {
        MediaError::Pipeline(e.to_string())
    }
}

impl From<gst::glib::Error> for MediaError {
    fn from(e: gst::glib::Error) -> Self {
        MediaError::Pipeline(e.to_string())
    }
}

impl From<gst::StateChangeError> for MediaError {
    fn from(_: gst::StateChangeError) -> Self {
        MediaError::Pipeline("state change failed".into())
    }
}
