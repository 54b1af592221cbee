//! `conclave join`: one participant of a real meeting, talking to `conclave relay` over TCP.
//!
//! The engine is sans-IO; this module is its driver: a monotonic clock (an [`Instant`] origin),
//! the OS random generator, a socket, stdin and Ctrl-C. Threads read the socket and stdin and
//! feed one channel; the main thread owns the [`Meeting`] and the socket's writing half.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use conclave_core::IdentityKey;
use conclave_core::frame::{FrameCrypto, FrameError};
use conclave_core::meeting::{
    Event, LIVENESS_ECHO_TIMEOUT, Meeting, MeetingConfig, RemovalReason, SWITCH_DELAY,
    check_meeting_id, check_participant_id,
};

use crate::CliError;
use crate::rng::{OsRng, os_rng};
use crate::transport::{Message, ReadError, read_message, write_message};

/// Frame stream id of synthetic media.
pub const MEDIA_STREAM: u32 = 0;
/// Frame stream id of text messages.
pub const TEXT_STREAM: u32 = 2;
/// Longest text message sent (bytes); longer lines are cut.
pub const MAX_TEXT: usize = 4000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `conclave join`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// Address of the relay (`conclave relay`), for example 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    pub relay: String,
    /// Your participant id in the meeting (1 to 64 bytes).
    #[arg(long)]
    pub name: String,
    /// Create the meeting (you become its first leader) instead of joining it.
    #[arg(long)]
    pub create: bool,
    /// Meeting id (16 to 64 bytes); everyone in a meeting uses the same one.
    #[arg(long, value_name = "ID", default_value = "conclave-demo-meeting")]
    pub meeting: String,
    /// Interval between the leader's heartbeats, in milliseconds. Failover happens after 3
    /// missed heartbeats and silent members are removed after 6 intervals. Everyone in a
    /// meeting should use the same value.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub heartbeat_ms: u64,
    /// Synthetic media frames sent per second (0 for none).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub media_fps: u32,
    /// Give up if not admitted within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub join_timeout: u64,
}

/// The meeting configuration for a heartbeat interval: the protocol defaults, with the
/// liveness timeout (3 intervals by default) and the switch-over delay scaled to it.
pub fn meeting_config(heartbeat: Duration) -> MeetingConfig {
    let default = MeetingConfig::default();
    let scale = |d: Duration| {
        let ratio = heartbeat.as_secs_f64() / default.heartbeat_interval.as_secs_f64();
        d.mul_f64(ratio)
    };
    MeetingConfig {
        heartbeat_interval: heartbeat,
        liveness_timeout: scale(LIVENESS_ECHO_TIMEOUT),
        switch_delay: scale(SWITCH_DELAY).min(SWITCH_DELAY),
        ..default
    }
}

enum Input {
    Net(Message),
    NetClosed(Option<String>),
    Line(String),
    Eof,
    Interrupt,
}

struct Session {
    meeting: Meeting,
    frames: Arc<FrameCrypto>,
    writer: TcpStream,
    rng: OsRng,
    origin: Instant,
    joined: bool,
    media_sent: u64,
    text_sent: u64,
    received: BTreeMap<String, u64>,
    rejected: BTreeMap<&'static str, u64>,
}

enum Flow {
    Continue,
    Leave,
}

/// Runs one participant until it leaves (Ok) or fails.
pub fn run(args: &JoinArgs) -> Result<(), CliError> {
    let meeting_id = args.meeting.as_bytes().to_vec();
    check_meeting_id(&meeting_id).map_err(|e| CliError::usage(format!("--meeting: {e}")))?;
    check_participant_id(&args.name).map_err(|e| CliError::usage(format!("--name: {e}")))?;
    let stream = connect(&args.relay)?;
    let reader = stream
        .try_clone()
        .map_err(|e| CliError::failed(format!("socket: {e}")))?;
    let mut writer = stream;
    let _ = writer.set_write_timeout(Some(Duration::from_secs(10)));
    write_message(
        &mut writer,
        &Message::Hello {
            meeting_id: meeting_id.clone(),
            participant_id: args.name.clone(),
        },
    )
    .map_err(|e| CliError::failed(format!("cannot talk to the relay at {}: {e}", args.relay)))?;

    let (tx, rx) = mpsc::channel();
    spawn_net_reader(reader, tx.clone());
    spawn_stdin_reader(tx.clone());
    let ctrlc_tx = tx.clone();
    ctrlc::set_handler(move || {
        let _ = ctrlc_tx.send(Input::Interrupt);
    })
    .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    drop(tx);

    let mut rng = os_rng();
    let identity = IdentityKey::generate(&mut rng);
    let fingerprint = identity.public().fingerprint_string();
    let config = meeting_config(Duration::from_millis(args.heartbeat_ms));
    let origin = Instant::now();
    let now = origin.elapsed();
    let meeting = if args.create {
        Meeting::create(config, &meeting_id, &args.name, identity, now, &mut rng)
    } else {
        Meeting::join(config, &meeting_id, &args.name, identity, now, &mut rng)
    }
    .map_err(|e| CliError::usage(format!("cannot start the meeting: {e}")))?;
    say(&format!(
        "{} meeting {} as {} (identity fingerprint {fingerprint})",
        if args.create { "creating" } else { "joining" },
        args.meeting,
        args.name
    ));
    let frames = meeting.frame_crypto();
    let mut s = Session {
        meeting,
        frames,
        writer,
        rng,
        origin,
        joined: false,
        media_sent: 0,
        text_sent: 0,
        received: BTreeMap::new(),
        rejected: BTreeMap::new(),
    };
    let result = s.main_loop(args, &rx);
    s.print_stats();
    result
}

fn connect(relay: &str) -> Result<TcpStream, CliError> {
    let addrs: Vec<SocketAddr> = relay
        .to_socket_addrs()
        .map_err(|e| CliError::usage(format!("bad relay address '{relay}': {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(CliError::usage(format!(
            "bad relay address '{relay}': it resolves to nothing"
        )));
    }
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    let why = last.map(|e| e.to_string()).unwrap_or_default();
    Err(CliError::failed(format!(
        "cannot reach the relay at {relay}: {why}"
    )))
}

fn spawn_net_reader(mut stream: TcpStream, tx: Sender<Input>) {
    let _ = thread::Builder::new()
        .name("net-reader".into())
        .spawn(move || {
            loop {
                match read_message(&mut stream) {
                    Ok(Some(m)) => {
                        if tx.send(Input::Net(m)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx.send(Input::NetClosed(None));
                        return;
                    }
                    Err(ReadError::Io(e)) => {
                        let _ = tx.send(Input::NetClosed(Some(e.to_string())));
                        return;
                    }
                    Err(ReadError::Invalid(why)) => {
                        let _ = tx.send(Input::NetClosed(Some(format!(
                            "it sent a message that breaks the framing ({why})"
                        ))));
                        return;
                    }
                }
            }
        });
}

fn spawn_stdin_reader(tx: Sender<Input>) {
    let _ = thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Input::Line(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Input::Eof);
        });
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn warn(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// How a removal reads in a sentence ("carol ...").
pub fn removal_words(reason: RemovalReason) -> &'static str {
    match reason {
        RemovalReason::Left => "left",
        RemovalReason::Removed => "was removed by the leader",
        RemovalReason::TimedOut => "timed out",
        RemovalReason::LeaderFailed => "failed as leader",
        _ => "left (it refuses the meeting's cipher suite)",
    }
}

fn frame_error_kind(e: &FrameError) -> &'static str {
    match e {
        FrameError::Tampered { .. } => "tampered",
        FrameError::Replayed { .. } => "replayed",
        FrameError::TooOld { .. } => "too old",
        FrameError::UnknownEpoch { .. } | FrameError::NoKeys => "unknown epoch",
        FrameError::OwnFrame { .. } => "own frame",
        _ => "malformed",
    }
}

/// Keeps printable characters of received text (no terminal escapes from other members).
fn clean_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Session {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn main_loop(&mut self, args: &JoinArgs, rx: &Receiver<Input>) -> Result<(), CliError> {
        let media_period =
            (args.media_fps > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(args.media_fps)));
        let mut next_media = self.now();
        let join_deadline = self.now() + Duration::from_secs(args.join_timeout);
        self.flush()?;
        self.process_events()?;
        loop {
            let now = self.now();
            if self.meeting.poll_timeout().is_some_and(|t| t <= now)
                && let Err(e) = self.meeting.handle_timeout(now, &mut self.rng)
            {
                warn(&format!("! {e}"));
            }
            if let Some(period) = media_period
                && now >= next_media
            {
                self.send_media();
                next_media = now + period;
            }
            if !self.joined && now >= join_deadline {
                return Err(CliError::ended(format!(
                    "not admitted within {} s: no leader answered. Is the meeting created (--create) \
                     with the same --meeting id, and is it unlocked? A leader also refuses a name \
                     already present or used before with another identity.",
                    args.join_timeout
                )));
            }
            self.flush()?;
            self.process_events()?;
            let mut wake = now + Duration::from_secs(1);
            if let Some(t) = self.meeting.poll_timeout() {
                wake = wake.min(t);
            }
            if media_period.is_some() {
                wake = wake.min(next_media);
            }
            if !self.joined {
                wake = wake.min(join_deadline);
            }
            let wait = wake.saturating_sub(self.now());
            let input = match rx.recv_timeout(wait) {
                Ok(i) => i,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Input::Eof,
            };
            match self.handle_input(input)? {
                Flow::Continue => {}
                Flow::Leave => return self.leave(rx),
            }
            self.flush()?;
            self.process_events()?;
        }
    }

    fn handle_input(&mut self, input: Input) -> Result<Flow, CliError> {
        let now = self.now();
        match input {
            Input::Net(Message::Deliver(envelope)) => {
                if let Err(e) = self.meeting.handle_message(&envelope, now, &mut self.rng) {
                    warn(&format!("! rejected a control message: {e}"));
                }
            }
            Input::Net(Message::Frame(frame)) => self.receive_frame(&frame, now),
            Input::Net(Message::Notice(text)) => {
                warn(&format!("relay: {}", clean_text(text.as_bytes())))
            }
            Input::Net(Message::Gone(id)) => {
                // VOTE-0: a hint only; the engine probes the leader before it acts on it.
                let leader = self
                    .meeting
                    .participants()
                    .into_iter()
                    .find(|p| p.is_leader)
                    .map(|p| p.participant_id);
                if leader.as_deref() == Some(id.as_str()) {
                    say(&format!(
                        "relay: the leader's connection closed; checking ({})",
                        clean_text(id.as_bytes())
                    ));
                    self.meeting.leader_connection_closed(now, &mut self.rng);
                }
            }
            Input::Net(_) => {}
            Input::NetClosed(why) => {
                let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                return Err(CliError::failed(format!(
                    "the relay closed the connection{why}"
                )));
            }
            Input::Line(line) => return self.command(line.trim_end()),
            Input::Eof | Input::Interrupt => return Ok(Flow::Leave),
        }
        Ok(Flow::Continue)
    }

    fn receive_frame(&mut self, frame: &[u8], now: Duration) {
        match self.frames.decrypt(frame, now) {
            Ok(d) => {
                let name = self.name_of(d.sender);
                if d.stream == TEXT_STREAM {
                    say(&format!("[{name}] {}", clean_text(&d.plaintext)));
                } else {
                    *self.received.entry(name).or_default() += 1;
                }
            }
            Err(e) => {
                let kind = frame_error_kind(&e);
                *self.rejected.entry(kind).or_default() += 1;
                if matches!(kind, "tampered" | "replayed" | "malformed") {
                    warn(&format!("! rejected a frame: {e}"));
                }
            }
        }
    }

    fn name_of(&self, leaf: u32) -> String {
        self.meeting
            .participants()
            .into_iter()
            .find(|p| p.leaf == leaf)
            .map(|p| p.participant_id)
            .unwrap_or_else(|| format!("leaf {leaf}"))
    }

    fn send_media(&mut self) {
        if !self.meeting.can_send() {
            return;
        }
        let mut payload = format!(
            "\u{90}synthetic media {} {}",
            self.meeting.participant_id(),
            self.media_sent
        )
        .into_bytes();
        payload.resize(100, b'.');
        if let Ok(f) = self.frames.encrypt(MEDIA_STREAM, &payload, 1)
            && write_message(&mut self.writer, &Message::Frame(f)).is_ok()
        {
            self.media_sent += 1;
        }
    }

    fn send_text(&mut self, text: &str) -> Result<(), CliError> {
        if !self.meeting.can_send() {
            warn("! not sent: not in the meeting yet, or sending is paused");
            return Ok(());
        }
        let mut bytes = text.as_bytes();
        if bytes.len() > MAX_TEXT {
            bytes = &bytes[..MAX_TEXT];
        }
        let frame = self
            .frames
            .encrypt(TEXT_STREAM, bytes, 0)
            .map_err(|e| CliError::failed(format!("cannot encrypt: {e}")))?;
        write_message(&mut self.writer, &Message::Frame(frame))
            .map_err(|e| CliError::failed(format!("lost the relay: {e}")))?;
        self.text_sent += 1;
        Ok(())
    }

    fn command(&mut self, line: &str) -> Result<Flow, CliError> {
        let now = self.now();
        let Some(cmd) = line.strip_prefix('/') else {
            if !line.is_empty() {
                self.send_text(line)?;
            }
            return Ok(Flow::Continue);
        };
        let (verb, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let arg = arg.trim();
        let result = match verb {
            "leave" | "quit" => return Ok(Flow::Leave),
            "who" => {
                for p in self.meeting.participants() {
                    say(&format!(
                        "  {}{} (leaf {}, identity {})",
                        p.participant_id,
                        if p.is_leader { " [leader]" } else { "" },
                        p.leaf,
                        p.fingerprint
                    ));
                }
                Ok(())
            }
            "code" => {
                match self.meeting.security_code() {
                    Some(c) => say(&format!("epoch {} security code {c}", self.meeting.epoch())),
                    None => say("no keys yet"),
                }
                Ok(())
            }
            "lock" => self.meeting.lock(true, now),
            "unlock" => self.meeting.lock(false, now),
            "rotate" => self.meeting.rotate(now),
            "remove" => self.meeting.remove(arg, now),
            "handover" => self.meeting.hand_over(arg, now),
            _ => {
                say(
                    "commands: /who /code /lock /unlock /rotate /remove NAME /handover NAME /leave",
                );
                Ok(())
            }
        };
        if let Err(e) = result {
            warn(&format!("! {e}"));
        }
        Ok(Flow::Continue)
    }

    fn flush(&mut self) -> Result<(), CliError> {
        while let Some(t) = self.meeting.poll_transmit() {
            write_message(
                &mut self.writer,
                &Message::Send {
                    destination: t.destination,
                    envelope: t.payload,
                },
            )
            .map_err(|e| CliError::failed(format!("lost the relay: {e}")))?;
        }
        Ok(())
    }

    fn members(&self) -> String {
        self.meeting
            .participants()
            .into_iter()
            .map(|p| p.participant_id)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn process_events(&mut self) -> Result<(), CliError> {
        while let Some(e) = self.meeting.poll_event() {
            match e {
                Event::Joined { epoch, leaf } => {
                    self.joined = true;
                    say(&format!(
                        "joined as leaf {leaf} in epoch {epoch}; type a line to send it to everyone, /help for commands"
                    ));
                }
                Event::ParticipantAdded {
                    participant_id,
                    fingerprint,
                    ..
                } => {
                    if participant_id != self.meeting.participant_id() {
                        say(&format!(
                            "+ {participant_id} joined (identity {fingerprint})"
                        ));
                    }
                }
                Event::ParticipantRemoved {
                    participant_id,
                    reason,
                } => {
                    say(&format!("- {participant_id} {}", removal_words(reason)));
                }
                Event::EpochChanged {
                    epoch,
                    security_code,
                } => say(&format!(
                    "epoch {epoch} security code {security_code} (members: {})",
                    self.members()
                )),
                Event::LeaderChanged { participant_id, .. } => {
                    say(&format!("leader is now {participant_id}"));
                }
                Event::LockChanged { locked } => say(if locked {
                    "the meeting is locked to new identities"
                } else {
                    "the meeting is unlocked"
                }),
                // A heartbeat in transit is "missed" for a moment at every interval; say so
                // only from the second interval on.
                Event::HeartbeatMissed { leader, missed } if missed >= 2 => {
                    warn(&format!(
                        "! no heartbeat from {leader} for {missed} intervals"
                    ));
                }
                Event::HeartbeatMissed { .. } => {}
                Event::ResyncNeeded { reason } => warn(&format!("! resync requested: {reason}")),
                Event::StaleView { since } => warn(&format!(
                    "! our liveness nonce has not been echoed for {:.1} s: our view may be stale",
                    since.as_secs_f64()
                )),
                Event::SendingPaused { reason } => warn(&format!("! sending paused: {reason}")),
                Event::SendingResumed { epoch } => {
                    warn(&format!("sending resumed in epoch {epoch}"));
                }
                Event::SuiteChanged {
                    suite,
                    post_quantum,
                } => say(&format!(
                    "the meeting uses cipher suite {suite}: key distribution is {}post-quantum",
                    if post_quantum { "" } else { "not " }
                )),
                Event::SuiteRefused { suite } => warn(&format!(
                    "! the meeting moved to cipher suite {suite}, which this participant refuses"
                )),
                Event::JoinRequested {
                    participant_id,
                    fingerprint,
                    ..
                } => say(&format!(
                    "? {participant_id} asks to join (identity {fingerprint})"
                )),
                Event::JoinRefused {
                    participant_id,
                    reason,
                } => warn(&format!("! refused {participant_id}: {reason}")),
                Event::SendEpoch { .. } => {}
                Event::Ended { reason } => {
                    return match reason {
                        RemovalReason::Left => Ok(()),
                        RemovalReason::Removed => {
                            Err(CliError::ended("the leader removed you from the meeting"))
                        }
                        RemovalReason::TimedOut => Err(CliError::ended(
                            "timed out: no keys or liveness echo from the leader for too long \
                             (the relay or the leader is gone, or you were removed unseen)",
                        )),
                        other => Err(CliError::ended(format!(
                            "the meeting ended for this participant: {}",
                            removal_words(other)
                        ))),
                    };
                }
            }
        }
        Ok(())
    }

    fn leave(&mut self, rx: &Receiver<Input>) -> Result<(), CliError> {
        let now = self.now();
        if self.meeting.is_active() {
            if let Err(e) = self.meeting.leave(now, &mut self.rng) {
                warn(&format!("! {e}"));
            }
            self.flush()?;
            let _ = self.process_events();
            say("left the meeting");
        } else {
            say("stopped before being admitted");
        }
        let _ = self.writer.flush();
        let _ = self.writer.shutdown(Shutdown::Write);
        // Wait (briefly) for the relay to close its side: it has then read our Leave.
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(Input::NetClosed(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        Ok(())
    }

    fn print_stats(&self) {
        let received: u64 = self.received.values().sum();
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        warn(&format!(
            "media: sent {} frames and {} text messages; decrypted {received} frames from {} senders; rejected {}",
            self.media_sent,
            self.text_sent,
            self.received.len(),
            if rejected.is_empty() {
                "none".to_string()
            } else {
                rejected.join(", ")
            }
        ));
    }
}
