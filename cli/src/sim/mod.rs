//! `conclave simulate`: a whole meeting in one process, on virtual time, through an untrusted
//! relay.
//!
//! The control plane runs in [`conclave_core::sim::Sim`] (real engines, real cryptography, a
//! deterministic random source seeded from `--seed`). The relay's tap sees every control message
//! before delivery: it logs it, applies `--loss`, and mounts attacks. Media frames are encrypted
//! with each participant's own `FrameCrypto` (installed by its engine) and relayed here to every
//! other member. Every key and secret any participant holds is collected as the run goes, and
//! every byte the relay carries is scanned for them and for the media plaintexts.
//!
//! The modules form a one-way chain (none imports one above it):
//! [`records`] (data) <- [`scan`] and [`runner`] (the simulated network and its inject/tap API)
//! <- [`attack`] and [`scenario`] <- [`report`] (built from the run summary) <- this module
//! (arguments and orchestration). [`churn`] (`--churn`, the soak) sits beside [`scenario`] and
//! has its own report.

mod attack;
mod churn;
mod records;
mod report;
mod runner;
mod scan;
mod scenario;

use std::time::{Duration, Instant};

pub use attack::AttackKind;
use report::{Report, Settings};
use runner::{Runner, RunnerSettings};
use scenario::Plan;

use crate::CliError;

/// Longest main phase of the scripted scenario, in virtual seconds.
const MAX_DURATION_S: f64 = 600.0;
/// Longest churn soak, in virtual seconds (one day).
const MAX_CHURN_DURATION_S: f64 = 86_400.0;
/// Default length of the churn soak (2 hours).
const CHURN_DEFAULT_DURATION_S: f64 = 7_200.0;
/// Default length of the scenario's main phase.
const DEFAULT_DURATION_S: f64 = 20.0;
/// Default participants of the churn soak.
const CHURN_DEFAULT_PARTICIPANTS: u32 = 30;
/// Default participants of the scenario.
const DEFAULT_PARTICIPANTS: u32 = 8;
/// Default loss of the churn soak, in percent.
const CHURN_DEFAULT_LOSS: f64 = 1.0;

fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.5..=MAX_CHURN_DURATION_S).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.5 and 86400 seconds (600 without --churn)".into())
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
    /// Participants in the meeting at its largest (2 to 64; default 8, 30 with --churn).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(2..=64))]
    pub participants: Option<u32>,
    /// Virtual seconds of the main media phase (0.5 to 600; default 20). Joins, the failover
    /// and an attack add their own virtual time. With --churn: the soak's length (up to 86,400;
    /// default 7,200).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Percentage of control messages and of media frames the relay drops (0 to 50; default 0,
    /// 1 with --churn). Lost control messages are retried by the engines (announcements,
    /// resync).
    #[arg(long, value_name = "PERCENT", value_parser = parse_loss)]
    pub loss: Option<f64>,
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
    /// When the leader crashes, the relay tells every other participant that its connection
    /// closed (an unauthenticated hint, `spec/state-machine.md` VOTE-0): they probe it and fail
    /// over in about a second instead of after 3 missed heartbeats.
    #[arg(long)]
    pub relay_hint: bool,
    /// Churn soak instead of the scripted scenario: a join or a leave every 10 to 30 virtual
    /// seconds (rejoins included, the leader may leave), no media; reports the time to agreement
    /// after each change and the longest periods without agreement, and fails if a change never
    /// reaches agreement or exceeds the bound of `spec/state-machine.md` section 11.1.
    #[arg(long, conflicts_with_all = ["attack", "relay_hint"])]
    pub churn: bool,
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

/// Runs `conclave simulate --churn`.
fn run_churn(args: &SimulateArgs) -> Result<(), CliError> {
    let wall = Instant::now();
    let cpu0 = cpu_time();
    let plan = churn::ChurnPlan {
        participants: args.participants.unwrap_or(CHURN_DEFAULT_PARTICIPANTS),
        duration: args.duration.unwrap_or(CHURN_DEFAULT_DURATION_S),
        loss: args.loss.unwrap_or(CHURN_DEFAULT_LOSS),
        seed: args.seed,
    };
    let r = Runner::new(RunnerSettings {
        seed: args.seed,
        loss: plan.loss,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
    });
    let mut report = churn::run(r, plan, wall)?;
    report.cpu_s = cpu_time().zip(cpu0).map(|(b, a)| b - a);
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::failed(format!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", report.render());
    }
    if report.passed() {
        Ok(())
    } else {
        Err(CliError::failed(
            "a change did not reach agreement within its bound, or a secret leaked (see the report)",
        ))
    }
}

/// Runs `conclave simulate`.
pub fn run(args: &SimulateArgs) -> Result<(), CliError> {
    if args.churn {
        return run_churn(args);
    }
    let participants = args.participants.unwrap_or(DEFAULT_PARTICIPANTS);
    let duration = args.duration.unwrap_or(DEFAULT_DURATION_S);
    let loss = args.loss.unwrap_or(0.0);
    if duration > MAX_DURATION_S {
        return Err(CliError::usage(
            "--duration must be between 0.5 and 600 seconds (longer only with --churn)",
        ));
    }
    let wall = Instant::now();
    let cpu0 = cpu_time();
    let mut r = Runner::new(RunnerSettings {
        seed: args.seed,
        loss,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
    });
    if args.attack == Some(AttackKind::RelayMember) {
        attack::allow_invitees(&mut r, participants as usize + 1);
    }
    let plan = Plan {
        participants,
        duration,
        attack: args.attack,
        progress: !args.json,
        relay_hint: args.relay_hint,
    };
    let finished = scenario::run(r, plan, wall)?;
    let settings = Settings {
        participants,
        duration_s: duration,
        loss_percent: loss,
        seed: args.seed,
        heartbeat_ms: args.heartbeat_ms,
        attack: args.attack,
        relay_hint: args.relay_hint,
    };
    let report = Report::new(finished.summary, finished.attack).finish(
        settings,
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
    verdict(&report)
}

/// The exit status: a leak, a ledger violation or an undetected attack is a failure.
fn verdict(report: &Report) -> Result<(), CliError> {
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
