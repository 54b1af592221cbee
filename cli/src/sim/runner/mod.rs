//! The runner: a [`Sim`] of real engines on virtual time behind an untrusted relay, with a narrow
//! API for what sits above it (the scenario and the attacks): run to quiescence, inject bytes as
//! the relay, mount a tap on control messages or an attack on frames, and query who leads and who
//! is in. As it runs it records everything the report shows (`super::records`) and collects every
//! secret any participant holds, for the leak scan.
//!
//! It imports only `records` and `scan` from `sim`.

mod media;
mod observe;
mod summary;
mod tap;

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::frame::FrameCrypto;
use conclave_core::meeting::{AdmissionPolicy, Meeting, MeetingConfig, MeetingError};
use conclave_core::sim::{InFlight, Ledger, Sim};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use summary::RunSummary;
pub use tap::{Dropped, Mutate, message_kind};

use super::records::{
    Detection, EpochRecord, FrameAttack, FrameTally, MEETING_ID, RejectionRecord, TimelineEntry,
};
use super::scan::Scanner;
use crate::CliError;
use crate::join::meeting_config;
use media::MediaState;
use tap::TapState;

/// Virtual time step.
pub const STEP: Duration = Duration::from_millis(10);
/// Virtual time between two observations of the confidentiality ledger.
const LEDGER_PERIOD: Duration = Duration::from_secs(1);

/// What the runner needs from the command line.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Seed of every random choice.
    pub seed: u64,
    /// Percentage of control messages and frames the relay drops.
    pub loss: f64,
    /// Interval between the leader's heartbeats.
    pub heartbeat: Duration,
}

/// The simulation and everything observed about it.
pub struct Runner {
    sim: Sim<ChaCha20Rng>,
    /// The relay's own random source (media phases, loss and forgeries of frames).
    rng: ChaCha20Rng,
    tap: Rc<RefCell<TapState>>,
    scanner: Scanner,
    harvested: HashSet<[u8; 32]>,
    /// Identity secret keys by participant id (the same identity on every rejoin).
    pub keys: BTreeMap<String, [u8; 32]>,
    /// Crashed participants (no timers, no deliveries).
    pub paused: BTreeSet<String>,
    /// Participants that left on purpose (not rejoined when their meeting ends).
    pub leavers: BTreeSet<String>,
    media: BTreeMap<String, MediaState>,
    retired: Vec<Arc<FrameCrypto>>,
    timeline: Vec<TimelineEntry>,
    epochs: BTreeMap<u64, EpochRecord>,
    event_cursor: usize,
    rejection_cursor: usize,
    /// Every control-message rejection so far.
    pub rejections: Vec<RejectionRecord>,
    /// What the frame relay counted.
    pub frames: FrameTally,
    frame_attack: Option<FrameAttack>,
    /// The first frames of the run (sender, bytes), kept for replays.
    pub early_frames: Vec<(String, Vec<u8>)>,
    /// Frame rejections seen while a frame attack was active (the first few of each kind).
    pub frame_detections: Vec<Detection>,
    /// Frame rejections by kind since the detections were last cleared.
    pub frame_detection_counts: BTreeMap<String, u64>,
    loss: f64,
    last_leader: Option<String>,
    generation: BTreeMap<String, u32>,
    removed_reported: HashSet<(String, u32)>,
    /// The participants' configuration.
    pub config: MeetingConfig,
    joined_at: BTreeMap<String, Duration>,
    start: Duration,
    media_on: bool,
    /// The frame secret of the latest epoch seen (for the scanner self-test).
    last_frame_secret: Option<Vec<u8>>,
    ledger: Ledger,
    next_ledger: Duration,
}

impl Runner {
    /// A meeting with nobody in it yet.
    pub fn new(settings: RunnerSettings) -> Self {
        let config = meeting_config(settings.heartbeat);
        let sim = Sim::new(
            MEETING_ID,
            config.clone(),
            ChaCha20Rng::seed_from_u64(settings.seed),
        );
        let relay_seed = settings.seed ^ 0x005e_ed0f_7e1a_u64;
        let tap = Rc::new(RefCell::new(TapState::new(
            (settings.loss * 10_000.0).round() as u32,
            ChaCha20Rng::seed_from_u64(relay_seed.wrapping_add(1)),
        )));
        let start = sim.now;
        let mut r = Self {
            sim,
            rng: ChaCha20Rng::seed_from_u64(relay_seed),
            tap: Rc::clone(&tap),
            scanner: Scanner::default(),
            harvested: HashSet::new(),
            keys: BTreeMap::new(),
            paused: BTreeSet::new(),
            leavers: BTreeSet::new(),
            media: BTreeMap::new(),
            retired: Vec::new(),
            timeline: Vec::new(),
            epochs: BTreeMap::new(),
            event_cursor: 0,
            rejection_cursor: 0,
            rejections: Vec::new(),
            frames: FrameTally::default(),
            frame_attack: None,
            early_frames: Vec::new(),
            frame_detections: Vec::new(),
            frame_detection_counts: BTreeMap::new(),
            loss: settings.loss / 100.0,
            last_leader: None,
            generation: BTreeMap::new(),
            removed_reported: HashSet::new(),
            config,
            joined_at: BTreeMap::new(),
            start,
            media_on: true,
            last_frame_secret: None,
            ledger: Ledger::new(),
            next_ledger: start,
        };
        r.scanner.add(
            "media plaintext",
            || "audio plaintext".into(),
            b"conclave-audio-",
        );
        r.scanner.add(
            "media plaintext",
            || "video plaintext".into(),
            b"conclave-video-",
        );
        r.sim.tap = Some(Box::new(move |m: &mut InFlight| {
            tap.borrow_mut().on_message(m)
        }));
        r
    }

    /// The engines and the simulated network, to look at.
    pub fn sim(&self) -> &Sim<ChaCha20Rng> {
        &self.sim
    }

    /// Moves virtual time on by `step`; returns the new time.
    pub fn advance(&mut self, step: Duration) -> Duration {
        self.sim.now += step;
        self.sim.now
    }

    /// Has participant `id` act now (rotate, remove, lock...), as its application would.
    pub fn act<T>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Meeting, Duration, &mut ChaCha20Rng) -> Result<T, MeetingError>,
    ) -> Result<T, MeetingError> {
        self.sim.act(id, f)
    }

    /// The engines' random source (for identities and engines the relay makes up).
    pub fn engine_rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.sim.rng
    }

    /// Starts a participant of the relay's own with identity `key` (no timeline line, no settle).
    pub fn join_with(&mut self, id: &str, key: IdentityKey) -> Result<(), MeetingError> {
        self.sim.join_with(id, key)
    }

    /// Discards `id`'s engine (its application gives up).
    pub fn discard(&mut self, id: &str) {
        self.sim.participants.remove(id);
    }

    /// Sets the admission policy of every participant created from now on.
    pub fn set_admission(&mut self, policy: AdmissionPolicy) {
        self.config.admission = policy;
        self.sim.config = self.config.clone();
    }

    /// Seconds since the meeting was created.
    pub fn t(&self) -> f64 {
        self.sim.now.saturating_sub(self.start).as_secs_f64()
    }

    /// Adds a line to the timeline at the current time.
    pub fn note(&mut self, kind: &'static str, text: impl Into<String>) {
        let t = self.t();
        self.timeline.push(TimelineEntry {
            t,
            kind,
            text: text.into(),
            epoch: None,
        });
    }

    /// The identity of `id`: the one it had, or a new one (its secret is then looked for in
    /// everything the relay carries).
    pub fn new_identity(&mut self, id: &str) -> IdentityKey {
        if let Some(secret) = self.keys.get(id)
            && let Ok(k) = IdentityKey::from_secret_bytes(secret)
        {
            return k;
        }
        let k = IdentityKey::generate(&mut self.sim.rng);
        let secret: [u8; 32] = *k.secret_bytes();
        self.keys.insert(id.to_string(), secret);
        self.scanner.add(
            "identity keys",
            || format!("{id}'s identity secret key"),
            &secret,
        );
        k
    }

    /// `id` creates the meeting.
    pub fn create(&mut self, id: &str) -> Result<(), CliError> {
        let k = self.new_identity(id);
        *self.generation.entry(id.to_string()).or_default() += 1;
        self.sim
            .create_with(id, k)
            .map_err(|e| CliError::failed(format!("cannot create the meeting: {e}")))?;
        self.note("create", format!("{id} creates the meeting and leads it"));
        self.settle();
        Ok(())
    }

    /// `id` joins (or rejoins with its identity); `why` ends the timeline line.
    pub fn join(&mut self, id: &str, why: &str) -> Result<(), CliError> {
        let k = self.new_identity(id);
        *self.generation.entry(id.to_string()).or_default() += 1;
        if let Some(old) = self.sim.participants.remove(id) {
            self.retired.push(old.frame_crypto());
        }
        if let Some(m) = self.media.remove(id) {
            self.retired.push(m.crypto);
        }
        self.leavers.remove(id);
        self.sim
            .join_with(id, k)
            .map_err(|e| CliError::failed(format!("{id} cannot join: {e}")))?;
        self.note("join", format!("{id} {why}"));
        self.settle();
        Ok(())
    }

    /// `id` leaves, if it is in the meeting.
    pub fn leave(&mut self, id: &str) {
        if self.sim.participants.get(id).is_some_and(|m| m.is_active()) {
            let _ = self.sim.act(id, |m, now, rng| m.leave(now, rng));
            self.leavers.insert(id.to_string());
            self.note(
                "leave",
                format!("{id} leaves (a signed Leave to the leader)"),
            );
            self.settle();
        }
    }

    /// `id` crashes: no more timers or deliveries.
    pub fn crash(&mut self, id: &str) {
        self.sim.pause(id);
        self.paused.insert(id.to_string());
    }

    /// Turns the simulated media on or off.
    pub fn set_media(&mut self, on: bool) {
        self.media_on = on;
    }

    /// Runs the meeting to quiescence at the current time, collecting every epoch's secrets
    /// after each timer round and each delivery round (so no epoch goes unseen).
    pub fn settle(&mut self) {
        for _ in 0..64 {
            self.sim.tick();
            self.harvest();
            let n = self.sim.deliver_all();
            self.harvest();
            if n == 0 && self.sim.in_flight.is_empty() {
                self.sim.tick();
                self.harvest();
                if self.sim.in_flight.is_empty() {
                    break;
                }
            }
        }
        self.collect_events();
        self.collect_rejections();
    }

    /// One step of the run at the current time, after the scenario's own actions and the
    /// attack's: media (if on), rejoins of participants whose meeting ended, the ledger.
    pub fn step(&mut self) -> Result<(), CliError> {
        if self.media_on {
            self.media_step();
        }
        self.rejoin_ended()?;
        let now = self.sim.now;
        if now >= self.next_ledger {
            self.ledger.observe(&self.sim);
            self.ledger.seal_frames(&self.sim);
            self.next_ledger = now + LEDGER_PERIOD;
        }
        Ok(())
    }

    /// Injects `payload` to `to` as the relay (scanned, counted, delivered without the tap).
    pub fn inject(&mut self, to: &str, payload: Vec<u8>) {
        self.tap.borrow_mut().carried_bytes += payload.len() as u64;
        self.scanner
            .scan(&payload, || format!("a message the relay injected to {to}"));
        self.sim.deliver_one(InFlight {
            from: "relay".into(),
            to: to.into(),
            payload,
        });
    }

    /// Mounts (or with `None` removes) an attack on control messages.
    pub fn set_mutate(&mut self, mutate: Option<Mutate>) {
        self.tap.borrow_mut().mutate = mutate;
    }

    /// Partitions the meeting (`side` against everyone else), or heals it with `None`.
    pub fn set_partition(&mut self, side: Option<BTreeSet<String>>) {
        self.tap.borrow_mut().partition = side;
    }

    /// Mounts (or with `None` removes) an attack on every frame the relay forwards.
    pub fn set_frame_attack(&mut self, attack: Option<FrameAttack>) {
        self.frame_attack = attack;
    }

    /// Starts recording every control message the relay drops (for `take_drops`).
    pub fn record_drops(&mut self) {
        self.tap.borrow_mut().drops = Some(Vec::new());
    }

    /// The drops recorded since the last call (all of them at the current virtual time: the
    /// simulated relay delivers without delay).
    pub fn take_drops(&mut self) -> Vec<Dropped> {
        self.tap
            .borrow_mut()
            .drops
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The earliest timer deadline of the running participants, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.sim
            .participants
            .iter()
            .filter(|(id, _)| !self.paused.contains(*id))
            .filter_map(|(_, m)| m.poll_timeout())
            .min()
    }

    /// The distinct control messages the relay carried so far, in order.
    pub fn control_log(&self) -> Ref<'_, Vec<InFlight>> {
        Ref::map(self.tap.borrow(), |t| &t.log)
    }

    /// The confidentiality ledger, observed every `LEDGER_PERIOD` of the run.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Control messages the relay received so far (every copy).
    pub fn carried_messages(&self) -> u64 {
        self.tap.borrow().carried
    }

    /// Whether every active, running participant agrees on epoch and code.
    pub fn converged(&self) -> Option<u64> {
        self.sim.converged()
    }

    /// The leader among the running participants.
    pub fn leader(&self) -> Option<String> {
        self.sim
            .participants
            .iter()
            .filter(|(id, m)| m.is_leader() && !self.paused.contains(*id))
            .map(|(id, _)| id.clone())
            .next()
    }

    /// Active, running participants.
    pub fn active(&self) -> Vec<String> {
        self.sim
            .participants
            .iter()
            .filter(|(id, m)| m.is_active() && !self.paused.contains(*id))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn rejoin_ended(&mut self) -> Result<(), CliError> {
        let ended: Vec<String> = self
            .sim
            .participants
            .iter()
            .filter(|(id, m)| {
                m.is_ended() && !self.leavers.contains(*id) && !self.paused.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            self.join(&id, "rejoins with the same identity (as an app would)")?;
        }
        Ok(())
    }

    /// Whether everyone who should be in the meeting is in it and they agree.
    pub fn settled_down(&self) -> bool {
        let pending = self.sim.participants.iter().any(|(id, m)| {
            !m.is_active() && !self.leavers.contains(id) && !self.paused.contains(id)
        });
        !pending && self.converged().is_some()
    }
}
