//! `conclave simulate --churn`: a long meeting on virtual time in which somebody joins or leaves
//! every 10 to 30 seconds, through a lossy relay, measuring how long the participants take to
//! agree again after each change (issue #13 item 5).
//!
//! Agreement after a change: every participant that should be in the meeting is in it, all of
//! them hold the keys of the same epoch with the same transcript hash and security code
//! (`Runner::settled_down`), and the change is reflected (a joiner is in, a leaver is out of the
//! leader's roster). The run jumps from one timer deadline to the next (the relay delivers
//! without delay), so a 2-hour soak is a few tens of thousands of steps.
//!
//! [`tracker`] follows the changes and the periods without agreement; [`report`] turns that into
//! the distribution, the per-minute samples, the longest outages explained and the check of the
//! bound of `spec/state-machine.md` section 11.1.

mod report;
mod tracker;

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub use report::ChurnReport;
use report::ChurnSettings;
use tracker::{ChangeKind, Tracker};

use super::records::name;
use super::runner::Runner;
use crate::CliError;

/// Shortest virtual time between two changes.
pub const CHURN_GAP_MIN: Duration = Duration::from_secs(10);
/// Longest virtual time between two changes.
pub const CHURN_GAP_MAX: Duration = Duration::from_secs(30);
/// Virtual time between two "converged at this instant" samples.
const SAMPLE_PERIOD: Duration = Duration::from_secs(60);
/// Salt of the churn schedule's random source (distinct from the engines' and the relay's).
const CHURN_SEED_SALT: u64 = 0xc4a7_0000_5eed;
/// How long the meeting may take to form before the soak starts, in heartbeat intervals.
const SETUP_INTERVALS: u32 = 60;
/// How long after the last change the soak waits for agreement, in heartbeat intervals.
const COOL_DOWN_INTERVALS: u32 = 30;
/// Smallest jump of virtual time (when a timer is due now but did not move its deadline).
const MIN_JUMP: Duration = Duration::from_millis(1);

/// What the command line asks of the soak.
#[derive(Debug, Clone, Copy)]
pub struct ChurnPlan {
    /// Participants at the start, and the most at any time.
    pub participants: u32,
    /// Virtual seconds of churn.
    pub duration: f64,
    /// Percentage of control messages the relay drops.
    pub loss: f64,
    /// Seed of the run.
    pub seed: u64,
}

/// Runs the soak on `r` (a fresh runner) and reports it.
pub fn run(mut r: Runner, plan: ChurnPlan, wall: Instant) -> Result<ChurnReport, CliError> {
    r.set_media(false);
    r.record_drops();
    let n = plan.participants as usize;
    let hb = r.config.heartbeat_interval;
    let mut rng = ChaCha20Rng::seed_from_u64(plan.seed ^ CHURN_SEED_SALT);
    r.create(&name(0))?;
    for i in 1..n {
        r.join(&name(i), "joins (before the soak starts)")?;
    }
    let setup_end = r.sim().now + hb * SETUP_INTERVALS;
    while !r.settled_down() {
        if r.sim().now >= setup_end {
            return Err(CliError::failed(
                "the meeting did not form before the soak (no agreement after the joins)",
            ));
        }
        jump(&mut r, setup_end)?;
    }
    let _ = r.take_drops();
    let start = r.sim().now;
    let end = start + Duration::from_secs_f64(plan.duration);
    let hard_end = end + hb * COOL_DOWN_INTERVALS;
    let mut tracker = Tracker::new(&r, start);
    let mut next_change = start + gap(&mut rng);
    let mut next_sample = start + SAMPLE_PERIOD;
    let mut next_fresh = n;
    loop {
        let now = r.sim().now;
        if now >= next_change && now < end {
            change(&mut r, &mut rng, &mut tracker, n, &mut next_fresh)?;
            next_change = now + gap(&mut rng);
        }
        r.settle();
        r.step()?;
        tracker.observe(&mut r);
        if now >= next_sample && now <= end {
            tracker.sample(now);
            next_sample += SAMPLE_PERIOD;
        }
        if now >= hard_end || (now >= end && tracker.idle()) {
            break;
        }
        let mut next = hard_end;
        if next_change < end {
            next = next.min(next_change);
        }
        if next_sample <= end {
            next = next.min(next_sample);
        }
        if let Some(d) = r.next_deadline() {
            next = next.min(d);
        }
        let next = next.max(now + MIN_JUMP);
        r.advance(next - now);
    }
    let settings = ChurnSettings {
        participants: plan.participants,
        duration_s: plan.duration,
        loss_percent: plan.loss,
        seed: plan.seed,
        heartbeat_ms: hb.as_millis() as u64,
        gap_s: (CHURN_GAP_MIN.as_secs_f64(), CHURN_GAP_MAX.as_secs_f64()),
    };
    Ok(ChurnReport::new(settings, tracker, r, wall))
}

/// Runs the meeting to the earlier of `until` and the next timer deadline.
fn jump(r: &mut Runner, until: Duration) -> Result<(), CliError> {
    let now = r.sim().now;
    let next = r
        .next_deadline()
        .map_or(until, |d| d.min(until))
        .max(now + MIN_JUMP);
    r.advance(next - now);
    r.settle();
    r.step()
}

/// The time to the next change: uniform in `CHURN_GAP_MIN..=CHURN_GAP_MAX`, to the millisecond.
fn gap(rng: &mut ChaCha20Rng) -> Duration {
    let lo = CHURN_GAP_MIN.as_millis() as u64;
    let span = CHURN_GAP_MAX.as_millis() as u64 - lo + 1;
    Duration::from_millis(lo + rng.next_u64() % span)
}

/// One change: a leave when the meeting is full (or by a coin flip), a join when it is down to
/// half (or by the coin flip). A join is a rejoin of an earlier leaver (same identity) half of
/// the time, otherwise a new participant. A leave picks anyone present, the leader included.
fn change(
    r: &mut Runner,
    rng: &mut ChaCha20Rng,
    tracker: &mut Tracker,
    n: usize,
    next_fresh: &mut usize,
) -> Result<(), CliError> {
    let present: Vec<String> = r
        .sim()
        .participants
        .iter()
        .filter(|(id, m)| !m.is_ended() && !r.leavers.contains(*id) && !r.paused.contains(*id))
        .map(|(id, _)| id.clone())
        .collect();
    let coin = rng.next_u32().is_multiple_of(2);
    let leave = present.len() >= n || (present.len() > n / 2 && coin);
    if leave {
        let active = r.active();
        let Some(id) = pick(rng, &active) else {
            return Ok(());
        };
        let kind = if r.leader().as_deref() == Some(id.as_str()) {
            ChangeKind::LeaderLeave
        } else {
            ChangeKind::Leave
        };
        tracker.changed(r, kind, &id);
        r.leave(&id);
        return Ok(());
    }
    let leavers: Vec<String> = r
        .leavers
        .iter()
        .filter(|id| !present.contains(id))
        .cloned()
        .collect();
    let rejoin = rng.next_u32().is_multiple_of(2);
    let (kind, id) = match pick(rng, &leavers) {
        Some(id) if rejoin => (ChangeKind::Rejoin, id),
        _ => {
            *next_fresh += 1;
            (ChangeKind::Join, name(*next_fresh - 1))
        }
    };
    tracker.changed(r, kind, &id);
    let why = match kind {
        ChangeKind::Rejoin => "rejoins with the same identity",
        _ => "joins for the first time",
    };
    r.join(&id, why)
}

fn pick(rng: &mut ChaCha20Rng, from: &[String]) -> Option<String> {
    if from.is_empty() {
        return None;
    }
    from.get(rng.next_u64() as usize % from.len()).cloned()
}
