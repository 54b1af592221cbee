//! `conclave`: see Conclave's end-to-end encryption at work.
//!
//! - `conclave simulate` runs a whole meeting in one process, on virtual time, through an
//!   untrusted in-process relay, and shows what happened and that the relay learned nothing.
//! - `conclave relay` and `conclave join` run a real meeting over TCP between processes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::too_many_lines)]

mod conformance;
mod error;
mod join;
mod relay;
mod rng;
mod sim;
mod transport;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;

/// End-to-end encrypted group meetings through a relay that learns nothing.
///
/// Start with `conclave simulate`: an 8-person meeting with joins, leaves, a leader failover and
/// encrypted audio and video, all through an untrusted relay, in a few seconds. Then try a real
/// meeting between processes with `conclave relay` and `conclave join`.
#[derive(Debug, Parser)]
#[command(name = "conclave", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a meeting in one process (virtual time, real cryptography) and check that the
    /// relay never carried a key or a plaintext.
    ///
    /// Participants join one after another, one leaves, a newcomer joins, the leader rotates the
    /// keys, then the leader crashes and the meeting fails over to the next leader. Every member
    /// sends audio (50 frames/s of 100 bytes) and video (30 frames/s of 1,200 bytes), except
    /// while the others wait out the crashed leader's heartbeats. With --attack the relay also mounts one attack, and the output shows who detected
    /// it and how. The run is reproducible from --seed.
    Simulate(sim::SimulateArgs),
    /// Run an untrusted relay for `conclave join` processes over TCP.
    ///
    /// The relay forwards control messages and encrypted frames between the participants of
    /// each meeting and keeps the log of commits; it never holds a key. It prints the address it
    /// listens on as its first line (useful with port 0).
    Relay(relay::RelayArgs),
    /// Join (or create) a meeting through a relay, as one participant.
    ///
    /// Prints the security code of every epoch (compare it with the others out of band), the
    /// participants who come and go, and the text messages others send. Type a line to send it,
    /// encrypted, to everyone; lines starting with `/` are commands (`/help`). Ctrl-C or end of
    /// input (Ctrl-D) leaves the meeting with a signed Leave.
    Join(join::JoinArgs),
    Conformance(conformance::ConformanceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => sim::run(&args),
        Command::Relay(args) => relay::run(&args),
        Command::Join(args) => join::run(&args),
        Command::Conformance(args) => conformance::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
