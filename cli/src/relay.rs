//! `conclave relay`: an untrusted relay (the role of an SFU) for `conclave join` processes.
//!
//! It accepts TCP connections, reads each client's HELLO (meeting and participant id), and
//! forwards: control envelopes for everyone or for the leader to every other participant of the
//! meeting (the relay does not know who leads), envelopes for one participant to that one, and
//! media frames to every other participant. It keeps a log of the commits it forwarded; a relay
//! serving resync would answer from it. It sees only what the protocol lets it see: signed
//! control messages and ciphertext. Bad input closes that one connection; nothing a client sends
//! can stop the relay.
//!
//! # Memory
//!
//! The relay verifies nothing (it has no keys), so every byte it holds for a client is bounded
//! without trusting the client:
//!
//! - **Reading.** A message is read into a buffer of exactly its size (at most
//!   [`MAX_MESSAGE_LEN`] plus its 4-byte prefix) and, once read, that buffer is what is queued
//!   and logged (a SEND becomes its DELIVER in place). A body over [`SMALL_BODY_LEN`] is read
//!   only within [`READ_BUDGET_BYTES`] shared by all connections (a connection waits for room
//!   for up to [`READ_WAIT`]), and every body must arrive within [`BODY_GRACE`] plus its length
//!   at [`MIN_DRAIN_BYTES_PER_SEC`]. The HELLO is at most [`MAX_HELLO_LEN`] bytes and must arrive
//!   within [`HELLO_TIMEOUT`].
//! - **Holding.** Every forwarded message, while any send queue or commit log holds it, counts
//!   once (however many peers it goes to), plus [`PAYLOAD_OVERHEAD`], in [`RELAY_BUFFER_BYTES`];
//!   a message that does not fit is dropped. Each peer's queue holds at most
//!   [`PEER_QUEUE_BYTES`] and [`PEER_QUEUE_LEN`] messages; further messages are dropped for that
//!   peer. A peer that, while something is queued for it, takes less than
//!   [`MIN_DRAIN_BYTES_PER_SEC`] over a [`DRAIN_WINDOW`] is disconnected: a reader of 1 byte
//!   every 2 s is cut off at most two windows (and one [`WRITE_POLL`]) after the socket buffers
//!   between it and the relay are full.
//! - **Commit logs.** At most [`COMMIT_LOG_LEN`] commits and [`COMMIT_LOG_BYTES`] per meeting,
//!   at most [`COMMIT_LOG_CONNECTION_BYTES`] of them from one connection, and
//!   [`COMMIT_LOG_TOTAL_BYTES`] across meetings; oldest evicted first (a connection over its
//!   share loses its own oldest). At most [`MAX_ROOMS`] meetings and [`MAX_CONNECTIONS`]
//!   connections; a meeting and its log go when its last participant leaves.
//!
//! Worst case, with `C` = [`MAX_CONNECTIONS`] (each connection is in one meeting, so there are
//! at most `min(C, MAX_ROOMS)` meetings):
//!
//! ```text
//! heap <= C × (4 + SMALL_BODY_LEN)                 small messages being read
//!       + READ_BUDGET_BYTES                        large messages being read
//!       + RELAY_BUFFER_BYTES                       queued and logged messages, once each
//!                                                  (COMMIT_LOG_TOTAL_BYTES of logs included)
//!       + C × PEER_QUEUE_LEN × 8                   queue slots (one pointer each)
//!       + C × 1 KiB + MAX_ROOMS × COMMIT_LOG_LEN × 64   connection and log bookkeeping
//!      = 16 + 32 + 128 + 32 + 1 + 4 MiB = 213 MiB with the defaults
//! stacks <= C × 2 threads × RELAY_THREAD_STACK = 512 MiB of address space, resident only
//!           where touched (a few KiB per thread: about 16 MiB for 2,048 threads)
//! ```
//!
//! So about 230 MiB resident at most with the defaults (745 MiB if every stack page were
//! touched), plus the allocator's own overhead and fragmentation; kernel socket buffers are the
//! kernel's, not the relay's. Before these bounds one connection could make a meeting's log hold
//! 1 GiB and a slow reader's queue 16 GiB.
//!
//! What the bounds cost: the relay drops messages (counted in the meeting's `dropped`) for a
//! peer whose queue is full and for everyone while [`RELAY_BUFFER_BYTES`] is full, and a
//! connection may wait for [`READ_BUDGET_BYTES`]; a few connections that read or send at exactly
//! [`MIN_DRAIN_BYTES_PER_SEC`] can keep those budgets full. That is a denial of service by
//! clients (availability is not promised against the relay either); it never costs the relay
//! more memory.

mod budget;
mod inbound;
mod outbox;
mod room;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use conclave_core::meeting::{check_meeting_id, check_participant_id};
use conclave_core::protocol::limits::{MAX_MEETING_ID_LEN, MAX_PARTICIPANT_ID_LEN};

use crate::CliError;
use crate::transport::{MAX_MESSAGE_LEN, Message, ReadError, write_message};
use budget::{Budget, PAYLOAD_OVERHEAD, Payload};
use inbound::Inbound;
use outbox::Outbox;
use room::{Forward, Peer, Rooms};

/// Most commits kept per meeting.
pub const COMMIT_LOG_LEN: usize = 256;
/// Most bytes of commits kept per meeting.
pub const COMMIT_LOG_BYTES: usize = 16 << 20;
/// Most bytes of one meeting's commit log that came from one connection.
pub const COMMIT_LOG_CONNECTION_BYTES: usize = 8 << 20;
/// Most bytes in the commit logs of all meetings together.
pub const COMMIT_LOG_TOTAL_BYTES: usize = 32 << 20;
/// Most simultaneous connections.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most simultaneous meetings.
pub const MAX_ROOMS: usize = 256;
/// Most bytes queued for one peer (messages plus [`PAYLOAD_OVERHEAD`] each, the one being
/// written included); further messages are dropped for that peer.
pub const PEER_QUEUE_BYTES: usize = 8 << 20;
/// Most messages queued for one peer.
pub const PEER_QUEUE_LEN: usize = 4096;
/// Most bytes of forwarded messages the relay holds in all queues and commit logs together.
pub const RELAY_BUFFER_BYTES: usize = 128 << 20;
/// Most bytes of large messages (bodies over [`SMALL_BODY_LEN`]) being read at once.
pub const READ_BUDGET_BYTES: usize = 32 << 20;
/// Largest message body read without a share of [`READ_BUDGET_BYTES`].
pub const SMALL_BODY_LEN: usize = 16 << 10;
/// Slowest a peer may take what is queued for it, and slowest a client may send a body.
pub const MIN_DRAIN_BYTES_PER_SEC: usize = 64 << 10;
/// Window over which a peer's drain rate is measured.
pub const DRAIN_WINDOW: Duration = Duration::from_secs(5);
/// Time a body may take beyond its length at [`MIN_DRAIN_BYTES_PER_SEC`].
pub const BODY_GRACE: Duration = Duration::from_secs(5);
/// Longest a connection waits for room in [`READ_BUDGET_BYTES`] before it is closed.
pub const READ_WAIT: Duration = Duration::from_secs(120);
/// Largest HELLO (tag and body).
pub const MAX_HELLO_LEN: usize = 2 + MAX_MEETING_ID_LEN + MAX_PARTICIPANT_ID_LEN;
/// How long a new connection has to send its HELLO.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single write call blocks, so the drain rate is checked at least this often.
pub const WRITE_POLL: Duration = Duration::from_secs(1);
/// Stack of each connection's reader and writer threads.
pub const RELAY_THREAD_STACK: usize = 256 << 10;

/// What the largest message costs in a budget.
const MAX_PAYLOAD_COST: usize = MAX_MESSAGE_LEN + 4 + PAYLOAD_OVERHEAD;
const _: () = assert!(COMMIT_LOG_CONNECTION_BYTES >= MAX_PAYLOAD_COST);
const _: () = assert!(COMMIT_LOG_BYTES >= COMMIT_LOG_CONNECTION_BYTES);
const _: () = assert!(COMMIT_LOG_TOTAL_BYTES >= COMMIT_LOG_BYTES);
const _: () = assert!(PEER_QUEUE_BYTES >= MAX_PAYLOAD_COST);
const _: () = assert!(READ_BUDGET_BYTES >= MAX_PAYLOAD_COST);
const _: () = assert!(RELAY_BUFFER_BYTES >= COMMIT_LOG_TOTAL_BYTES + 2 * PEER_QUEUE_BYTES);

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

struct Relay {
    rooms: Mutex<Rooms>,
    connections: Mutex<usize>,
    /// [`READ_BUDGET_BYTES`].
    reads: Arc<Budget>,
    /// [`RELAY_BUFFER_BYTES`].
    buffers: Arc<Budget>,
    next_id: AtomicU64,
    quiet: bool,
}

impl Relay {
    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connections(&self) -> MutexGuard<'_, usize> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, line: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(RELAY_THREAD_STACK)
        .spawn(f)
        .map(drop)
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
        rooms: Mutex::new(Rooms::default()),
        connections: Mutex::new(0),
        reads: Budget::new(READ_BUDGET_BYTES),
        buffers: Budget::new(RELAY_BUFFER_BYTES),
        next_id: AtomicU64::new(1),
        quiet: args.quiet,
    });
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => accept(&relay, stream),
            Err(e) => {
                eprintln!("relay: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

fn accept(relay: &Arc<Relay>, mut stream: TcpStream) {
    let full = {
        let mut n = relay.connections();
        if *n >= MAX_CONNECTIONS {
            true
        } else {
            *n = n.saturating_add(1);
            false
        }
    };
    if full {
        let _ = stream.set_write_timeout(Some(WRITE_POLL));
        let _ = write_message(&mut stream, &Message::Notice("relay full".into()));
        return;
    }
    let r = Arc::clone(relay);
    let spawned = spawn("relay-conn", move || {
        serve(&r, stream);
        let mut n = r.connections();
        *n = n.saturating_sub(1);
    });
    if spawned.is_err() {
        let mut n = relay.connections();
        *n = n.saturating_sub(1);
        eprintln!("relay: cannot start a thread for a connection");
    }
}

fn printable(meeting_id: &[u8]) -> String {
    match std::str::from_utf8(meeting_id) {
        Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => s.to_string(),
        _ => meeting_id.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn refuse(stream: &mut TcpStream, why: &str) {
    let _ = stream.set_write_timeout(Some(WRITE_POLL));
    let _ = write_message(stream, &Message::Notice(why.to_string()));
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads and checks the HELLO: the meeting and participant id.
fn hello(relay: &Relay, stream: &mut TcpStream, peer_addr: &str) -> Option<(Vec<u8>, String)> {
    let deadline = Some(Instant::now() + HELLO_TIMEOUT);
    let (meeting_id, participant_id) =
        match inbound::read_inbound(stream, MAX_HELLO_LEN, deadline, &relay.reads) {
            Ok(Some((
                Inbound::Hello {
                    meeting_id,
                    participant_id,
                },
                _,
            ))) => (meeting_id, participant_id),
            Ok(Some(_)) => {
                refuse(stream, "the first message must be a hello");
                return None;
            }
            Ok(None) => return None,
            Err(e) => {
                relay.log(&format!("relay: {peer_addr}: bad hello: {e}"));
                refuse(stream, &format!("bad hello: {e}"));
                return None;
            }
        };
    if let Err(e) = check_meeting_id(&meeting_id) {
        refuse(stream, &format!("bad meeting id: {e}"));
        return None;
    }
    if let Err(e) = check_participant_id(&participant_id) {
        refuse(stream, &format!("bad participant id: {e}"));
        return None;
    }
    Some((meeting_id, participant_id))
}

fn serve(relay: &Relay, mut stream: TcpStream) {
    let peer_addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let Some((meeting_id, participant_id)) = hello(relay, &mut stream, &peer_addr) else {
        return;
    };
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let outbox = Outbox::new();
    let id = relay.next_id.fetch_add(1, Ordering::Relaxed);
    let room_name = printable(&meeting_id);
    let peer = Peer {
        participant_id: participant_id.clone(),
        outbox: Arc::clone(&outbox),
    };
    let present = match relay.rooms().join(&meeting_id, id, peer) {
        Ok(n) => n,
        Err(why) => return refuse(&mut stream, &why),
    };
    relay.log(&format!(
        "+ {participant_id} connected to meeting {room_name} from {peer_addr} ({present} connected)"
    ));
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Option<String>>(1);
    let ob = Arc::clone(&outbox);
    let started = spawn("relay-writer", move || {
        let _ = done_tx.send(outbox::write_loop(writer, &ob));
    });
    let reason = match started {
        Ok(()) => read_loop(relay, &mut stream, &meeting_id, id),
        Err(_) => Some("relay busy: cannot start a writer".into()),
    };
    let (present, stats) = relay.rooms().leave(&meeting_id, id);
    outbox.close();
    // The others learn at once that this connection closed: if it was their leader's, they
    // probe it and fail over in about a second instead of three heartbeat intervals (VOTE-0).
    if present > 0
        && let Some(p) = Payload::new(
            Message::Gone(participant_id.clone()).encode(),
            &relay.buffers,
        )
    {
        relay.rooms().tell_all(&meeting_id, &p);
    }
    // The writer stops within one WRITE_POLL of the close.
    let cut_off = done_rx.recv().ok().flatten();
    if let Some(why) = &reason {
        let _ = stream.set_write_timeout(Some(WRITE_POLL));
        let _ = write_message(&mut stream, &Message::Notice(why.clone()));
    }
    let _ = stream.shutdown(Shutdown::Both);
    relay.log(&format!(
        "- {participant_id} disconnected{} ({present} connected; meeting so far: {stats})",
        reason
            .or(cut_off)
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
}

/// Reads until the client closes; returns why the relay closed it, if it did.
fn read_loop(relay: &Relay, stream: &mut TcpStream, meeting_id: &[u8], id: u64) -> Option<String> {
    loop {
        let (msg, read_grant) =
            match inbound::read_inbound(stream, MAX_MESSAGE_LEN, None, &relay.reads) {
                Ok(Some(m)) => m,
                Ok(None) | Err(ReadError::Io(_)) => return None,
                Err(ReadError::Invalid(why)) => return Some(why),
            };
        let (destination, commit, bytes) = match msg {
            Inbound::Send {
                destination,
                deliver,
                commit,
            } => (Some(destination), commit, deliver),
            Inbound::Frame(frame) => (None, false, frame),
            Inbound::Hello { .. } => return Some("a second hello".into()),
        };
        // The buffer read is the buffer queued: it moves from the read budget to the relay's.
        let payload = Payload::new(bytes, &relay.buffers);
        drop(read_grant);
        let what = match &destination {
            Some(destination) => Forward::Envelope {
                destination,
                commit,
            },
            None => Forward::Frame,
        };
        relay
            .rooms()
            .forward(meeting_id, id, what, payload.as_ref());
    }
}
