//! The participant's driver: owns the sans-IO [`Meeting`], the Janus session and the
//! PeerConnections, in one thread fed by a channel (Janus events, ICE candidates, TextRoom
//! messages), like `conclave join` drives the engine over its TCP relay. `CONCLAVE_SFU_TRACE=1`
//! logs every Janus event (debugging).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conclave_core::IdentityKey;
use conclave_core::meeting::{Event, Meeting, MeetingConfig};
use getrandom::SysRng;
use rand_core::UnwrapErr;
use serde_json::{Value, json};

use crate::control::{self, Control, ROOM};
use crate::error::MediaError;
use crate::janus::Janus;
use crate::media::MediaCrypto;
use crate::peer::Peer;
use crate::stats::SharedStats;
use crate::{INPUT_QUEUE_LEN, Input, InputTx};

mod feeds;

/// Most VideoRoom feeds subscribed to at once; further publishers are ignored.
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Heartbeat interval of the test meetings (short: the meeting lasts ~20 s).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Arguments of `conclave-media join`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// Janus's HTTP API address (loopback only), for example 127.0.0.1:8088.
    #[arg(long, value_parser = crate::parse_janus)]
    pub janus: SocketAddr,
    /// Participant id (also the TextRoom user name and VideoRoom display name).
    #[arg(long)]
    pub name: String,
    /// Create the meeting instead of joining it.
    #[arg(long)]
    pub create: bool,
    /// Meeting id (16 to 64 bytes).
    #[arg(long, default_value = "conclave-janus-meeting")]
    pub meeting: String,
    /// Leave the meeting after this many seconds (keeps receiving media until --duration, to
    /// show that it cannot decrypt what is sealed after its removal).
    #[arg(long, value_name = "SECS")]
    pub leave_at: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub duration: f64,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// TEST ONLY, NEVER IN PRODUCTION: append every epoch's frame secret (hex) to this file, so
    /// that a test can decrypt Janus's recording afterwards. Whoever reads it reads the meeting.
    #[arg(long, value_name = "FILE")]
    pub export_frame_keys_for_test: Option<PathBuf>,
    /// TEST ONLY: append the SHA-256 of every clear video frame sealed to this file.
    #[arg(long, value_name = "FILE")]
    pub log_clear_frames: Option<PathBuf>,
    /// TEST ONLY: tamper with every n-th video frame after sealing (as a tampering SFU would).
    #[arg(long, value_name = "N")]
    pub tamper_every_for_test: Option<u64>,
}

struct Sub {
    handle: u64,
    display: String,
    peer: Option<Peer>,
}

struct Session {
    args: JoinArgs,
    meeting: Meeting,
    rng: UnwrapErr<SysRng>,
    origin: Instant,
    janus: Janus,
    tx: InputTx,
    control_queued: Arc<AtomicUsize>,
    crypto: MediaCrypto,
    control_handle: u64,
    control_peer: Peer,
    channel: Option<gst_webrtc::WebRTCDataChannel>,
    control_ready: bool,
    seq: u64,
    pub_handle: u64,
    pub_peer: Option<Peer>,
    own_feed: Option<u64>,
    subs: BTreeMap<u64, Sub>,
    joined_epoch: Option<u64>,
    left_epoch: Option<u64>,
    codes: BTreeMap<u64, String>,
    leaves: BTreeMap<u32, String>,
    key_export: Option<std::fs::File>,
}

/// Runs one participant for `args.duration` seconds.
pub fn run(args: &JoinArgs) -> Result<(), MediaError> {
    let janus = Janus::connect(args.janus)?;
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE_LEN);
    spawn_poller(janus.clone(), tx.clone());
    let mut rng = UnwrapErr(SysRng);
    let identity = IdentityKey::generate(&mut rng);
    let config = MeetingConfig {
        heartbeat_interval: HEARTBEAT,
        ..MeetingConfig::default()
    };
    let origin = Instant::now();
    let id = args.meeting.as_bytes();
    let meeting = if args.create {
        Meeting::create(config, id, &args.name, identity, origin.elapsed(), &mut rng)
    } else {
        Meeting::join(config, id, &args.name, identity, origin.elapsed(), &mut rng)
    }
    .map_err(|e| MediaError::Meeting(e.to_string()))?;
    let clear_log = match &args.log_clear_frames {
        Some(p) => Some(Arc::new(Mutex::new(open_append(p)?))),
        None => None,
    };
    let crypto = MediaCrypto {
        frames: meeting.frame_crypto(),
        origin,
        stats: SharedStats::default(),
        clear_log,
        tamper_every: args.tamper_every_for_test,
    };
    let control_handle = janus.attach("janus.plugin.textroom")?;
    let control_peer = Peer::new("control", control_handle, tx.clone())?;
    control_peer.play(&args.name, None)?;
    janus.message(control_handle, json!({"request": "setup"}), None)?;
    let pub_handle = janus.attach("janus.plugin.videoroom")?;
    janus.message(
        pub_handle,
        json!({"request": "join", "ptype": "publisher", "room": ROOM, "display": args.name}),
        None,
    )?;
    let key_export = match &args.export_frame_keys_for_test {
        Some(p) => Some(open_append(p)?),
        None => None,
    };
    let mut s = Session {
        args: args.clone(),
        meeting,
        rng,
        origin,
        janus,
        tx,
        control_queued: Arc::new(AtomicUsize::new(0)),
        crypto,
        control_handle,
        control_peer,
        channel: None,
        control_ready: false,
        seq: 0,
        pub_handle,
        pub_peer: None,
        own_feed: None,
        subs: BTreeMap::new(),
        joined_epoch: None,
        left_epoch: None,
        codes: BTreeMap::new(),
        leaves: BTreeMap::new(),
        key_export,
    };
    let result = s.main_loop(&rx);
    s.shutdown();
    let report = s.report();
    println!("{report}");
    if let Some(p) = &args.report {
        std::fs::write(p, format!("{report}\n"))?;
    }
    result
}

/// Opens a test-only output file for appending, readable by its owner only (it may hold keys).
fn open_append(p: &PathBuf) -> Result<std::fs::File, MediaError> {
    use std::os::unix::fs::OpenOptionsExt;
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)?)
}

fn spawn_poller(janus: Janus, tx: InputTx) {
    let _ = thread::Builder::new()
        .name("janus-poll".into())
        .spawn(move || {
            loop {
                match janus.poll() {
                    Ok(events) => {
                        for e in events {
                            if tx.send(Input::Janus(e)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Input::JanusLost(e.to_string()));
                        return;
                    }
                }
            }
        });
}

fn log(name: &str, t: Duration, line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[{name} {:6.2}s] {line}", t.as_secs_f64());
}

impl Session {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn say(&self, line: &str) {
        log(&self.args.name, self.now(), line);
    }

    fn main_loop(&mut self, rx: &Receiver<Input>) -> Result<(), MediaError> {
        let end = Duration::from_secs_f64(self.args.duration.max(1.0));
        let leave_at = self.args.leave_at.map(Duration::from_secs_f64);
        loop {
            let now = self.now();
            if now >= end {
                return Ok(());
            }
            if let Some(t) = leave_at
                && now >= t
                && self.left_epoch.is_none()
            {
                self.leave();
            }
            if self.meeting.poll_timeout().is_some_and(|t| t <= now)
                && let Err(e) = self.meeting.handle_timeout(now, &mut self.rng)
            {
                self.say(&format!("! {e}"));
            }
            self.flush();
            self.process_events();
            let mut wake = end.min(now + Duration::from_millis(200));
            if let Some(t) = self.meeting.poll_timeout() {
                wake = wake.min(t);
            }
            match rx.recv_timeout(wake.saturating_sub(self.now())) {
                Ok(input) => self.handle(input)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), MediaError> {
        match input {
            Input::Janus(v) => self.janus_event(&v)?,
            Input::JanusLost(e) => return Err(MediaError::Pipeline(format!("lost Janus: {e}"))),
            Input::Candidate {
                handle,
                mline,
                candidate,
            } => {
                let _ = self.janus.trickle(handle, Some((mline, &candidate)));
            }
            Input::ControlOpen => {
                if let Some(c) = &self.channel {
                    let _ = c.send_string_full(Some(&control::join_request(&self.args.name)));
                }
            }
            Input::Control(text) => {
                self.control_queued.fetch_sub(text.len(), Ordering::AcqRel);
                self.control_message(&text);
            }
        }
        Ok(())
    }

    fn control_message(&mut self, text: &str) {
        let now = self.now();
        match control::parse(text) {
            Control::Joined => {
                self.say("control channel joined (TextRoom through Janus)");
                self.control_ready = true;
                self.flush();
            }
            Control::Envelope { from, envelope } => {
                if from == self.args.name {
                    return;
                }
                // Rejections are expected: broadcast messages meant for the leader, replays.
                let _ = self.meeting.handle_message(&envelope, now, &mut self.rng);
                self.flush();
            }
            Control::Left(who) => {
                let leader = self
                    .meeting
                    .participants()
                    .into_iter()
                    .find(|p| p.is_leader)
                    .map(|p| p.participant_id);
                if leader.as_deref() == Some(who.as_str()) {
                    self.meeting.leader_connection_closed(now, &mut self.rng);
                }
            }
            Control::Other => {}
        }
    }

    fn flush(&mut self) {
        if !self.control_ready {
            return;
        }
        while let Some(t) = self.meeting.poll_transmit() {
            self.seq = self.seq.wrapping_add(1);
            let req = control::send_request(&t.destination, &t.payload, self.seq);
            if let Some(c) = &self.channel {
                let _ = c.send_string_full(Some(&req));
            }
        }
    }

    fn leave(&mut self) {
        self.left_epoch = Some(self.meeting.epoch());
        let now = self.now();
        if let Err(e) = self.meeting.leave(now, &mut self.rng) {
            self.say(&format!("! cannot leave: {e}"));
        }
        self.flush();
        self.say("left the meeting; still subscribed to the others' media");
        if let Some(p) = self.pub_peer.take() {
            p.stop();
        }
        let _ = self
            .janus
            .message(self.pub_handle, json!({"request": "unpublish"}), None);
    }

    fn process_events(&mut self) {
        while let Some(e) = self.meeting.poll_event() {
            match e {
                Event::Joined { epoch, leaf } => {
                    self.joined_epoch.get_or_insert(epoch);
                    self.say(&format!(
                        "joined the meeting as leaf {leaf} in epoch {epoch}"
                    ));
                    self.export_keys();
                    if let Err(e) = self.maybe_publish() {
                        self.say(&format!("! cannot publish: {e}"));
                    }
                }
                Event::ParticipantAdded {
                    participant_id,
                    leaf,
                    ..
                } => {
                    self.leaves.insert(leaf, participant_id);
                }
                Event::EpochChanged {
                    epoch,
                    security_code,
                } => {
                    self.say(&format!("epoch {epoch} security code {security_code}"));
                    self.codes.insert(epoch, security_code);
                    self.export_keys();
                }
                Event::ParticipantRemoved { participant_id, .. } => {
                    self.say(&format!("{participant_id} left"));
                }
                _ => {}
            }
        }
    }

    /// Test only (`--export-frame-keys-for-test`): writes the current epoch's frame secret.
    fn export_keys(&mut self) {
        let (Some(f), Some(s)) = (&mut self.key_export, self.meeting.epoch_secrets()) else {
            return;
        };
        let _ = writeln!(f, "{} {}", s.epoch, hex::encode(s.frame_secret.expose()));
    }

    fn shutdown(&mut self) {
        if let Some(p) = self.pub_peer.take() {
            p.stop();
        }
        let feeds: Vec<u64> = self.subs.keys().copied().collect();
        for f in feeds {
            self.unsubscribe(f);
        }
        self.control_peer.stop();
        let _ = self.janus.destroy();
    }

    fn report(&self) -> Value {
        let stats = self.crypto.stats.lock().to_json();
        let own_leaf = self.crypto.frames.own_sender();
        let mut leaves: BTreeMap<String, String> = self
            .leaves
            .iter()
            .map(|(l, n)| (l.to_string(), n.clone()))
            .collect();
        if let Some(l) = own_leaf {
            leaves.insert(l.to_string(), self.args.name.clone());
        }
        json!({
            "name": self.args.name,
            "feed": self.own_feed,
            "joined_epoch": self.joined_epoch,
            "left_epoch": self.left_epoch,
            "security_codes": self.codes.iter().map(|(e, c)| (e.to_string(), c.clone()))
                .collect::<BTreeMap<_, _>>(),
            "leaves": leaves,
            "media": stats,
        })
    }
}
