//! Diagnostics through `tracing`: a span per meeting (a prefix of the meeting id and our own
//! participant id), an event for every rejected message with its stable kind
//! ([`MeetingErrorKind::as_str`](super::MeetingErrorKind::as_str)), and one per epoch change,
//! membership and leader change and failover decision.
//!
//! Never a secret: no key, secret, security code, signature or payload byte is recorded; only
//! ids, leaves, epochs, kinds and error texts (which carry no key material). Without a
//! `tracing` subscriber each call site costs one atomic load.

use std::time::Duration;

use rand_core::CryptoRng;
use tracing::Span;

use super::{Event, Meeting, MeetingError, MeetingErrorKind};

/// How many leading bytes of the meeting id name the meeting's span (hex). Enough to tell
/// meetings apart in one log, too few to serve as the id.
const SPAN_MEETING_ID_PREFIX: usize = 4;

/// The `tracing` target of every span and event of the engine.
const TARGET: &str = "conclave::meeting";

impl Meeting {
    /// Handles an encoded envelope from the relay.
    ///
    /// Returns an error describing any rejection; rejected input never changes the state except
    /// for buffering a commit that arrived early. Each rejection is also recorded as a `tracing`
    /// event (target `conclave::meeting`, field `kind`, inside the meeting's span).
    pub fn handle_message<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let _span = self.span().entered();
        let result = self.handle_message_inner(bytes, now, rng);
        if let Err(e) = &result {
            rejected(e);
        }
        result
    }

    /// The meeting's span: `meeting{meeting=<id prefix> participant=<own id>}`. Entered by the
    /// entry points (messages, timers, actions), so every event below it carries both.
    pub(super) fn span(&self) -> Span {
        let id = self
            .meeting_id
            .get(..SPAN_MEETING_ID_PREFIX)
            .unwrap_or(&self.meeting_id);
        tracing::info_span!(
            target: TARGET,
            "meeting",
            meeting = %Hex(id),
            participant = %self.participant_id,
        )
    }

    /// Records an event the meeting reports to the application (no security code, no
    /// fingerprint).
    pub(super) fn trace_event(&self, e: &Event) {
        match e {
            Event::Joined { epoch, leaf } => {
                tracing::info!(target: TARGET, epoch, leaf, "joined");
            }
            Event::EpochChanged { epoch, .. } => {
                tracing::info!(target: TARGET, epoch, "epoch installed");
            }
            Event::ParticipantAdded {
                participant_id,
                leaf,
                ..
            } => tracing::info!(target: TARGET, peer = %participant_id, leaf, "participant added"),
            Event::ParticipantRemoved {
                participant_id,
                reason,
            } => tracing::info!(
                target: TARGET,
                peer = %participant_id,
                reason = ?reason,
                "participant removed"
            ),
            Event::LeaderChanged { participant_id, .. } => {
                tracing::info!(target: TARGET, leader = %participant_id, "new leader");
            }
            Event::HeartbeatMissed { leader, missed } => {
                tracing::info!(target: TARGET, leader = %leader, missed, "leader heartbeat missed");
            }
            Event::ResyncNeeded { reason } => {
                tracing::warn!(target: TARGET, reason = %reason, "resync needed");
            }
            Event::SendingPaused { reason } => {
                tracing::info!(target: TARGET, reason = %reason, "sending paused");
            }
            Event::SendingResumed { epoch } => {
                tracing::info!(target: TARGET, epoch, "sending resumed");
            }
            Event::SuiteChanged { suite, .. } => {
                tracing::info!(target: TARGET, suite, "cipher suite in use");
            }
            Event::JoinRefused {
                participant_id,
                reason,
            } => tracing::info!(
                target: TARGET,
                peer = %participant_id,
                reason = ?reason,
                "join refused"
            ),
            Event::Ended { reason } => {
                tracing::info!(target: TARGET, reason = ?reason, "meeting ended");
            }
            _ => tracing::debug!(target: TARGET, event = ?event_name(e), "event"),
        }
    }
}

/// Bytes in lowercase hex, formatted only when a subscriber records them.
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A rejected message: `warn`, except a commit buffered ahead of a missing one (`debug`).
fn rejected(e: &MeetingError) {
    let kind = e.kind();
    if kind == MeetingErrorKind::Gap {
        tracing::debug!(target: TARGET, kind = kind.as_str(), error = %e, "message buffered");
    } else {
        tracing::warn!(target: TARGET, kind = kind.as_str(), error = %e, "message rejected");
    }
}

/// The variant's name only (the rest of some events is not for logs).
fn event_name(e: &Event) -> &'static str {
    match e {
        Event::SendEpoch { .. } => "SendEpoch",
        Event::LockChanged { .. } => "LockChanged",
        Event::StaleView { .. } => "StaleView",
        Event::SuiteRefused { .. } => "SuiteRefused",
        Event::JoinRequested { .. } => "JoinRequested",
        _ => "other",
    }
}
