//! `conclave-media`: one participant of a Conclave meeting carried by an unmodified Janus SFU,
//! with real media.
//!
//! It joins (or creates) a Conclave meeting whose control messages travel through Janus's
//! TextRoom plugin ([`control`]), publishes an H.264 test pattern and an Opus tone to Janus's
//! VideoRoom through `webrtcbin`, encrypted with the meeting's frame keys ([`media`]),
//! subscribes to every other publisher, decrypts, decodes, and writes a JSON report of what it
//! sent and received per sender. Janus is the only relay.

mod control;
mod error;
mod janus;
mod media;
mod peer;
mod recording;
mod session;
mod stats;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::MediaError;

/// Most inputs queued for the main thread; Janus's poller waits for room, candidates and
/// control messages beyond it are dropped (the engine recovers lost control messages).
pub const INPUT_QUEUE_LEN: usize = 64;

/// The sending side of the main thread's queue (bounded by [`INPUT_QUEUE_LEN`]).
pub type InputTx = std::sync::mpsc::SyncSender<Input>;

/// What the main thread waits for.
pub enum Input {
    /// An event from Janus's long poll.
    Janus(serde_json::Value),
    /// The long poll failed.
    JanusLost(String),
    /// A local ICE candidate of the PeerConnection of `handle`.
    Candidate {
        /// The Janus handle.
        handle: u64,
        /// The m-line index.
        mline: u32,
        /// The candidate line.
        candidate: String,
    },
    /// The TextRoom data channel opened.
    ControlOpen,
    /// A TextRoom message.
    Control(String),
}

#[derive(Debug, Parser)]
#[command(name = "conclave-media", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join a meeting through Janus with a test pattern and tone.
    Join(session::JoinArgs),
    /// Test only: decrypt a Janus recording (converted by janus-pp-rec to WebM) with exported
    /// frame keys and compare its frames with the sender's clear-frame log.
    OpenRecording(recording::OpenArgs),
}

/// The Janus address argument: loopback only.
pub fn parse_janus(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s.parse().map_err(|e| format!("{e}"))?;
    if !a.ip().is_loopback() {
        return Err("Janus must be on a loopback address (127.0.0.1)".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = gst::init() {
        eprintln!("error: cannot initialise GStreamer: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = gstconclave::register_static() {
        eprintln!("error: cannot register conclaveenc/conclavedec: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Join(args) => session::run(&args),
        Command::OpenRecording(args) => recording::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
