//! Offloaded sealing: a [`MeetingSession`]'s rebuild Welcomes sealed on the application's
//! threads.
//!
//! A leader that rebuilds the tree (a failover, a handover) seals one Welcome per member: an
//! HPKE seal and a signature each, about a second of one core at 1,000 members
//! (`BENCHMARKS.md`). Inline, that second is spent inside the `tick` or `receive` that made the
//! commit. With a [`SealExecutor`] attached ([`MeetingSession::set_seal_executor`]), the
//! session hands each seal to the application as a [`SealTask`] instead; the application runs
//! [`SealTask::run`] on any thread (a pool), and the task sends its Welcome through the
//! session's [`Transport`](crate::Transport).
//!
//! A task holds a member's secret path keys until it runs (zeroized when it is dropped, run or
//! not). A task whose session is gone does nothing. If the executor refuses a task (its
//! callback fails), the session runs that task inline: a Welcome is never lost to the executor.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use conclave_core::meeting::SealJob;

use crate::error::Origin;
use crate::session::MeetingSession;
use crate::{ConclaveError, rng};

/// Runs [`SealTask`]s on the application's threads. Implemented by the application (e.g. with
/// a thread pool, `Dispatchers.Default`, a `DispatchQueue` or a `concurrent.futures` executor).
#[uniffi::export(with_foreign)]
pub trait SealExecutor: Send + Sync {
    /// Schedules `task.run()` on some thread and returns at once. Running it inline is correct
    /// too, only slower for the caller. An error makes the session run the task itself.
    fn execute(&self, task: Arc<SealTask>) -> Result<(), crate::CallbackError>;
}

/// One Welcome of a rebuild to seal, sign and send (see the module documentation).
#[derive(uniffi::Object)]
pub struct SealTask {
    recipient: String,
    job: Mutex<Option<SealJob>>,
    session: Weak<MeetingSession>,
}

impl std::fmt::Debug for SealTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealTask")
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl SealTask {
    /// The participant the Welcome is for.
    pub fn recipient(&self) -> String {
        self.recipient.clone()
    }

    /// Seals, signs and sends the Welcome through the session's transport. Runs once: a second
    /// call does nothing. Does nothing if the session was dropped. Fails only if the operating
    /// system's random source fails or the recipient's key is unusable (the member then
    /// resyncs, as after a lost Welcome).
    pub fn run(&self) -> Result<(), ConclaveError> {
        let job = self
            .job
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(job) = job else {
            return Ok(());
        };
        let Some(session) = self.session.upgrade() else {
            return Ok(());
        };
        let mut rng = rng::os_rng()?;
        let transmit = job
            .run(&mut rng)
            .map_err(|e| ConclaveError::from_meeting(e, Origin::Local))?;
        session.send_sealed(transmit);
        Ok(())
    }
}

impl SealTask {
    pub(crate) fn new(job: SealJob, session: Weak<MeetingSession>) -> Arc<Self> {
        Arc::new(Self {
            recipient: job.recipient().to_string(),
            job: Mutex::new(Some(job)),
            session,
        })
    }
}
