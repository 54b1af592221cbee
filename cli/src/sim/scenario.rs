//! The scenario of `conclave simulate`: the participants join one after another, media flows,
//! one leaves and a newcomer joins, the attack (if any) runs in the middle, the leader rotates
//! every key, then crashes and the others fail over; the run ends when they agree again.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::attack::{AttackKind, Driver};
use super::records::{AttackReport, name};
use super::runner::{RunSummary, Runner, STEP};
use crate::CliError;

/// Time between the initial joins.
const JOIN_SPACING: Duration = Duration::from_millis(250);

/// What the command line asks of the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Participants in the meeting at its largest.
    pub participants: u32,
    /// Virtual seconds of the main media phase.
    pub duration: f64,
    /// The attack to mount, if any.
    pub attack: Option<AttackKind>,
    /// Whether to show a progress bar (on a terminal, after a while).
    pub progress: bool,
    /// Whether the relay tells the others when the leader's connection closes (VOTE-0).
    pub relay_hint: bool,
}

/// A finished run.
pub struct Finished {
    /// What the run observed.
    pub summary: RunSummary,
    /// The attack's outcome.
    pub attack: Option<AttackReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Main,
    Failover { crashed_at: Duration },
    CoolDown { since: Duration },
}

enum Step {
    Join(String),
    Leave(String),
    Rotate,
}

/// The scenario's state as it runs.
struct Scenario {
    schedule: Vec<(Duration, Step)>,
    attack: Option<Driver>,
    phase: Phase,
    failover_done: Option<Duration>,
    crashed: String,
    steady_end: Duration,
    failover_budget: Duration,
    relay_hint: bool,
}

/// Runs the scenario on `r` to its end.
pub fn run(mut r: Runner, plan: Plan, wall: Instant) -> Result<Finished, CliError> {
    let n = plan.participants as usize;
    let hb = r.config.heartbeat_interval;
    let limit = r.config.missed_heartbeats_limit;
    let start = r.sim().now;
    let duration = Duration::from_secs_f64(plan.duration);
    let steady_start = start + JOIN_SPACING * n as u32 + Duration::from_secs(1);
    let steady_end = steady_start + duration;
    let mut schedule: Vec<(Duration, Step)> = Vec::new();
    for i in 1..n {
        schedule.push((start + JOIN_SPACING * i as u32, Step::Join(name(i))));
    }
    schedule.push((
        steady_start + duration.mul_f64(0.2),
        Step::Leave(name(n / 2)),
    ));
    schedule.push((steady_start + duration.mul_f64(0.35), Step::Join(name(n))));
    schedule.push((steady_start + duration.mul_f64(0.8), Step::Rotate));
    let failover_budget = hb * (limit + 4);
    let estimate = steady_end + failover_budget + Duration::from_secs(3) - start;
    let bar = progress_bar(plan.progress, estimate);
    let mut s = Scenario {
        schedule,
        attack: plan
            .attack
            .map(|k| Driver::new(k, steady_start + duration.mul_f64(0.5))),
        phase: Phase::Main,
        failover_done: None,
        crashed: String::new(),
        steady_end,
        failover_budget,
        relay_hint: plan.relay_hint,
    };
    r.create(&name(0))?;
    let hard_end = steady_end + failover_budget * 4 + hb * 20 + Duration::from_secs(600);
    loop {
        let now = r.advance(STEP);
        s.scheduled(&mut r, now)?;
        r.settle();
        if let Some(a) = s.attack.as_mut() {
            a.step(&mut r)?;
        }
        r.step()?;
        if s.advance(&mut r, now) || now >= hard_end {
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
    let attack = s.attack.map(|a| a.report(&r));
    Ok(Finished {
        summary: r.into_summary(),
        attack,
    })
}

impl Scenario {
    /// Runs the scheduled steps that are due.
    fn scheduled(&mut self, r: &mut Runner, now: Duration) -> Result<(), CliError> {
        while let Some(pos) = self.schedule.iter().position(|(t, _)| *t <= now) {
            let (_, step) = self.schedule.remove(pos);
            match step {
                Step::Join(id) => r.join(&id, "asks to join (signed announcement)")?,
                Step::Leave(id) => r.leave(&id),
                Step::Rotate => {
                    if let Some(l) = r.leader() {
                        let _ = r.act(&l, |m, now, _| m.rotate(now));
                        r.note(
                            "rotate",
                            format!("{l} (leader) rotates every key of the tree"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves through the phases after the main one; returns whether the run is over.
    fn advance(&mut self, r: &mut Runner, now: Duration) -> bool {
        match self.phase {
            Phase::Main => {
                let attack_done = self.attack.as_ref().is_none_or(|a| a.done());
                if now >= self.steady_end && attack_done && self.schedule.is_empty() {
                    self.crash_leader(r, now);
                }
            }
            Phase::Failover { crashed_at } => {
                if self.failover_done.is_none()
                    && r.leader().is_some_and(|l| l != self.crashed)
                    && r.settled_down()
                {
                    self.failover_done = Some(now);
                    r.set_media(true);
                    let took = now.saturating_sub(crashed_at).as_secs_f64();
                    let hint = if self.relay_hint { "on" } else { "off" };
                    r.note(
                        "failover",
                        format!(
                            "the members agree on a new leader and epoch {took:.2} s after the \
                             crash (relay hint {hint})"
                        ),
                    );
                }
                let finished = self
                    .failover_done
                    .is_some_and(|d| now >= d + Duration::from_secs(2));
                if finished || now >= crashed_at + self.failover_budget {
                    r.set_media(false);
                    self.phase = Phase::CoolDown { since: now };
                }
            }
            Phase::CoolDown { since } => {
                let hb = r.config.heartbeat_interval;
                if r.settled_down() || now >= since + hb * 10 {
                    return true;
                }
            }
        }
        false
    }

    /// The leader crashes (or, without a leader, the run cools down).
    fn crash_leader(&mut self, r: &mut Runner, now: Duration) {
        let Some(l) = r.leader() else {
            self.phase = Phase::CoolDown { since: now };
            r.set_media(false);
            return;
        };
        self.crashed = l.clone();
        r.crash(&l);
        let hb = r.config.heartbeat_interval;
        let limit = r.config.missed_heartbeats_limit;
        if self.relay_hint {
            for id in r.active() {
                let _ = r.act(&id, |m, now, rng| {
                    m.leader_connection_closed(now, rng);
                    Ok(())
                });
            }
            r.note(
                "crash",
                format!(
                    "{l} (leader) crashes; the relay tells the others its connection closed: they \
                     probe it and vote if it does not answer within 1 s"
                ),
            );
            r.set_media(false);
            self.phase = Phase::Failover { crashed_at: now };
            return;
        }
        r.note(
            "crash",
            format!(
                "{l} (leader) crashes: no more heartbeats; the others wait {limit} heartbeat \
                 intervals of {:.1} s (media is not simulated while they wait)",
                hb.as_secs_f64()
            ),
        );
        r.set_media(false);
        self.phase = Phase::Failover { crashed_at: now };
    }
}

fn progress_bar(progress: bool, estimate: Duration) -> Option<ProgressBar> {
    if !progress || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
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
