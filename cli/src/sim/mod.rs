//! `conclave simulate`: a whole meeting in one process, on virtual time, through an untrusted
//! relay.
//!
//! The control plane runs in [`conclave_core::sim::Sim`] (real engines, real cryptography, a
//! deterministic random source seeded from `--seed`). The relay's tap sees every control message
//! before delivery: it logs it, applies `--loss`, and mounts attacks. Media frames are encrypted
//! with each participant's own `FrameCrypto` (installed by its engine) and relayed here to every
//! other member. Every key and secret any participant holds is collected as the run goes, and
//! every byte the relay carries is scanned for them and for the media plaintexts.

mod attack;
mod report;
mod round2;
mod scan;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::IdentityKey;
use conclave_core::frame::{FrameCrypto, FrameError, RejectionCounts};
use conclave_core::meeting::{Event, MeetingConfig, RemovalReason};
use conclave_core::sim::{InFlight, Ledger, Sim, TapAction};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub use attack::AttackKind;
use attack::AttackState;
use report::{Detection, Report, TimelineEntry};
use scan::Scanner;

use crate::CliError;
use crate::join::meeting_config;

/// Frame stream of audio.
pub const AUDIO_STREAM: u32 = 0;
/// Frame stream of video.
pub const VIDEO_STREAM: u32 = 1;
/// Audio frames per second.
pub const AUDIO_FPS: u64 = 50;
/// Audio frame size (bytes of plaintext).
pub const AUDIO_BYTES: usize = 100;
/// Video frames (packets) per second.
pub const VIDEO_FPS: u64 = 30;
/// Video packet size (bytes of plaintext).
pub const VIDEO_BYTES: usize = 1200;
/// Virtual time step.
const STEP: Duration = Duration::from_millis(10);
/// Time between the initial joins.
const JOIN_SPACING: Duration = Duration::from_millis(250);
/// Virtual time between two observations of the confidentiality ledger.
const LEDGER_PERIOD: Duration = Duration::from_secs(1);
/// The meeting id of the simulation.
pub const MEETING_ID: &[u8] = b"conclave-simulated-meeting-0001";

const NAMES: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken",
    "lena", "mike", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent",
];

/// The name of participant `i`.
pub fn name(i: usize) -> String {
    NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("p{i:02}"))
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.5..=600.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.5 and 600 seconds".into())
    }
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=50.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 50 percent".into())
    }
}

/// Arguments of `conclave simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Participants in the meeting at its largest (2 to 64).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(2..=64))]
    pub participants: u32,
    /// Virtual seconds of the main media phase (0.5 to 600). Joins, the failover and an attack
    /// add their own virtual time.
    #[arg(long, value_name = "SECS", default_value_t = 20.0, value_parser = parse_duration)]
    pub duration: f64,
    /// Percentage of control messages and of media frames the relay drops (0 to 50). Lost
    /// control messages are retried by the engines (announcements, resync).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_loss)]
    pub loss: f64,
    /// Seed of every random choice (keys included): the same seed gives the same run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Have the relay mount an attack in the middle of the meeting, and show its detection.
    #[arg(long, value_name = "KIND", value_enum)]
    pub attack: Option<AttackKind>,
    /// Print the report as JSON (no timeline text, no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Interval between the leader's heartbeats in virtual milliseconds (the protocol default
    /// is 10,000; failover happens after 3 missed heartbeats).
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub heartbeat_ms: u64,
}

/// What the relay's tap shares with the runner.
pub(crate) struct TapState {
    /// Distinct control messages carried (first copy of each payload).
    pub log: Vec<InFlight>,
    seen: HashSet<u64>,
    /// Control messages the relay received (every copy).
    pub carried: u64,
    /// Their bytes.
    pub carried_bytes: u64,
    /// Dropped by loss or partition.
    pub dropped: u64,
    loss_ppm: u32,
    rng: ChaCha20Rng,
    /// Split view: the members on side A; messages between the sides are dropped.
    pub partition: Option<BTreeSet<String>>,
    /// An attack on control messages, applied after the log.
    #[allow(clippy::type_complexity)]
    pub mutate: Option<Box<dyn FnMut(&mut InFlight) -> TapAction>>,
}

fn payload_hash(p: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

impl TapState {
    fn on_message(&mut self, m: &mut InFlight) -> TapAction {
        self.carried += 1;
        self.carried_bytes += m.payload.len() as u64;
        if self.seen.insert(payload_hash(&m.payload)) {
            self.log.push(m.clone());
        }
        if let Some(side) = &self.partition
            && side.contains(&m.from) != side.contains(&m.to)
            && m.from != "relay"
        {
            self.dropped += 1;
            return TapAction::Drop;
        }
        if self.loss_ppm > 0 && self.rng.next_u32() % 1_000_000 < self.loss_ppm {
            self.dropped += 1;
            return TapAction::Drop;
        }
        let action = match self.mutate.as_mut() {
            Some(f) => f(m),
            None => TapAction::Deliver,
        };
        if let TapAction::DeliverWith(more) = &action {
            for x in more {
                if self.seen.insert(payload_hash(&x.payload)) {
                    self.log.push(x.clone());
                }
            }
        }
        if self.seen.insert(payload_hash(&m.payload)) {
            self.log.push(m.clone());
        }
        action
    }
}

struct MediaState {
    crypto: Arc<FrameCrypto>,
    next_audio: Duration,
    next_video: Duration,
    audio_n: u64,
    video_n: u64,
}

/// What the frame relay counted.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FrameTally {
    /// Audio frames encrypted and handed to the relay.
    pub audio_sent: u64,
    /// Video frames encrypted and handed to the relay.
    pub video_sent: u64,
    /// Bytes of encrypted frames handed to the relay.
    pub bytes_sent: u64,
    /// Copies the relay forwarded to receivers.
    pub forwarded: u64,
    /// Copies the relay dropped (loss or partition).
    pub dropped: u64,
    /// Forged or replayed copies the relay added (attacks).
    pub injected: u64,
    /// Decrypted frames whose plaintext differed from what was sent (must be 0).
    pub plaintext_mismatches: u64,
    /// Frames a receiver rejected as too old because they were sealed in the epoch before it
    /// joined (senders switch epochs up to `SWITCH_DELAY` after a commit; joiners never get
    /// earlier keys).
    pub before_join: u64,
}

/// A frame attack active in a window of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameAttack {
    Tamper,
    Replay,
    Relabel,
}

/// One control-message rejection, as the report shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectionRecord {
    /// Virtual time (seconds since the meeting was created).
    pub t: f64,
    /// Who rejected it.
    pub at: String,
    /// Who sent it by the relay's account (`relay` for injected messages).
    pub from: String,
    /// The error's type (the `MeetingError` variant).
    pub kind: String,
    /// The error message.
    pub error: String,
}

/// Per-epoch security codes as the participants reported them.
#[derive(Debug, Default, Clone)]
pub(crate) struct EpochRecord {
    pub first_seen: f64,
    pub codes: BTreeMap<String, BTreeSet<String>>,
}

/// How the report names an error kind: the kind's stable snake_case name in UpperCamelCase
/// (`bad_signature` is shown as `BadSignature`, the spelling of the error's variant).
pub fn kind_name(kind: &str) -> String {
    kind.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Main,
    Failover { crashed_at: Duration },
    CoolDown { since: Duration },
}

/// The simulation and everything observed about it.
pub(crate) struct Runner {
    pub sim: Sim<ChaCha20Rng>,
    pub rng: ChaCha20Rng,
    pub tap: Rc<RefCell<TapState>>,
    pub scanner: Scanner,
    harvested: HashSet<[u8; 32]>,
    pub keys: BTreeMap<String, [u8; 32]>,
    pub paused: BTreeSet<String>,
    leavers: BTreeSet<String>,
    media: BTreeMap<String, MediaState>,
    retired: Vec<Arc<FrameCrypto>>,
    pub timeline: Vec<TimelineEntry>,
    pub epochs: BTreeMap<u64, EpochRecord>,
    event_cursor: usize,
    rejection_cursor: usize,
    pub rejections: Vec<RejectionRecord>,
    pub frames: FrameTally,
    pub frame_attack: Option<FrameAttack>,
    /// The first frames of the run (sender, bytes), kept for replays.
    pub early_frames: Vec<(String, Vec<u8>)>,
    /// Frame rejections seen while a frame attack was active.
    pub frame_detections: Vec<Detection>,
    pub frame_detection_counts: BTreeMap<String, u64>,
    loss: f64,
    last_leader: Option<String>,
    generation: BTreeMap<String, u32>,
    removed_reported: HashSet<(String, u32)>,
    pub config: MeetingConfig,
    joined_at: BTreeMap<String, Duration>,
    start: Duration,
    media_on: bool,
    /// Frame secrets of every epoch seen (for the scanner self-test).
    pub last_frame_secret: Option<Vec<u8>>,
    /// The confidentiality ledger (FR-SEND, durable removal), observed every `LEDGER_PERIOD`.
    pub ledger: Ledger,
    next_ledger: Duration,
}

impl Runner {
    fn new(args: &SimulateArgs) -> Self {
        let config = meeting_config(Duration::from_millis(args.heartbeat_ms));
        let sim = Sim::new(
            MEETING_ID,
            config.clone(),
            ChaCha20Rng::seed_from_u64(args.seed),
        );
        let relay_seed = args.seed ^ 0x005e_ed0f_7e1a_u64;
        let tap = Rc::new(RefCell::new(TapState {
            log: Vec::new(),
            seen: HashSet::new(),
            carried: 0,
            carried_bytes: 0,
            dropped: 0,
            loss_ppm: (args.loss * 10_000.0).round() as u32,
            rng: ChaCha20Rng::seed_from_u64(relay_seed.wrapping_add(1)),
            partition: None,
            mutate: None,
        }));
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
            loss: args.loss / 100.0,
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
        if args.attack == Some(AttackKind::RelayMember) {
            round2::allow_invitees(&mut r, args.participants as usize + 1);
        }
        r
    }

    /// Seconds since the meeting was created.
    pub fn t(&self) -> f64 {
        self.sim.now.saturating_sub(self.start).as_secs_f64()
    }

    pub fn note(&mut self, kind: &'static str, text: impl Into<String>) {
        let t = self.t();
        self.timeline.push(TimelineEntry {
            t,
            kind,
            text: text.into(),
            epoch: None,
        });
    }

    fn new_identity(&mut self, id: &str) -> IdentityKey {
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

    fn create(&mut self, id: &str) -> Result<(), CliError> {
        let k = self.new_identity(id);
        *self.generation.entry(id.to_string()).or_default() += 1;
        self.sim
            .create_with(id, k)
            .map_err(|e| CliError::failed(format!("cannot create the meeting: {e}")))?;
        self.note("create", format!("{id} creates the meeting and leads it"));
        self.settle();
        Ok(())
    }

    fn join(&mut self, id: &str, why: &str) -> Result<(), CliError> {
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

    fn leave(&mut self, id: &str) {
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

    fn harvest(&mut self) {
        let Self {
            sim,
            scanner,
            harvested,
            last_frame_secret,
            ..
        } = self;
        for m in sim.participants.values() {
            let Some(e) = m.epoch_secrets() else {
                continue;
            };
            if !harvested.insert(*e.epoch_secret.expose()) {
                continue;
            }
            let epoch = e.epoch;
            scanner.add(
                "epoch secrets",
                || format!("epoch {epoch} epoch_secret"),
                e.epoch_secret.expose(),
            );
            scanner.add(
                "frame secrets",
                || format!("epoch {epoch} frame_secret"),
                e.frame_secret.expose(),
            );
            *last_frame_secret = Some(e.frame_secret.expose().to_vec());
            scanner.add(
                "security codes",
                || format!("epoch {epoch} security code"),
                e.security_code.as_bytes(),
            );
            for p in m.participants() {
                for stream in [AUDIO_STREAM, VIDEO_STREAM] {
                    let k = e.sender_keys(p.leaf, stream);
                    let leaf = p.leaf;
                    scanner.add(
                        "frame keys",
                        || format!("epoch {epoch} frame key of leaf {leaf} stream {stream}"),
                        k.key.expose(),
                    );
                    scanner.add(
                        "frame salts",
                        || format!("epoch {epoch} frame salt of leaf {leaf} stream {stream}"),
                        k.salt.expose(),
                    );
                }
            }
        }
    }

    fn collect_rejections(&mut self) {
        let t = self.t();
        let new: Vec<RejectionRecord> = self.sim.rejections[self.rejection_cursor..]
            .iter()
            .map(|r| RejectionRecord {
                t,
                at: r.at.clone(),
                from: r.from.clone(),
                kind: kind_name(r.error.kind().as_str()),
                error: r.error.to_string(),
            })
            .collect();
        self.rejection_cursor = self.sim.rejections.len();
        if let Some(first) = new.first() {
            let text = if new.len() == 1 {
                format!(
                    "{} rejected a control message from {}: {} [{}]",
                    first.at, first.from, first.error, first.kind
                )
            } else {
                let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
                for x in &new {
                    *kinds.entry(x.kind.as_str()).or_default() += 1;
                }
                let kinds: Vec<String> = kinds.iter().map(|(k, v)| format!("{v} {k}")).collect();
                format!(
                    "{} control messages rejected ({}), e.g. {} rejected one from {}: {}",
                    new.len(),
                    kinds.join(", "),
                    first.at,
                    first.from,
                    first.error
                )
            };
            self.note("rejected", text);
        }
        self.rejections.extend(new);
    }

    fn collect_events(&mut self) {
        let t = self.t();
        let new: Vec<(String, Event)> = self.sim.events[self.event_cursor..].to_vec();
        self.event_cursor = self.sim.events.len();
        let mut missed: BTreeMap<(String, u32), usize> = BTreeMap::new();
        let mut paused: BTreeMap<String, usize> = BTreeMap::new();
        let mut resumed: BTreeMap<u64, usize> = BTreeMap::new();
        let mut resync: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, e) in new {
            match e {
                Event::Joined { epoch, leaf } => {
                    self.joined_at.insert(id.clone(), self.sim.now);
                    self.note(
                        "joined",
                        format!("{id} is in the meeting: leaf {leaf}, epoch {epoch}"),
                    );
                }
                Event::EpochChanged {
                    epoch,
                    security_code,
                } => {
                    let first = !self.epochs.contains_key(&epoch);
                    let rec = self.epochs.entry(epoch).or_insert_with(|| EpochRecord {
                        first_seen: t,
                        codes: BTreeMap::new(),
                    });
                    rec.codes.entry(security_code).or_default().insert(id);
                    if first {
                        self.timeline.push(TimelineEntry {
                            t,
                            kind: "epoch",
                            text: String::new(),
                            epoch: Some(epoch),
                        });
                    }
                }
                Event::LeaderChanged { participant_id, .. }
                    if self.last_leader.as_deref() != Some(participant_id.as_str()) =>
                {
                    self.note("leader", format!("{participant_id} is now the leader"));
                    self.last_leader = Some(participant_id);
                }
                Event::ParticipantRemoved {
                    participant_id,
                    reason,
                } => {
                    let g = self.generation.get(&participant_id).copied().unwrap_or(0);
                    if self.removed_reported.insert((participant_id.clone(), g)) {
                        let why = crate::join::removal_words(reason);
                        self.note(
                            "removed",
                            format!("{participant_id} is out of the roster: {why}"),
                        );
                    }
                }
                Event::HeartbeatMissed { leader, missed: n } => {
                    *missed.entry((leader, n)).or_default() += 1;
                }
                Event::SendingPaused { reason } => *paused.entry(reason).or_default() += 1,
                Event::SendingResumed { epoch } => *resumed.entry(epoch).or_default() += 1,
                Event::ResyncNeeded { reason } => {
                    resync.entry(reason).or_default().insert(id);
                }
                Event::Ended { reason } if reason != RemovalReason::Left => {
                    self.note("ended", format!("{id}'s meeting ended: {reason:?}"));
                }
                _ => {}
            }
        }
        for ((leader, n), count) in missed {
            self.note(
                "heartbeat",
                format!(
                    "{count} member{} missed {leader}'s heartbeat ({n} interval{})",
                    plural(count),
                    plural(n as usize)
                ),
            );
        }
        for (reason, count) in paused {
            self.note(
                "paused",
                format!(
                    "{count} member{} stop sending media: {reason}",
                    plural(count)
                ),
            );
        }
        for (epoch, count) in resumed {
            self.note(
                "resumed",
                format!(
                    "{count} member{} resume sending in epoch {epoch}",
                    plural(count)
                ),
            );
        }
        for (reason, who) in resync {
            let who: Vec<String> = who.into_iter().collect();
            self.note(
                "resync",
                format!("{} request a resync: {reason}", who.join(", ")),
            );
        }
    }

    /// Participants that receive media: active, not crashed.
    fn receivers(&self) -> Vec<String> {
        self.sim
            .participants
            .iter()
            .filter(|(id, m)| m.is_active() && !self.paused.contains(*id))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn media_step(&mut self) {
        let now = self.sim.now;
        let receivers = self.receivers();
        let crypto: BTreeMap<String, Arc<FrameCrypto>> = receivers
            .iter()
            .map(|id| (id.clone(), self.sim.participants[id].frame_crypto()))
            .collect();
        for id in &receivers {
            let m = &self.sim.participants[id];
            let fc = m.frame_crypto();
            let can_send = m.can_send();
            let fresh = self
                .media
                .get(id)
                .is_none_or(|s| !Arc::ptr_eq(&s.crypto, &fc));
            if fresh {
                let phase_a = Duration::from_micros(u64::from(self.rng.next_u32() % 20_000));
                let phase_v = Duration::from_micros(u64::from(self.rng.next_u32() % 33_333));
                if let Some(old) = self.media.insert(
                    id.clone(),
                    MediaState {
                        crypto: Arc::clone(&fc),
                        next_audio: now + phase_a,
                        next_video: now + phase_v,
                        audio_n: 0,
                        video_n: 0,
                    },
                ) {
                    self.retired.push(old.crypto);
                }
            }
            let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
            if let Some(st) = self.media.get_mut(id) {
                // No catching up after a pause of the simulated media.
                let late = now.saturating_sub(STEP * 10);
                st.next_audio = st.next_audio.max(late);
                st.next_video = st.next_video.max(late);
                while st.next_audio <= now {
                    st.next_audio += Duration::from_micros(1_000_000 / AUDIO_FPS);
                    if can_send {
                        out.push((AUDIO_STREAM, payload("audio", id, st.audio_n, AUDIO_BYTES)));
                        st.audio_n += 1;
                    }
                }
                while st.next_video <= now {
                    st.next_video += Duration::from_micros(1_000_000 / VIDEO_FPS);
                    if can_send {
                        out.push((VIDEO_STREAM, payload("video", id, st.video_n, VIDEO_BYTES)));
                        st.video_n += 1;
                    }
                }
            }
            for (stream, plaintext) in out {
                let Ok(frame) = fc.encrypt(stream, &plaintext, 1) else {
                    continue;
                };
                if stream == AUDIO_STREAM {
                    self.frames.audio_sent += 1;
                } else {
                    self.frames.video_sent += 1;
                }
                self.frames.bytes_sent += frame.len() as u64;
                let from = id.clone();
                self.scanner
                    .scan(&frame, || format!("a media frame from {from}"));
                if self.early_frames.len() < 32 {
                    self.early_frames.push((id.clone(), frame.clone()));
                }
                for to in &receivers {
                    if to == id {
                        continue;
                    }
                    self.relay_frame(id, to, &crypto[to], &frame, &plaintext);
                }
            }
        }
    }

    fn blocked(&mut self, from: &str, to: &str) -> bool {
        let partitioned = self
            .tap
            .borrow()
            .partition
            .as_ref()
            .is_some_and(|side| side.contains(from) != side.contains(to));
        partitioned
            || (self.loss > 0.0 && self.rng.next_u32() % 1_000_000 < (self.loss * 1e6) as u32)
    }

    fn relay_frame(
        &mut self,
        from: &str,
        to: &str,
        receiver: &FrameCrypto,
        frame: &[u8],
        plaintext: &[u8],
    ) {
        if self.blocked(from, to) {
            self.frames.dropped += 1;
            return;
        }
        let now = self.sim.now;
        if let Some(kind) = self.frame_attack {
            let forged = attack::forge_frame(self, kind, to, frame);
            for f in forged {
                self.frames.injected += 1;
                if let Err(e) = receiver.decrypt(&f, now) {
                    self.record_frame_rejection(to, from, &e);
                }
            }
        }
        self.frames.forwarded += 1;
        match receiver.decrypt(frame, now) {
            Ok(d) => {
                if d.plaintext != plaintext {
                    self.frames.plaintext_mismatches += 1;
                }
            }
            Err(e) => {
                let just_joined = self
                    .joined_at
                    .get(to)
                    .is_some_and(|j| now.saturating_sub(*j) <= self.config.switch_delay + STEP);
                if matches!(e, FrameError::TooOld { .. }) && just_joined {
                    self.frames.before_join += 1;
                }
            }
        }
        if self.frame_attack == Some(FrameAttack::Replay) {
            self.frames.injected += 1;
            if let Err(e) = receiver.decrypt(frame, now) {
                self.record_frame_rejection(to, from, &e);
            }
        }
    }

    pub fn record_frame_rejection(&mut self, at: &str, from: &str, e: &FrameError) {
        let kind = kind_name(e.kind().as_str());
        let n = self.frame_detection_counts.entry(kind.clone()).or_default();
        *n += 1;
        if *n <= 3 {
            self.frame_detections.push(Detection {
                t: self.t(),
                at: at.to_string(),
                from: from.to_string(),
                what: "frame".into(),
                kind,
                error: e.to_string(),
            });
        }
    }

    /// Frame counters over every `FrameCrypto` of the run.
    pub fn frame_diagnostics(&self) -> (u64, RejectionCounts) {
        let mut decrypted = 0;
        let mut r = RejectionCounts::default();
        let mut add = |c: &RejectionCounts| {
            r.tampered += c.tampered;
            r.replayed += c.replayed;
            r.too_old += c.too_old;
            r.unknown_epoch += c.unknown_epoch;
            r.malformed += c.malformed;
            r.own_frame += c.own_frame;
            r.stream_limit += c.stream_limit;
        };
        let mut all: Vec<Arc<FrameCrypto>> = self.retired.clone();
        all.extend(self.media.values().map(|m| Arc::clone(&m.crypto)));
        for m in self.sim.participants.values() {
            let fc = m.frame_crypto();
            if !all.iter().any(|x| Arc::ptr_eq(x, &fc)) {
                all.push(fc);
            }
        }
        let mut seen: Vec<Arc<FrameCrypto>> = Vec::new();
        for fc in all {
            if seen.iter().any(|x| Arc::ptr_eq(x, &fc)) {
                continue;
            }
            for s in fc.diagnostics() {
                decrypted += s.decrypted;
                add(&s.rejected);
            }
            add(&fc.unattributed_rejections());
            seen.push(fc);
        }
        (decrypted, r)
    }

    /// Whether every active, running participant agrees on epoch and code.
    pub fn converged(&self) -> Option<u64> {
        self.sim.converged()
    }

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
        self.receivers()
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
    fn settled_down(&self) -> bool {
        let pending = self.sim.participants.iter().any(|(id, m)| {
            !m.is_active() && !self.leavers.contains(id) && !self.paused.contains(id)
        });
        !pending && self.converged().is_some()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A recognisable plaintext: `conclave-<kind>-<sender>-<n>|` repeated after a 1-byte clear
/// prefix, cut to `len` bytes.
pub fn payload(kind: &str, sender: &str, n: u64, len: usize) -> Vec<u8> {
    let unit = format!("conclave-{kind}-{sender}-{n}|");
    let mut p = Vec::with_capacity(len);
    p.push(0x90);
    while p.len() < len {
        p.extend_from_slice(unit.as_bytes());
    }
    p.truncate(len);
    p
}

fn cpu_time() -> Option<f64> {
    // utime and stime (fields 14 and 15) of /proc/self/stat, in clock ticks of 1/100 s.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs `conclave simulate`.
pub fn run(args: &SimulateArgs) -> Result<(), CliError> {
    let wall = Instant::now();
    let cpu0 = cpu_time();
    let mut r = Runner::new(args);
    let report = r.scenario(args, wall)?;
    let report = report.finish(
        args,
        wall.elapsed(),
        cpu_time().zip(cpu0).map(|(b, a)| b - a),
    );
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::failed(format!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", report.render());
    }
    if report.leak_check.plaintext_leaks > 0 || report.leak_check.secret_leaks > 0 {
        return Err(CliError::failed(
            "the relay carried a secret or a plaintext (see the report)",
        ));
    }
    if !report.leak_check.ledger_violations.is_empty() {
        return Err(CliError::failed(
            "the confidentiality ledger found a violation (see the report)",
        ));
    }
    if let Some(a) = &report.attack
        && !a.detected
    {
        return Err(CliError::failed(format!(
            "the {} attack was not detected",
            a.kind
        )));
    }
    Ok(())
}

impl Runner {
    fn scenario(&mut self, args: &SimulateArgs, wall: Instant) -> Result<Report, CliError> {
        let n = args.participants as usize;
        let hb = self.config.heartbeat_interval;
        let limit = self.config.missed_heartbeats_limit;
        let start = self.sim.now;
        let duration = Duration::from_secs_f64(args.duration);
        let steady_start = start + JOIN_SPACING * n as u32 + Duration::from_secs(1);
        let steady_end = steady_start + duration;
        let leaver = name(n / 2);
        let newcomer = name(n);
        let mut schedule: Vec<(Duration, Step)> = Vec::new();
        for i in 1..n {
            schedule.push((start + JOIN_SPACING * i as u32, Step::Join(name(i))));
        }
        schedule.push((steady_start + duration.mul_f64(0.2), Step::Leave(leaver)));
        schedule.push((steady_start + duration.mul_f64(0.35), Step::Join(newcomer)));
        schedule.push((steady_start + duration.mul_f64(0.8), Step::Rotate));
        let mut attack = args
            .attack
            .map(|k| AttackState::new(k, steady_start + duration.mul_f64(0.5)));
        let failover_budget = hb * (limit + 4);
        let estimate = steady_end + failover_budget + Duration::from_secs(3) - start;
        let bar = progress_bar(args.json, estimate);

        self.create(&name(0))?;
        let mut phase = Phase::Main;
        let mut failover_done: Option<Duration> = None;
        let mut crashed = String::new();
        let hard_end = steady_end + failover_budget * 4 + hb * 20 + Duration::from_secs(600);
        loop {
            let now = self.sim.now + STEP;
            self.sim.now = now;
            while let Some(pos) = schedule.iter().position(|(t, _)| *t <= now) {
                let (_, step) = schedule.remove(pos);
                match step {
                    Step::Join(id) => self.join(&id, "asks to join (signed announcement)")?,
                    Step::Leave(id) => self.leave(&id),
                    Step::Rotate => {
                        if let Some(l) = self.leader() {
                            let _ = self.sim.act(&l, |m, now, _| m.rotate(now));
                            self.note(
                                "rotate",
                                format!("{l} (leader) rotates every key of the tree"),
                            );
                        }
                    }
                }
            }
            self.settle();
            if let Some(a) = attack.as_mut() {
                a.step(self)?;
            }
            if self.media_on {
                self.media_step();
            }
            self.rejoin_ended()?;
            if now >= self.next_ledger {
                self.ledger.observe(&self.sim);
                self.ledger.seal_frames(&self.sim);
                self.next_ledger = now + LEDGER_PERIOD;
            }
            match phase {
                Phase::Main => {
                    let attack_done = attack.as_ref().is_none_or(|a| a.done());
                    if now >= steady_end && attack_done && schedule.is_empty() {
                        match self.leader() {
                            Some(l) => {
                                crashed = l.clone();
                                self.sim.pause(&l);
                                self.paused.insert(l.clone());
                                self.note(
                                    "crash",
                                    format!(
                                        "{l} (leader) crashes: no more heartbeats; the others \
                                         wait {limit} heartbeat intervals of {:.1} s (media is \
                                         not simulated while they wait)",
                                        hb.as_secs_f64()
                                    ),
                                );
                                self.media_on = false;
                                phase = Phase::Failover { crashed_at: now };
                            }
                            None => {
                                phase = Phase::CoolDown { since: now };
                                self.media_on = false;
                            }
                        }
                    }
                }
                Phase::Failover { crashed_at } => {
                    if failover_done.is_none()
                        && self.leader().is_some_and(|l| l != crashed)
                        && self.settled_down()
                    {
                        failover_done = Some(now);
                        self.media_on = true;
                    }
                    let finished = failover_done.is_some_and(|d| now >= d + Duration::from_secs(2));
                    if finished || now >= crashed_at + failover_budget {
                        self.media_on = false;
                        phase = Phase::CoolDown { since: now };
                    }
                }
                Phase::CoolDown { since } => {
                    if self.settled_down() || now >= since + hb * 10 {
                        break;
                    }
                }
            }
            if now >= hard_end {
                break;
            }
            if let Some(b) = &bar {
                if wall.elapsed() > Duration::from_millis(1500) && b.is_hidden() {
                    b.set_draw_target(ProgressDrawTarget::stderr());
                }
                b.set_position((now - start).as_millis() as u64);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let attack_report = attack.map(|a| a.report(self));
        Ok(Report::new(self, attack_report))
    }
}

enum Step {
    Join(String),
    Leave(String),
    Rotate,
}

fn progress_bar(json: bool, estimate: Duration) -> Option<ProgressBar> {
    if json || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(
        Some(estimate.as_millis() as u64),
        ProgressDrawTarget::hidden(),
    );
    if let Ok(style) = ProgressStyle::with_template(
        "simulating {bar:40} {percent:>3}% of the virtual meeting, about {eta} left",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}
