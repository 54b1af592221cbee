//! Diagnostics for the application's log: [`set_logger`] installs a [`Logger`] with a level
//! filter; sessions report rejected messages (with their kind), failing callbacks, membership
//! and epoch changes and leader routing, keyed by participant id. Never a key, a secret or a
//! payload: only ids, epochs, kinds and error texts (which carry no key material).

use std::sync::{Arc, PoisonError, RwLock};

use crate::ConclaveError;
use crate::meeting::MeetingEvent;
use crate::session::CallbackError;

/// How important a log record is, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// The session cannot work as asked.
    Error,
    /// Refused input or a failing callback: the session carries on.
    Warn,
    /// Membership, leader and epoch changes.
    Info,
    /// Routing decisions.
    Debug,
    /// Everything.
    Trace,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// What reported it (`conclave::session`, ...).
    pub target: String,
    /// The local participant it concerns, when known.
    pub participant_id: Option<String>,
    /// What happened, with the peer's id where known.
    pub message: String,
}

/// Receives the library's log records. Implemented by the application (forward to `logging`,
/// `android.util.Log`, `os_log`, ...). Called on the thread that called the library; keep it
/// quick and do not call the library from it.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One record at or above the level given to [`set_logger`].
    fn log(&self, record: LogRecord) -> Result<(), CallbackError>;
}

type Installed = Option<(Arc<dyn Logger>, LogLevel)>;

static LOGGER: RwLock<Installed> = RwLock::new(None);

/// Installs `logger` for records at `level` or more important, for the whole process; `None`
/// removes it (the default: nothing is logged).
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn Logger>>, level: LogLevel) {
    *LOGGER.write().unwrap_or_else(PoisonError::into_inner) = logger.map(|l| (l, level));
}

fn emit(level: LogLevel, participant: &str, message: impl FnOnce() -> String) {
    let logger = match &*LOGGER.read().unwrap_or_else(PoisonError::into_inner) {
        Some((l, max)) if level <= *max => Arc::clone(l),
        _ => return,
    };
    // A failing logger has nowhere to report to.
    let _ = logger.log(LogRecord {
        level,
        target: "conclave::session".into(),
        participant_id: Some(participant.to_string()),
        message: message(),
    });
}

/// A message from the relay was refused.
pub(crate) fn rejected(participant: &str, e: &ConclaveError) {
    emit(LogLevel::Warn, participant, || {
        format!("message refused ({}): {e}", e.kind())
    });
}

/// An application callback failed.
pub(crate) fn callback_failed(participant: &str, e: &CallbackError) {
    emit(LogLevel::Warn, participant, || e.to_string());
}

/// A message for the leader went to everyone (the leader is not known yet).
pub(crate) fn leader_unknown(participant: &str) {
    emit(LogLevel::Debug, participant, || {
        "leader unknown (joining): message for the leader sent to all".into()
    });
}

/// An event worth a line in the log.
pub(crate) fn event(participant: &str, e: &MeetingEvent) {
    let line = match e {
        MeetingEvent::Joined { epoch, leaf } => format!("joined at epoch {epoch} as leaf {leaf}"),
        MeetingEvent::ParticipantAdded {
            participant_id,
            leaf,
            ..
        } => format!("participant {participant_id} added (leaf {leaf})"),
        MeetingEvent::ParticipantRemoved {
            participant_id,
            reason,
        } => format!("participant {participant_id} removed ({reason:?})"),
        MeetingEvent::EpochChanged { epoch, .. } => format!("epoch {epoch} installed"),
        MeetingEvent::LeaderChanged { participant_id, .. } => {
            format!("leader is now {participant_id}")
        }
        MeetingEvent::JoinRefused {
            participant_id,
            reason,
        } => format!("join of {participant_id} refused ({reason:?})"),
        MeetingEvent::Ended { reason } => format!("meeting ended ({reason:?})"),
        MeetingEvent::SuiteChanged { suite_id, .. } => format!("cipher suite {suite_id} in use"),
        MeetingEvent::ResyncNeeded { reason } => format!("resync requested: {reason}"),
        _ => return,
    };
    emit(LogLevel::Info, participant, || line);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Collect(Mutex<Vec<LogRecord>>);

    impl Logger for Collect {
        fn log(&self, record: LogRecord) -> Result<(), CallbackError> {
            self.0.lock().expect("records").push(record);
            Ok(())
        }
    }

    #[test]
    fn records_are_filtered_by_level_and_keyed_by_participant() {
        let c = Arc::new(Collect(Mutex::new(Vec::new())));
        set_logger(Some(c.clone()), LogLevel::Warn);
        leader_unknown("log-test"); // Debug: filtered out
        rejected(
            "log-test",
            &ConclaveError::Rejected {
                reason: "stale commit from alice".into(),
            },
        );
        set_logger(None, LogLevel::Trace);
        rejected("log-test", &ConclaveError::NotInMeeting); // no logger: dropped
        // Other tests may log meanwhile: keep this test's participant.
        let records: Vec<_> =
            c.0.lock()
                .expect("records")
                .iter()
                .filter(|r| r.participant_id.as_deref() == Some("log-test"))
                .cloned()
                .collect();
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r.level, LogLevel::Warn);
        assert!(
            r.message.contains("(Rejected)") && r.message.contains("alice"),
            "{r:?}"
        );
    }
}
