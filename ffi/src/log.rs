//! Diagnostics for the application's log: [`set_logger`] installs a [`Logger`] with a level
//! filter. The engine reports rejected messages (with their kind), membership and epoch
//! changes, leader changes and failover decisions through `tracing` (bridged in `trace.rs`);
//! sessions add failing callbacks and leader routing. Records are keyed by participant id.
//! Never a key, a secret or a payload: only ids, epochs, kinds and error texts (which carry
//! no key material).

use std::sync::{Arc, PoisonError, RwLock};

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
    /// What reported it (`conclave::meeting` for the engine, `conclave::session`, ...).
    pub target: String,
    /// The local participant it concerns, when known.
    pub participant_id: Option<String>,
    /// For a rejected message, its stable kind (the `kind` of the matching
    /// [`ConclaveError`](crate::ConclaveError)).
    pub kind: Option<String>,
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
    crate::trace::install();
}

/// The level filter of the installed logger (none: nothing is logged).
pub(crate) fn max_level() -> Option<LogLevel> {
    LOGGER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|(_, max)| *max)
}

/// Hands `record` to the installed logger if its level passes the filter.
pub(crate) fn send(record: LogRecord) {
    let logger = match &*LOGGER.read().unwrap_or_else(PoisonError::into_inner) {
        Some((l, max)) if record.level <= *max => Arc::clone(l),
        _ => return,
    };
    // A failing logger has nowhere to report to.
    let _ = logger.log(record);
}

fn emit(level: LogLevel, participant: &str, message: impl FnOnce() -> String) {
    if max_level().is_none_or(|max| level > max) {
        return;
    }
    send(LogRecord {
        level,
        target: "conclave::session".into(),
        participant_id: Some(participant.to_string()),
        kind: None,
        message: message(),
    });
}

/// An application callback failed.
pub(crate) fn callback_failed(participant: &str, e: &CallbackError) {
    emit(LogLevel::Warn, participant, || e.to_string());
}

/// A rebuild Welcome could not be sealed (the member will resync, as after a lost Welcome).
pub(crate) fn seal_failed(participant: &str, e: &crate::ConclaveError) {
    emit(LogLevel::Warn, participant, || {
        format!("rebuild seal failed: {e}")
    });
}

/// A message for the leader went to everyone (the leader is not known yet).
pub(crate) fn leader_unknown(participant: &str) {
    emit(LogLevel::Debug, participant, || {
        "leader unknown (joining): message for the leader sent to all".into()
    });
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
    fn session_records_are_filtered_by_level_and_keyed_by_participant() {
        let c = Arc::new(Collect(Mutex::new(Vec::new())));
        set_logger(Some(c.clone()), LogLevel::Warn);
        leader_unknown("log-test"); // Debug: filtered out
        callback_failed(
            "log-test",
            &CallbackError::Failed {
                reason: "socket closed".into(),
            },
        );
        set_logger(None, LogLevel::Trace);
        callback_failed(
            "log-test",
            &CallbackError::Failed {
                reason: "dropped".into(),
            },
        ); // no logger: dropped
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
        assert!(r.message.contains("socket closed"), "{r:?}");
    }
}
