//! The bridge from the engine's `tracing` diagnostics to the application's
//! [`Logger`](crate::Logger): a minimal `tracing` subscriber, installed as the process's global
//! default by the first [`set_logger`](crate::set_logger) call, that turns each event into a
//! [`LogRecord`] keyed by the participant id of the meeting span it happened in.
//!
//! Spans are only tracked while they exist (the engine opens one per call and closes it on
//! return); at most [`MAX_LOG_SPANS`] at once, later ones carry no participant.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, Once, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::log::{LogLevel, LogRecord, max_level, send};

/// The most spans tracked at once (the engine has one open per meeting call in progress; more
/// means a leak elsewhere). Spans past it are accepted but carry no participant id.
pub const MAX_LOG_SPANS: usize = 1024;

/// The id handed out for spans that are not tracked (past [`MAX_LOG_SPANS`]).
const UNTRACKED: u64 = u64::MAX;

/// A tracked span: the meeting it names and our participant id there.
struct SpanData {
    participant: Option<String>,
    meeting: Option<String>,
    refs: usize,
}

struct Spans {
    next: u64,
    live: BTreeMap<u64, SpanData>,
}

static SPANS: Mutex<Spans> = Mutex::new(Spans {
    next: 0,
    live: BTreeMap::new(),
});

thread_local! {
    /// The spans entered on this thread, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn spans() -> std::sync::MutexGuard<'static, Spans> {
    SPANS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs the bridge once per process (a dispatcher already set by a Rust host application
/// stays; its subscriber then gets the engine's events instead) and makes every call site
/// re-read the level filter.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing::dispatcher::set_global_default(tracing::Dispatch::new(Bridge));
    });
    tracing::callsite::rebuild_interest_cache();
}

fn level_of(l: &Level) -> LogLevel {
    match *l {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

fn filter_of(l: Option<LogLevel>) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match l {
        None => LevelFilter::OFF,
        Some(LogLevel::Error) => LevelFilter::ERROR,
        Some(LogLevel::Warn) => LevelFilter::WARN,
        Some(LogLevel::Info) => LevelFilter::INFO,
        Some(LogLevel::Debug) => LevelFilter::DEBUG,
        Some(LogLevel::Trace) => LevelFilter::TRACE,
    }
}

/// Collects an event's or span's fields: `message`, `kind`, `participant`, `meeting` apart,
/// the rest as ` name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    kind: Option<String>,
    participant: Option<String>,
    meeting: Option<String>,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "kind" => self.kind = Some(value.to_string()),
            "participant" => self.participant = Some(value.to_string()),
            "meeting" => self.meeting = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "kind" | "participant" | "meeting" => self.record_str(field, &format!("{value:?}")),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

/// The subscriber: level filter from [`set_logger`](crate::set_logger), records to its logger.
struct Bridge;

impl Subscriber for Bridge {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level filter changes at run time: ask `enabled` each time.
        Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(filter_of(max_level()))
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        max_level().is_some_and(|max| level_of(metadata.level()) <= max)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        span.record(&mut fields);
        let mut s = spans();
        if s.live.len() >= MAX_LOG_SPANS {
            return Id::from_u64(UNTRACKED);
        }
        // Ids start at 1 (0 is not a valid span id) and stay below UNTRACKED.
        s.next = s
            .next
            .checked_add(1)
            .filter(|n| *n < UNTRACKED)
            .unwrap_or(1);
        let id = s.next;
        s.live.insert(
            id,
            SpanData {
                participant: fields.participant,
                meeting: fields.meeting,
                refs: 1,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(d) = spans().live.get_mut(&span.into_u64()) {
            d.participant = fields.participant.or(d.participant.take());
            d.meeting = fields.meeting.or(d.meeting.take());
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (participant, meeting) = current_meeting();
        let mut message = fields.message;
        message.push_str(&fields.rest);
        if let Some(m) = meeting {
            let _ = write!(message, " meeting={m}");
        }
        send(LogRecord {
            level: level_of(event.metadata().level()),
            target: event.metadata().target().to_string(),
            participant_id: fields.participant.or(participant),
            kind: fields.kind,
            message,
        });
    }

    fn enter(&self, span: &Id) {
        let _ = STACK.try_with(|s| s.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        let id = span.into_u64();
        let _ = STACK.try_with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|x| *x == id) {
                s.remove(i);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(d) = spans().live.get_mut(&span.into_u64()) {
            d.refs = d.refs.saturating_add(1);
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut s = spans();
        let id = span.into_u64();
        let Some(d) = s.live.get_mut(&id) else {
            return false;
        };
        d.refs = d.refs.saturating_sub(1);
        if d.refs == 0 {
            s.live.remove(&id);
            return true;
        }
        false
    }
}

/// The participant id and meeting of the innermost tracked span entered on this thread.
fn current_meeting() -> (Option<String>, Option<String>) {
    let stack: Vec<u64> = STACK.try_with(|s| s.borrow().clone()).unwrap_or_default();
    let s = spans();
    stack
        .iter()
        .rev()
        .find_map(|id| s.live.get(id))
        .map(|d| (d.participant.clone(), d.meeting.clone()))
        .unwrap_or((None, None))
}
