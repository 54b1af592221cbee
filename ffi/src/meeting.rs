//! The control path: the meeting state machine.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use conclave_core::CipherSuite as CoreCipherSuite;
use conclave_core::frame::FrameConfig;
use conclave_core::meeting::{
    Destination as CoreDestination, Meeting as CoreMeeting, MeetingConfig,
    RemovalReason as CoreRemovalReason,
};

use crate::admission::AdmissionPolicy;
use crate::error::Origin;
pub use crate::event::MeetingEvent;
use crate::frame::FrameCrypto;
use crate::rng::os_rng;
use crate::{ConclaveError, Identity, arg32, ms, out32, out64, to_ms};

/// A cipher suite (`spec/suites.md`). Every suite signs with ECDSA P-256 and encrypts frames
/// with ChaCha20-Poly1305; they differ in how keys are sealed to participants (HPKE KEM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CipherSuite {
    /// Suite 1: HPKE with DHKEM(P-256). Classical.
    P256,
    /// Suite 2: HPKE with the X-Wing hybrid KEM (X25519 + ML-KEM-768): key distribution stays
    /// confidential against a future quantum computer if either part holds.
    XWing,
}

impl From<CoreCipherSuite> for CipherSuite {
    fn from(s: CoreCipherSuite) -> Self {
        match s {
            CoreCipherSuite::P256Sha256ChaCha20Poly1305 => Self::P256,
            CoreCipherSuite::XWingSha256ChaCha20Poly1305 => Self::XWing,
        }
    }
}

impl From<CipherSuite> for CoreCipherSuite {
    fn from(s: CipherSuite) -> Self {
        match s {
            CipherSuite::P256 => Self::P256Sha256ChaCha20Poly1305,
            CipherSuite::XWing => Self::XWingSha256ChaCha20Poly1305,
        }
    }
}

/// The wire id of a suite (1 for `P256`, 2 for `XWing`), as carried in
/// [`MeetingEvent::SuiteChanged`] and [`MeetingEvent::SuiteRefused`].
#[uniffi::export]
pub fn cipher_suite_id(suite: CipherSuite) -> i32 {
    out32(CoreCipherSuite::from(suite).id())
}

/// Every suite this build implements, strongest first.
#[uniffi::export]
pub fn supported_cipher_suites() -> Vec<CipherSuite> {
    CoreCipherSuite::ALL.iter().map(|s| (*s).into()).collect()
}

/// Tunable behaviour of a meeting. The defaults follow `spec/README.md`; every participant of a
/// meeting should use the same values (except the suite preferences, which are negotiated).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MeetingOptions {
    /// Largest number of participants (1..=10,000).
    #[uniffi(default = 1000)]
    pub max_participants: i32,
    /// Interval between leader heartbeats (ms, > 0).
    #[uniffi(default = 10000)]
    pub heartbeat_interval_ms: i64,
    /// Missed heartbeat intervals before the leader is considered failed (> 0).
    #[uniffi(default = 3)]
    pub missed_heartbeats_limit: i32,
    /// Periodic key rotation interval (ms); `null`/`None`/`nil` disables it.
    #[uniffi(default = Some(300000))]
    pub rotation_interval_ms: Option<i64>,
    /// How long to wait for a liveness echo before reporting a stale view (ms).
    #[uniffi(default = 30000)]
    pub liveness_timeout_ms: i64,
    /// How long a leader waits to batch changes into one commit (ms).
    #[uniffi(default = 0)]
    pub commit_delay_ms: i64,
    /// Longest time senders keep the previous epoch after a commit (ms).
    #[uniffi(default = 2000)]
    pub switch_delay_ms: i64,
    /// Frame replay window in counters (64..=65,536).
    #[uniffi(default = 1024)]
    pub replay_window: i32,
    /// How long the previous epoch's frame keys stay usable after a newer epoch (ms).
    #[uniffi(default = 10000)]
    pub epoch_grace_ms: i64,
    /// Cipher suites this participant supports and announces; the meeting uses the strongest
    /// suite every member supports. `null`/`None`/`nil`: every suite this build implements
    /// ([`supported_cipher_suites`]).
    #[uniffi(default = None)]
    pub suites: Option<Vec<CipherSuite>>,
    /// Refuse classical-only key distribution: with `true` the participant leaves (or does not
    /// join) when the meeting's suite is not post-quantum
    /// ([`MeetingEvent::SuiteRefused`], then [`RemovalReason::SuiteRefused`]).
    #[uniffi(default = false)]
    pub require_post_quantum: bool,
    /// Who the leader admits; `null`/`None`/`nil` is [`AdmissionPolicy::Automatic`].
    #[uniffi(default = None)]
    pub admission: Option<AdmissionPolicy>,
}

/// The default options (the same values as the record's field defaults).
#[uniffi::export]
pub fn default_meeting_options() -> MeetingOptions {
    let c = MeetingConfig::default();
    MeetingOptions {
        max_participants: i32::try_from(c.max_participants).unwrap_or(i32::MAX),
        heartbeat_interval_ms: to_ms(c.heartbeat_interval),
        missed_heartbeats_limit: out32(c.missed_heartbeats_limit),
        rotation_interval_ms: c.rotation_interval.map(to_ms),
        liveness_timeout_ms: to_ms(c.liveness_timeout),
        commit_delay_ms: to_ms(c.commit_delay),
        switch_delay_ms: to_ms(c.switch_delay),
        replay_window: out32(c.frames.replay_window),
        epoch_grace_ms: to_ms(c.frames.epoch_grace),
        suites: None,
        require_post_quantum: c.require_post_quantum,
        admission: None,
    }
}

impl MeetingOptions {
    fn to_config(&self) -> Result<MeetingConfig, ConclaveError> {
        let max_participants = usize::try_from(self.max_participants).map_err(|_| {
            ConclaveError::invalid(format!(
                "max_participants must not be negative (got {})",
                self.max_participants
            ))
        })?;
        let rotation_interval = match self.rotation_interval_ms {
            Some(r) => Some(ms(r)?),
            None => None,
        };
        Ok(MeetingConfig {
            max_participants,
            heartbeat_interval: ms(self.heartbeat_interval_ms)?,
            missed_heartbeats_limit: arg32(
                "missed_heartbeats_limit",
                self.missed_heartbeats_limit,
            )?,
            rotation_interval,
            liveness_timeout: ms(self.liveness_timeout_ms)?,
            commit_delay: ms(self.commit_delay_ms)?,
            switch_delay: ms(self.switch_delay_ms)?,
            frames: FrameConfig {
                replay_window: arg32("replay_window", self.replay_window)?,
                epoch_grace: ms(self.epoch_grace_ms)?,
                ..FrameConfig::default()
            },
            suites: match &self.suites {
                Some(list) => list.iter().map(|s| (*s).into()).collect(),
                None => CoreCipherSuite::ALL.to_vec(),
            },
            require_post_quantum: self.require_post_quantum,
            admission: self
                .admission
                .clone()
                .map_or_else(Default::default, Into::into),
            // Engine settings the bindings do not expose (e.g. offloading rebuild sealing to
            // application threads) keep their defaults.
            ..MeetingConfig::default()
        })
    }
}

/// Where the relay should deliver a [`Transmit`]. A relay may also broadcast everything:
/// recipients ignore what is not for them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Destination {
    /// Every other participant (commits, heartbeats).
    All,
    /// The current leader (announcements, leaves, resync requests, liveness nonces).
    Leader,
    /// One participant (Welcomes).
    Participant {
        /// Its participant id.
        participant_id: String,
    },
}

/// An encoded protocol message to hand to the relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Transmit {
    /// Where it goes.
    pub destination: Destination,
    /// The bytes to send (pass them unchanged to the recipients' `handle_message`).
    pub payload: Vec<u8>,
}

/// Why a participant left the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RemovalReason {
    /// It left.
    Left,
    /// The leader removed it.
    Removed,
    /// It timed out.
    TimedOut,
    /// It was the leader and failed.
    LeaderFailed,
    /// It required post-quantum key distribution and the meeting's suite is not.
    SuiteRefused,
}

impl From<CoreRemovalReason> for RemovalReason {
    fn from(r: CoreRemovalReason) -> Self {
        match r {
            CoreRemovalReason::Left => Self::Left,
            CoreRemovalReason::Removed => Self::Removed,
            CoreRemovalReason::TimedOut => Self::TimedOut,
            CoreRemovalReason::LeaderFailed => Self::LeaderFailed,
            CoreRemovalReason::SuiteRefused => Self::SuiteRefused,
        }
    }
}

/// A present participant.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Participant {
    /// Its id.
    pub participant_id: String,
    /// Its leaf: the `sender` of its frames.
    pub leaf: i32,
    /// The epoch that admitted it.
    pub admitted_epoch: i64,
    /// Its identity fingerprint (8 groups of 5 digits).
    pub fingerprint: String,
    /// Whether it is the leader.
    pub is_leader: bool,
}

/// One participant's view of a meeting: the control path.
///
/// Sans-IO: the application moves bytes between the meeting and the relay and passes the time
/// (`now_ms`, any monotonic millisecond clock, see [`crate::monotonic_now_ms`]):
///
/// 1. after every call, send each [`Meeting::poll_transmit`] to the relay and handle each
///    [`Meeting::poll_events`] entry;
/// 2. pass every message from the relay to [`Meeting::handle_message`];
/// 3. call [`Meeting::handle_timeout`] when [`Meeting::poll_timeout_ms`] is reached.
///
/// Methods are serialized by an internal lock and may be called from any thread; media goes
/// through [`Meeting::frame_crypto`], which does not take this lock. Should an internal error
/// ever interrupt a call halfway, the calls that change the meeting fail with `Internal` from
/// then on (accessors and the `poll_*` calls keep working).
#[derive(Debug, uniffi::Object)]
pub struct Meeting {
    inner: Mutex<CoreMeeting>,
    frames: Arc<FrameCrypto>,
}

impl Meeting {
    fn wrap(m: CoreMeeting) -> Arc<Self> {
        let frames = Arc::new(FrameCrypto::new(m.frame_crypto()));
        Arc::new(Self {
            inner: Mutex::new(m),
            frames,
        })
    }

    /// The engine, unless an earlier internal panic poisoned it (its state may then be half
    /// updated, so it is not used again).
    pub(crate) fn state(&self) -> Result<MutexGuard<'_, CoreMeeting>, ConclaveError> {
        self.inner.lock().map_err(|_| {
            ConclaveError::internal(
                "an earlier internal error left this meeting unusable; create or join again".into(),
            )
        })
    }

    /// The engine for reading and draining queues. Reading state left by an earlier internal
    /// panic is harmless, so poisoning is ignored here (and reported by the mutating calls).
    pub(crate) fn view(&self) -> MutexGuard<'_, CoreMeeting> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn config(options: Option<MeetingOptions>) -> Result<MeetingConfig, ConclaveError> {
        options.map_or_else(|| Ok(MeetingConfig::default()), |o| o.to_config())
    }
}

pub(crate) fn local(e: conclave_core::meeting::MeetingError) -> ConclaveError {
    ConclaveError::from_meeting(e, Origin::Local)
}

#[uniffi::export]
impl Meeting {
    /// Creates a meeting with this participant as its leader (epoch 1). The creating commit is
    /// queued in [`Meeting::poll_transmit`] for the relay.
    ///
    /// `meeting_id` is the application's identifier of the meeting (the same bytes for every
    /// participant), `participant_id` this participant's id in it (unique per meeting).
    /// Randomness comes from the operating system. `options` defaults to
    /// [`default_meeting_options`].
    #[uniffi::constructor(default(options = None))]
    pub fn create(
        meeting_id: Vec<u8>,
        participant_id: String,
        identity: Arc<Identity>,
        now_ms: i64,
        options: Option<MeetingOptions>,
    ) -> Result<Arc<Self>, ConclaveError> {
        let config = Self::config(options)?;
        let mut rng = os_rng()?;
        let m = CoreMeeting::create(
            config,
            &meeting_id,
            &participant_id,
            identity.key_copy()?,
            ms(now_ms)?,
            &mut rng,
        )
        .map_err(local)?;
        Ok(Self::wrap(m))
    }

    /// Starts joining a meeting: queues a signed announcement for the leader. The participant is
    /// in the meeting once [`MeetingEvent::Joined`] arrives.
    #[uniffi::constructor(default(options = None))]
    pub fn join(
        meeting_id: Vec<u8>,
        participant_id: String,
        identity: Arc<Identity>,
        now_ms: i64,
        options: Option<MeetingOptions>,
    ) -> Result<Arc<Self>, ConclaveError> {
        let config = Self::config(options)?;
        let mut rng = os_rng()?;
        let m = CoreMeeting::join(
            config,
            &meeting_id,
            &participant_id,
            identity.key_copy()?,
            ms(now_ms)?,
            &mut rng,
        )
        .map_err(local)?;
        Ok(Self::wrap(m))
    }

    /// Handles a message from the relay. A `Rejected`/`Decode` error means the message was
    /// refused (forged, stale, for another meeting, ...) and the meeting is unchanged: log it and
    /// carry on. Then drain [`Meeting::poll_transmit`] and [`Meeting::poll_events`].
    pub fn handle_message(&self, message: Vec<u8>, now_ms: i64) -> Result<(), ConclaveError> {
        let mut rng = os_rng()?;
        self.state()?
            .handle_message(&message, ms(now_ms)?, &mut rng)
            .map_err(|e| ConclaveError::from_meeting(e, Origin::Remote))
    }

    /// Runs the timers due at `now_ms` (heartbeats, batched commits, rotation, liveness,
    /// failover, the send-epoch switch-over).
    pub fn handle_timeout(&self, now_ms: i64) -> Result<(), ConclaveError> {
        let mut rng = os_rng()?;
        self.state()?
            .handle_timeout(ms(now_ms)?, &mut rng)
            .map_err(local)
    }

    /// The next message to send to the relay, or none. Call until it returns none.
    pub fn poll_transmit(&self) -> Option<Transmit> {
        self.view().poll_transmit().map(|t| Transmit {
            destination: match t.destination {
                CoreDestination::All => Destination::All,
                CoreDestination::Leader => Destination::Leader,
                CoreDestination::Participant(participant_id) => {
                    Destination::Participant { participant_id }
                }
            },
            payload: t.payload,
        })
    }

    /// Every event since the last call, oldest first.
    pub fn poll_events(&self) -> Vec<MeetingEvent> {
        let mut m = self.view();
        std::iter::from_fn(|| m.poll_event())
            .map(MeetingEvent::from)
            .collect()
    }

    /// When [`Meeting::handle_timeout`] should next be called (same clock as `now_ms`), or none
    /// once the participant has left.
    pub fn poll_timeout_ms(&self) -> Option<i64> {
        self.view().poll_timeout().map(to_ms)
    }

    /// Leaves the meeting: queues a signed leave for the leader (a leader first hands over to its
    /// successor). Frame keys are dropped at once.
    pub fn leave(&self, now_ms: i64) -> Result<(), ConclaveError> {
        let mut rng = os_rng()?;
        self.state()?.leave(ms(now_ms)?, &mut rng).map_err(local)
    }

    /// The relay (SFU) says the leader's connection closed. The hint is not trusted: the
    /// participant probes the leader and fails over in about a second only if the leader does
    /// not answer (`spec/state-machine.md` VOTE-0). Pass it whenever your SFU reports that the
    /// leader's participant disconnected; a false hint changes nothing.
    pub fn leader_connection_closed(&self, now_ms: i64) -> Result<(), ConclaveError> {
        let mut rng = os_rng()?;
        self.state()?
            .leader_connection_closed(ms(now_ms)?, &mut rng);
        Ok(())
    }

    /// Leader: removes a participant in the next commit; everyone else gets new keys it does not
    /// have.
    pub fn remove(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?
            .remove(&participant_id, ms(now_ms)?)
            .map_err(local)
    }

    /// Leader: locks (no new admissions) or unlocks the meeting in the next commit.
    pub fn lock(&self, locked: bool, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?.lock(locked, ms(now_ms)?).map_err(local)
    }

    /// Leader: refreshes every key in the next commit.
    pub fn rotate(&self, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?.rotate(ms(now_ms)?).map_err(local)
    }

    /// Leader: hands leadership to `participant_id`.
    pub fn hand_over(&self, participant_id: String, now_ms: i64) -> Result<(), ConclaveError> {
        self.state()?
            .hand_over(&participant_id, ms(now_ms)?)
            .map_err(local)
    }

    /// The current epoch's security code (6 groups of 5 digits), if this participant holds its
    /// keys. Equal codes on two devices mean they share the same keys and history.
    pub fn security_code(&self) -> Option<String> {
        self.view().security_code()
    }

    /// The current epoch (0 before joining).
    pub fn epoch(&self) -> i64 {
        out64(self.view().epoch())
    }

    /// The epoch frames are sent with now.
    pub fn send_epoch(&self) -> i64 {
        out64(self.view().send_epoch())
    }

    /// Present participants, by leaf.
    pub fn participants(&self) -> Vec<Participant> {
        self.view()
            .participants()
            .into_iter()
            .map(|p| Participant {
                participant_id: p.participant_id,
                leaf: out32(p.leaf),
                admitted_epoch: out64(p.admitted_epoch),
                fingerprint: p.fingerprint,
                is_leader: p.is_leader,
            })
            .collect()
    }

    /// Our participant id.
    pub fn participant_id(&self) -> String {
        self.view().participant_id().to_string()
    }

    /// Our leaf (frame sender index); meaningful once joined.
    pub fn own_leaf(&self) -> i32 {
        out32(self.view().own_leaf())
    }

    /// Whether we are the leader.
    pub fn is_leader(&self) -> bool {
        self.view().is_leader()
    }

    /// Whether we are in the meeting (joined and not ended).
    pub fn is_active(&self) -> bool {
        self.view().is_active()
    }

    /// Whether we left or were removed.
    pub fn is_ended(&self) -> bool {
        self.view().is_ended()
    }

    /// The cipher suite the meeting uses now.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.view().suite().into()
    }

    /// Whether the meeting is locked.
    pub fn is_locked(&self) -> bool {
        self.view().is_locked()
    }

    /// Whether media may be sent now (false while the leader is silent or our view is stale).
    pub fn can_send(&self) -> bool {
        self.view().can_send()
    }

    /// The frame encryptor/decryptor of this participant, for media threads. Always the same
    /// object; it does not take the meeting's lock.
    pub fn frame_crypto(&self) -> Arc<FrameCrypto> {
        Arc::clone(&self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_defaults_match_the_engine() {
        // The literals in `#[uniffi(default = ..)]` must equal MeetingConfig::default().
        let d = default_meeting_options();
        assert_eq!(
            d,
            MeetingOptions {
                max_participants: 1000,
                heartbeat_interval_ms: 10_000,
                missed_heartbeats_limit: 3,
                rotation_interval_ms: Some(300_000),
                liveness_timeout_ms: 30_000,
                commit_delay_ms: 0,
                switch_delay_ms: 2000,
                replay_window: 1024,
                epoch_grace_ms: 10_000,
                suites: None,
                require_post_quantum: false,
                admission: None,
            }
        );
        assert_eq!(
            d.to_config().expect("config"),
            MeetingConfig::default(),
            "options round-trip"
        );
    }

    #[test]
    fn two_participants_exchange_a_frame() {
        let a = Meeting::create(
            b"meeting-0123456789abcdef".to_vec(),
            "alice".into(),
            Identity::generate().expect("id"),
            0,
            None,
        )
        .expect("create");
        let b = Meeting::join(
            b"meeting-0123456789abcdef".to_vec(),
            "bob".into(),
            Identity::generate().expect("id"),
            0,
            None,
        )
        .expect("join");
        let parts = [&a, &b];
        // Deliver, run due timers (the leader's commit), then pass the 2 s switch-over.
        for now in [0i64, 0, 1, 3_000, 3_000, 3_001] {
            for m in parts {
                if m.poll_timeout_ms().is_some_and(|t| t <= now) {
                    m.handle_timeout(now).expect("timers");
                }
            }
            for (i, m) in parts.iter().enumerate() {
                while let Some(t) = m.poll_transmit() {
                    parts[1 - i]
                        .handle_message(t.payload, now)
                        .expect("accepted");
                }
            }
        }
        assert_eq!(a.security_code(), b.security_code());
        assert!(a.security_code().is_some());
        let f = a
            .frame_crypto()
            .encrypt(0, b"hello".to_vec(), 0)
            .expect("enc");
        let d = b.frame_crypto().decrypt(f, 3_002).expect("dec");
        assert_eq!(d.plaintext, b"hello");
        assert_eq!(d.sender, a.own_leaf());
        let e = b.remove("alice".into(), 3_002).expect_err("not leader");
        assert!(matches!(e, ConclaveError::NotLeader { .. }), "{e}");
    }

    #[test]
    fn invalid_options_are_invalid_arguments() {
        let o = MeetingOptions {
            max_participants: 0,
            ..default_meeting_options()
        };
        let e = Meeting::create(
            b"meeting-0123456789abcdef".to_vec(),
            "alice".into(),
            Identity::generate().expect("id"),
            0,
            Some(o),
        )
        .expect_err("invalid");
        assert!(matches!(e, ConclaveError::InvalidArgument { .. }), "{e}");
    }
}
