//! `conclave relay`: an untrusted relay (the role of an SFU) for `conclave join` processes.
//!
//! It accepts TCP connections, reads each client's HELLO (meeting and participant id), and
//! forwards: control envelopes for everyone or for the leader to every other participant of the
//! meeting (the relay does not know who leads), envelopes for one participant to that one, and
//! media frames to every other participant. It keeps the log of commits it forwarded (the last
//! [`COMMIT_LOG_LEN`]); a relay serving resync would answer from it. It sees only what the
//! protocol lets it see: signed control messages and ciphertext. Bad input closes that one
//! connection; nothing a client sends can stop the relay.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use conclave_core::meeting::{Destination, check_meeting_id, check_participant_id};
use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_core::protocol::v1::{Envelope, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded};

use crate::CliError;
use crate::transport::{Message, ReadError, read_message, write_message};

/// Commits kept per meeting.
pub const COMMIT_LOG_LEN: usize = 256;
/// Most simultaneous connections.
pub const MAX_CONNECTIONS: usize = 1024;
/// Messages queued for one slow client before the relay drops further ones for it.
const QUEUE_LEN: usize = 4096;
/// How long a new connection has to send its HELLO.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write to a client may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `conclave relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed first).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    pub listen: String,
    /// Print only the listening address and errors, not every connection.
    #[arg(long)]
    pub quiet: bool,
}

struct Peer {
    participant_id: String,
    tx: SyncSender<Arc<Vec<u8>>>,
}

#[derive(Default)]
struct Room {
    peers: BTreeMap<u64, Peer>,
    commits: VecDeque<Vec<u8>>,
    envelopes: u64,
    frames: u64,
    bytes: u64,
    dropped: u64,
}

#[derive(Default)]
struct State {
    rooms: HashMap<Vec<u8>, Room>,
    connections: usize,
}

struct Relay {
    state: Mutex<State>,
    next_id: AtomicU64,
    quiet: bool,
}

impl Relay {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, line: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Runs the relay until the process is stopped.
pub fn run(args: &RelayArgs) -> Result<(), CliError> {
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot read the listening address: {e}")))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "conclave relay listening on {addr}");
        let _ = out.flush();
    }
    let relay = Arc::new(Relay {
        state: Mutex::new(State::default()),
        next_id: AtomicU64::new(1),
        quiet: args.quiet,
    });
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let full = {
                    let mut st = relay.lock();
                    if st.connections >= MAX_CONNECTIONS {
                        true
                    } else {
                        st.connections += 1;
                        false
                    }
                };
                if full {
                    let mut s = stream;
                    let _ = write_message(&mut s, &Message::Notice("relay full".into()));
                    continue;
                }
                let r = Arc::clone(&relay);
                let spawned = thread::Builder::new()
                    .name("relay-conn".into())
                    .spawn(move || {
                        serve(&r, stream);
                        r.lock().connections -= 1;
                    });
                if spawned.is_err() {
                    relay.lock().connections -= 1;
                    eprintln!("relay: cannot start a thread for a connection");
                }
            }
            Err(e) => {
                eprintln!("relay: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

fn printable(meeting_id: &[u8]) -> String {
    match std::str::from_utf8(meeting_id) {
        Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => s.to_string(),
        _ => meeting_id.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn refuse(stream: &mut TcpStream, why: &str) {
    let _ = write_message(stream, &Message::Notice(why.to_string()));
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve(relay: &Relay, mut stream: TcpStream) {
    let peer_addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(HELLO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (meeting_id, participant_id) = match read_message(&mut stream) {
        Ok(Some(Message::Hello {
            meeting_id,
            participant_id,
        })) => (meeting_id, participant_id),
        Ok(Some(_)) => return refuse(&mut stream, "the first message must be a hello"),
        Ok(None) => return,
        Err(e) => {
            relay.log(&format!("relay: {peer_addr}: bad hello: {e}"));
            return refuse(&mut stream, &format!("bad hello: {e}"));
        }
    };
    if let Err(e) = check_meeting_id(&meeting_id) {
        return refuse(&mut stream, &format!("bad meeting id: {e}"));
    }
    if let Err(e) = check_participant_id(&participant_id) {
        return refuse(&mut stream, &format!("bad participant id: {e}"));
    }
    let _ = stream.set_read_timeout(None);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(QUEUE_LEN);
    let id = relay.next_id.fetch_add(1, Ordering::Relaxed);
    let room_name = printable(&meeting_id);
    let present = {
        let mut st = relay.lock();
        let room = st.rooms.entry(meeting_id.clone()).or_default();
        room.peers.insert(
            id,
            Peer {
                participant_id: participant_id.clone(),
                tx,
            },
        );
        room.peers.len()
    };
    relay.log(&format!(
        "+ {participant_id} connected to meeting {room_name} from {peer_addr} ({present} connected)"
    ));
    let writer_thread = thread::Builder::new()
        .name("relay-writer".into())
        .spawn(move || write_loop(writer, rx));
    let reason = read_loop(relay, &mut stream, &meeting_id, id);
    let (present, stats) = {
        let mut st = relay.lock();
        let mut present = 0;
        let mut stats = String::new();
        if let Some(room) = st.rooms.get_mut(&meeting_id) {
            room.peers.remove(&id);
            present = room.peers.len();
            stats = format!(
                "{} envelopes, {} frames, {} bytes forwarded, {} commits logged, {} dropped",
                room.envelopes,
                room.frames,
                room.bytes,
                room.commits.len(),
                room.dropped
            );
            if room.peers.is_empty() {
                st.rooms.remove(&meeting_id);
            }
        }
        (present, stats)
    };
    if let Some(why) = &reason {
        let _ = write_message(&mut stream, &Message::Notice(why.clone()));
    }
    let _ = stream.shutdown(Shutdown::Both);
    if let Ok(t) = writer_thread {
        let _ = t.join();
    }
    relay.log(&format!(
        "- {participant_id} disconnected{} ({present} connected; meeting so far: {stats})",
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    ));
}

fn write_loop(mut stream: TcpStream, rx: Receiver<Arc<Vec<u8>>>) {
    for bytes in rx {
        if stream.write_all(&bytes).is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
    }
}

/// Reads until the client closes; returns why the relay closed it, if it did.
fn read_loop(relay: &Relay, stream: &mut TcpStream, meeting_id: &[u8], id: u64) -> Option<String> {
    loop {
        let msg = match read_message(stream) {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(ReadError::Io(_)) => return None,
            Err(ReadError::Invalid(why)) => return Some(why),
        };
        match msg {
            Message::Send {
                destination,
                envelope,
            } => forward_envelope(relay, meeting_id, id, &destination, envelope),
            Message::Frame(frame) => forward_frame(relay, meeting_id, id, frame),
            Message::Hello { .. } => return Some("a second hello".into()),
            Message::Deliver(_) | Message::Notice(_) => {
                return Some("clients do not send that message type".into());
            }
        }
    }
}

fn is_commit(envelope: &[u8]) -> bool {
    matches!(
        decode_bounded::<Envelope>(MessageKind::Envelope, envelope, MAX_ENVELOPE_SIZE),
        Ok(Envelope {
            body: Some(Body::Commit(_))
        })
    )
}

fn send_to(room: &mut Room, to: u64, bytes: &Arc<Vec<u8>>) {
    let Some(peer) = room.peers.get(&to) else {
        return;
    };
    match peer.tx.try_send(Arc::clone(bytes)) {
        Ok(()) => room.bytes += bytes.len() as u64,
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => room.dropped += 1,
    }
}

fn forward_envelope(
    relay: &Relay,
    meeting_id: &[u8],
    from: u64,
    destination: &Destination,
    envelope: Vec<u8>,
) {
    let commit = is_commit(&envelope);
    let bytes = Arc::new(Message::Deliver(envelope.clone()).encode());
    let mut st = relay.lock();
    let Some(room) = st.rooms.get_mut(meeting_id) else {
        return;
    };
    room.envelopes += 1;
    if commit {
        if room.commits.len() >= COMMIT_LOG_LEN {
            room.commits.pop_front();
        }
        room.commits.push_back(envelope);
    }
    let targets: Vec<u64> = match destination {
        Destination::All | Destination::Leader => {
            room.peers.keys().copied().filter(|k| *k != from).collect()
        }
        Destination::Participant(pid) => room
            .peers
            .iter()
            .filter(|(k, p)| **k != from && p.participant_id == *pid)
            .map(|(k, _)| *k)
            .collect(),
    };
    for t in targets {
        send_to(room, t, &bytes);
    }
}

fn forward_frame(relay: &Relay, meeting_id: &[u8], from: u64, frame: Vec<u8>) {
    let bytes = Arc::new(Message::Frame(frame).encode());
    let mut st = relay.lock();
    let Some(room) = st.rooms.get_mut(meeting_id) else {
        return;
    };
    room.frames += 1;
    let targets: Vec<u64> = room.peers.keys().copied().filter(|k| *k != from).collect();
    for t in targets {
        send_to(room, t, &bytes);
    }
}
