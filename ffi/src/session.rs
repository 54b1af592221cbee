//! The session driver: the sans-IO [`Meeting`] plus the plumbing every application would
//! otherwise write (draining transmits and events, running timers, routing to the leader).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use conclave_core::meeting::{Destination as CoreDestination, SealJob, Transmit};

use crate::meeting::{Meeting, MeetingEvent, MeetingOptions};
use crate::seal::{SealExecutor, SealTask};
use crate::{ConclaveError, FrameCrypto, Identity, log, ms};

/// Where a [`Transport`] delivers a message: a participant the relay can address, or everyone.
/// Never "the leader": the session resolves the leader itself (before it knows one, while
/// joining, it sends to `All`; members that are not the leader ignore what is not for them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Recipient {
    /// Every other participant of the meeting.
    All,
    /// One participant.
    Participant {
        /// Its participant id.
        participant_id: String,
    },
}

/// A failure reported by an application callback ([`Transport`] or [`Listener`]). The session
/// logs it (see [`crate::set_logger`]) and carries on: a lost message is recovered by the
/// protocol (resync), a lost event is the application's to handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CallbackError {
    /// The callback failed (an exception in Kotlin, Swift or Python).
    #[error("callback failed: {reason}")]
    Failed {
        /// What the callback reported.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for CallbackError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

/// Sends the session's messages to the relay. Implemented by the application.
#[uniffi::export(with_foreign)]
pub trait Transport: Send + Sync {
    /// Hands `payload` to the relay for `to`. Called from whichever thread called the session;
    /// do not block for long (queue the bytes if the network is slow).
    fn send(&self, to: Recipient, payload: Vec<u8>) -> Result<(), CallbackError>;
}

/// Receives the session's events, oldest first. Implemented by the application.
#[uniffi::export(with_foreign)]
pub trait Listener: Send + Sync {
    /// One event. It may call back into the session (e.g. `admit` on a join request): the
    /// outputs of that call are delivered after this callback returns.
    fn on_event(&self, event: MeetingEvent) -> Result<(), CallbackError>;
}

/// An output waiting for delivery to the application's callbacks.
enum Output {
    Send(Recipient, Vec<u8>),
    Event(MeetingEvent),
}

/// Outputs in engine order, and whether a thread is delivering them now.
#[derive(Default)]
struct Outbox {
    items: VecDeque<Output>,
    delivering: bool,
}

/// A meeting with its plumbing: messages go out through a [`Transport`], events through a
/// [`Listener`], and the session runs the timers.
///
/// The application
///
/// 1. passes every message from the relay to [`MeetingSession::receive`], and
/// 2. calls [`MeetingSession::tick`] at the time the last call returned (or periodically, e.g.
///    every 100 ms). Nothing is sent before the first `tick` (so the transport may refer to the
///    session).
///
/// Both run the timers that are due, then deliver what the meeting produced: messages to
/// [`Transport::send`] (with the leader already resolved to its participant id) and events to
/// [`Listener::on_event`], in order. Thread-safe: calls from several threads are serialized and
/// outputs are delivered in the engine's order, one callback at a time, without holding the
/// session's lock (callbacks may call the session again).
#[derive(uniffi::Object)]
pub struct MeetingSession {
    meeting: Arc<Meeting>,
    transport: Arc<dyn Transport>,
    listener: Arc<dyn Listener>,
    outbox: Mutex<Outbox>,
    /// Where rebuild seals run, if the application attached an executor.
    executor: Mutex<Option<Arc<dyn SealExecutor>>>,
    /// This session, for the [`SealTask`]s it hands out (they must not keep it alive).
    me: Weak<MeetingSession>,
}

impl std::fmt::Debug for MeetingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingSession")
            .field("meeting", &self.meeting)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl MeetingSession {
    /// Creates a meeting with this participant as its leader ([`Meeting::create`]).
    #[uniffi::constructor(default(options = None))]
    pub fn create(
        meeting_id: Vec<u8>,
        participant_id: String,
        identity: Arc<Identity>,
        transport: Arc<dyn Transport>,
        listener: Arc<dyn Listener>,
        now_ms: i64,
        options: Option<MeetingOptions>,
    ) -> Result<Arc<Self>, ConclaveError> {
        let m = Meeting::create(meeting_id, participant_id, identity, now_ms, options)?;
        Ok(Self::wrap(m, transport, listener))
    }

    /// Starts joining a meeting ([`Meeting::join`]); [`MeetingEvent::Joined`] says when in.
    #[uniffi::constructor(default(options = None))]
    pub fn join(
        meeting_id: Vec<u8>,
        participant_id: String,
        identity: Arc<Identity>,
        transport: Arc<dyn Transport>,
        listener: Arc<dyn Listener>,
        now_ms: i64,
        options: Option<MeetingOptions>,
    ) -> Result<Arc<Self>, ConclaveError> {
        let m = Meeting::join(meeting_id, participant_id, identity, now_ms, options)?;
        Ok(Self::wrap(m, transport, listener))
    }

    /// Handles a message from the relay, runs the timers due at `now_ms` and delivers the
    /// outputs. Returns when to call [`MeetingSession::tick`] next (none once ended).
    ///
    /// A refused message (`Rejected`, `Decode`: forged, stale, for someone else, ...) changes
    /// nothing and is returned as the error after the outputs were delivered: log it and carry
    /// on.
    pub fn receive(&self, message: Vec<u8>, now_ms: i64) -> Result<Option<i64>, ConclaveError> {
        // A refusal is logged by the engine (target `conclave::meeting`, with its kind).
        let handled = self.meeting.handle_message(message, now_ms);
        let next = self.tick(now_ms)?;
        handled.map(|()| next)
    }

    /// Runs the timers due at `now_ms` (heartbeats, commits, rotation, failover, ...) and
    /// delivers the outputs. Returns when to call it next (same clock), or none once the
    /// participant has left.
    pub fn tick(&self, now_ms: i64) -> Result<Option<i64>, ConclaveError> {
        ms(now_ms)?;
        let due = self.meeting.poll_timeout_ms();
        let ran = match due {
            Some(t) if t <= now_ms => self.meeting.handle_timeout(now_ms),
            _ => Ok(()),
        };
        self.flush();
        ran.map(|()| self.meeting.poll_timeout_ms())
    }

    /// When [`MeetingSession::tick`] should next be called, or none once the participant has
    /// left.
    pub fn next_tick_ms(&self) -> Option<i64> {
        self.meeting.poll_timeout_ms()
    }

    /// Leaves the meeting ([`Meeting::leave`]) and sends the leave.
    pub fn leave(&self, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.leave(now_ms), now_ms)
    }

    /// The SFU says the leader's connection closed ([`Meeting::leader_connection_closed`]): probe
    /// it, and fail over in about a second if it does not answer.
    pub fn leader_connection_closed(&self, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.leader_connection_closed(now_ms), now_ms)
    }

    /// Leader: removes a participant ([`Meeting::remove`]).
    pub fn remove(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.remove(participant_id, now_ms), now_ms)
    }

    /// Leader: locks or unlocks the meeting ([`Meeting::lock`]).
    pub fn lock(&self, locked: bool, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.lock(locked, now_ms), now_ms)
    }

    /// Leader: refreshes every key ([`Meeting::rotate`]).
    pub fn rotate(&self, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.rotate(now_ms), now_ms)
    }

    /// Leader: hands leadership over ([`Meeting::hand_over`]).
    pub fn hand_over(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.hand_over(participant_id, now_ms), now_ms)
    }

    /// Leader: admits a pending join request or a removed/denied identity ([`Meeting::admit`]).
    pub fn admit(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.admit(participant_id, now_ms), now_ms)
    }

    /// Leader: denies a pending join request ([`Meeting::deny`]).
    pub fn deny(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.then_tick(self.meeting.deny(participant_id, now_ms), now_ms)
    }

    /// The meeting behind the session, for its accessors (`security_code`, `participants`,
    /// `epoch`, ...). Calls that change it should go through the session, which delivers their
    /// outputs; outputs of direct calls go out with the next `tick` or `receive`.
    pub fn meeting(&self) -> Arc<Meeting> {
        Arc::clone(&self.meeting)
    }

    /// The frame encryptor/decryptor, for media threads ([`Meeting::frame_crypto`]).
    pub fn frame_crypto(&self) -> Arc<FrameCrypto> {
        self.meeting.frame_crypto()
    }

    /// Attaches (or, with none, detaches) an executor for the seals of a rebuild: when this
    /// participant becomes leader by failover or handover, each member's Welcome is handed to
    /// `executor` as a [`SealTask`] instead of being sealed inside the call (about a second of
    /// one core per 1,000 members). See [`SealTask`].
    pub fn set_seal_executor(&self, executor: Option<Arc<dyn SealExecutor>>) {
        let offload = executor.is_some();
        *self.executor.lock().unwrap_or_else(PoisonError::into_inner) = executor;
        self.meeting.view().set_offload_rebuild_sealing(offload);
    }
}

impl MeetingSession {
    fn wrap(
        meeting: Arc<Meeting>,
        transport: Arc<dyn Transport>,
        listener: Arc<dyn Listener>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            meeting,
            transport,
            listener,
            outbox: Mutex::new(Outbox::default()),
            executor: Mutex::new(None),
            me: me.clone(),
        })
    }

    /// Queues the Welcome a [`SealTask`] made and delivers it.
    pub(crate) fn send_sealed(&self, t: Transmit) {
        let to = match t.destination {
            CoreDestination::Participant(participant_id) => {
                Recipient::Participant { participant_id }
            }
            CoreDestination::All | CoreDestination::Leader => Recipient::All,
        };
        self.lock_outbox()
            .items
            .push_back(Output::Send(to, t.payload));
        self.deliver();
    }

    /// Hands rebuild seals to the executor (or runs them here if there is none now, or it
    /// refuses one). Called after the commit they belong to was queued, so it goes out first.
    fn dispatch_seals(&self, jobs: Vec<SealJob>) {
        if jobs.is_empty() {
            return;
        }
        let executor = self
            .executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for job in jobs {
            let task = SealTask::new(job, self.me.clone());
            if let Some(ex) = &executor {
                match ex.execute(Arc::clone(&task)) {
                    Ok(()) => continue,
                    Err(e) => log::callback_failed(&self.meeting.participant_id(), &e),
                }
            }
            if let Err(e) = task.run() {
                log::seal_failed(&self.meeting.participant_id(), &e);
            }
        }
    }

    /// After a control call: runs due timers (a leader's commit is due at once with the default
    /// commit delay) and delivers; the call's own error wins.
    fn then_tick(&self, call: Result<(), ConclaveError>, now_ms: i64) -> Result<(), ConclaveError> {
        let ticked = self.tick(now_ms);
        call?;
        ticked.map(|_| ())
    }

    /// Moves the meeting's outputs into the outbox (under the meeting's lock, so that outputs
    /// of concurrent calls keep the engine's order), then delivers them unless another call of
    /// this session is already delivering (it will deliver these too).
    fn flush(&self) {
        let jobs: Vec<SealJob> = {
            let mut m = self.meeting.view();
            let mut leader: Option<Option<String>> = None;
            let mut out = Vec::new();
            while let Some(t) = m.poll_transmit() {
                let to = match t.destination {
                    CoreDestination::All => Recipient::All,
                    CoreDestination::Participant(participant_id) => {
                        Recipient::Participant { participant_id }
                    }
                    CoreDestination::Leader => {
                        let id = leader.get_or_insert_with(|| {
                            let leaf = m.leader_leaf();
                            let own = m.participant_id().to_string();
                            m.participants()
                                .into_iter()
                                .find(|p| p.leaf == leaf && p.participant_id != own)
                                .map(|p| p.participant_id)
                        });
                        match id {
                            Some(participant_id) => Recipient::Participant {
                                participant_id: participant_id.clone(),
                            },
                            None => {
                                log::leader_unknown(m.participant_id());
                                Recipient::All
                            }
                        }
                    }
                };
                out.push(Output::Send(to, t.payload));
            }
            while let Some(e) = m.poll_event() {
                let e = MeetingEvent::from(e);
                out.push(Output::Event(e));
            }
            self.lock_outbox().items.extend(out);
            std::iter::from_fn(|| m.poll_seal_job()).collect()
        };
        self.dispatch_seals(jobs);
        self.deliver();
    }

    fn lock_outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        // The outbox holds plain data; a panic elsewhere cannot leave it inconsistent.
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers queued outputs one at a time, without holding any lock during a callback.
    fn deliver(&self) {
        {
            let mut o = self.lock_outbox();
            if o.delivering {
                return;
            }
            o.delivering = true;
        }
        let mut guard = Delivering {
            session: self,
            armed: true,
        };
        loop {
            let item = {
                let mut o = self.lock_outbox();
                match o.items.pop_front() {
                    Some(item) => item,
                    None => {
                        // Cleared under the same lock a new output is queued under: nothing
                        // is left behind for a caller that saw `delivering` set.
                        o.delivering = false;
                        guard.armed = false;
                        return;
                    }
                }
            };
            let result = match item {
                Output::Send(to, payload) => self.transport.send(to, payload),
                Output::Event(e) => self.listener.on_event(e),
            };
            if let Err(e) = result {
                log::callback_failed(&self.meeting.participant_id(), &e);
            }
        }
    }
}

/// Clears the `delivering` flag if delivery is interrupted by an unwinding panic.
struct Delivering<'a> {
    session: &'a MeetingSession,
    armed: bool,
}

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.session.lock_outbox().delivering = false;
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
