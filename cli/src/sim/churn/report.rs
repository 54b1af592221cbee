//! The churn soak's report: the distribution of time to agreement, the per-minute samples, the
//! longest periods without agreement with their trace, and the check of the bound of
//! `spec/state-machine.md` section 11.1 for every change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use conclave_core::meeting::MEMBER_TIMEOUT_INTERVALS;
use serde::Serialize;

use super::tracker::{Change, ChangeKind, Outage, Tracker};
use crate::sim::runner::Runner;

/// Changes listed in the report with their drops (the slowest ones).
const SLOWEST_LISTED: usize = 5;

/// The soak's settings, as run.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnSettings {
    /// Participants at the start (and the most at any time).
    pub participants: u32,
    /// Virtual seconds of churn.
    pub duration_s: f64,
    /// Percentage of control messages dropped.
    pub loss_percent: f64,
    /// The seed.
    pub seed: u64,
    /// The heartbeat interval `I`.
    pub heartbeat_ms: u64,
    /// Shortest and longest time between changes.
    pub gap_s: (f64, f64),
}

/// Time to agreement over the changes, in virtual seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Distribution {
    /// Changes that reached agreement.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Changes agreed at the instant of the change (no retry needed).
    pub immediate: usize,
}

/// A change as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    /// What changed.
    pub kind: ChangeKind,
    /// Who joined or left.
    pub who: String,
    /// When (virtual seconds since the soak started).
    pub at_s: f64,
    /// Time to agreement, if reached.
    pub took_s: Option<f64>,
    /// The bound of `spec/state-machine.md` section 11.1 for this change and its drops.
    pub bound_s: f64,
    /// Messages dropped on the change's path, by kind.
    pub path_drops: BTreeMap<&'static str, u32>,
}

/// The churn soak's report.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    /// The settings.
    pub settings: ChurnSettings,
    /// Changes by kind.
    pub changes: BTreeMap<String, usize>,
    /// Time to agreement after each change.
    pub time_to_agreement: Distribution,
    /// The same, per kind of change.
    pub by_kind: BTreeMap<String, Distribution>,
    /// Changes that never reached agreement (by the end of the cool-down).
    pub unresolved: Vec<ChangeRecord>,
    /// Changes whose time to agreement exceeded their bound.
    pub bound_violations: Vec<ChangeRecord>,
    /// The slowest changes.
    pub slowest: Vec<ChangeRecord>,
    /// Minutes sampled, and how many were converged at the sample instant.
    pub minutes_sampled: usize,
    /// Minutes converged at the sample instant.
    pub minutes_converged: usize,
    /// Periods without agreement.
    pub outages: u64,
    /// Their total length in virtual seconds.
    pub outage_total_s: f64,
    /// The longest ones, with what happened in them.
    pub longest_outages: Vec<Outage>,
    /// Events of the soak by kind.
    pub events: BTreeMap<String, u64>,
    /// Control messages dropped by the relay, by kind.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Control messages the relay received (every copy).
    pub carried: u64,
    /// The participants present at the end.
    pub final_members: usize,
    /// Findings of the leak scan (every secret of the run against every carried byte).
    pub leaks: u64,
    /// Wall-clock seconds of the run.
    pub wall_s: f64,
    /// Processor seconds of the run (user and system), where the platform tells.
    pub cpu_s: Option<f64>,
}

impl ChurnReport {
    /// Builds the report from the finished run.
    pub fn new(settings: ChurnSettings, t: Tracker, r: Runner, wall: Instant) -> Self {
        let hb = Duration::from_millis(settings.heartbeat_ms);
        let limit = r.config.missed_heartbeats_limit;
        let records: Vec<ChangeRecord> = t
            .changes
            .iter()
            .map(|c| record(c, &t.changes, hb, limit, t.start()))
            .collect();
        let mut changes = BTreeMap::new();
        let mut by_kind_times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for c in &records {
            *changes.entry(kind_name(c.kind)).or_default() += 1;
            if let Some(took) = c.took_s {
                by_kind_times
                    .entry(kind_name(c.kind))
                    .or_default()
                    .push(took);
            }
        }
        let all: Vec<f64> = records.iter().filter_map(|c| c.took_s).collect();
        let mut slowest: Vec<ChangeRecord> = records
            .iter()
            .filter(|c| c.took_s.is_some())
            .cloned()
            .collect();
        slowest.sort_by(|a, b| b.took_s.unwrap_or(0.0).total_cmp(&a.took_s.unwrap_or(0.0)));
        slowest.truncate(SLOWEST_LISTED);
        let carried = r.carried_messages();
        let final_members = r.active().len();
        let summary = r.into_summary();
        let leaks = summary.scanner.found.values().sum();
        Self {
            changes,
            time_to_agreement: distribution(all),
            by_kind: by_kind_times
                .into_iter()
                .map(|(k, v)| (k, distribution(v)))
                .collect(),
            unresolved: records
                .iter()
                .filter(|c| c.took_s.is_none())
                .cloned()
                .collect(),
            bound_violations: records
                .iter()
                .filter(|c| c.took_s.is_some_and(|took| took > c.bound_s))
                .cloned()
                .collect(),
            slowest,
            minutes_sampled: t.samples.len(),
            minutes_converged: t.samples.iter().filter(|s| s.1).count(),
            outages: t.outage_count,
            outage_total_s: t.outage_total.as_secs_f64(),
            longest_outages: t.outages,
            events: t.event_counts,
            dropped: t.drop_counts,
            carried,
            final_members,
            leaks,
            wall_s: wall.elapsed().as_secs_f64(),
            cpu_s: None,
            settings,
        }
    }

    /// Whether every change reached agreement within its bound and nothing leaked.
    pub fn passed(&self) -> bool {
        self.unresolved.is_empty() && self.bound_violations.is_empty() && self.leaks == 0
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let s = &self.settings;
        let _ = writeln!(
            o,
            "Churn soak: {} participants, {:.0} s virtual, a join or leave every {:.0}-{:.0} s, \
             {}% loss, seed {}, heartbeat {} ms",
            s.participants,
            s.duration_s,
            s.gap_s.0,
            s.gap_s.1,
            s.loss_percent,
            s.seed,
            s.heartbeat_ms
        );
        let kinds: Vec<String> = self
            .changes
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let total: usize = self.changes.values().sum();
        let _ = writeln!(o, "changes: {total} ({})", kinds.join(", "));
        let d = &self.time_to_agreement;
        let _ = writeln!(
            o,
            "time to agreement: p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s \
             ({} of {} at once)",
            d.p50, d.p90, d.p99, d.max, d.immediate, d.count
        );
        for (k, d) in &self.by_kind {
            let _ = writeln!(
                o,
                "  {k:<13} n={:<4} p50 {:>6.2} s  p90 {:>6.2} s  p99 {:>6.2} s  max {:>6.2} s",
                d.count, d.p50, d.p90, d.p99, d.max
            );
        }
        let _ = writeln!(
            o,
            "minutes converged at the sample instant: {} of {}",
            self.minutes_converged, self.minutes_sampled
        );
        let _ = writeln!(
            o,
            "periods without agreement: {} ({:.1} s in all)",
            self.outages, self.outage_total_s
        );
        let _ = writeln!(
            o,
            "bound (spec/state-machine.md 11.1): {} change(s) over it; {} never agreed",
            self.bound_violations.len(),
            self.unresolved.len()
        );
        let drops: Vec<String> = self
            .dropped
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(
            o,
            "relay: {} control messages, dropped {}",
            self.carried,
            drops.join(", ")
        );
        let events: Vec<String> = self
            .events
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(o, "events: {}", events.join(", "));
        let _ = writeln!(o, "\nslowest changes:");
        for c in &self.slowest {
            let _ = writeln!(o, "  {}", change_line(c));
        }
        for c in self.bound_violations.iter().chain(&self.unresolved) {
            let _ = writeln!(o, "  OVER BOUND OR UNRESOLVED: {}", change_line(c));
        }
        self.render_outages(&mut o);
        let _ = writeln!(
            o,
            "\nleak scan: {} finding(s); wall time {:.1} s, processor time {}; {} present at the \
             end",
            self.leaks,
            self.wall_s,
            self.cpu_s
                .map_or("unknown".to_string(), |c| format!("{c:.1} s")),
            self.final_members
        );
        o
    }
}

impl ChurnReport {
    /// The longest periods without agreement, with their traces.
    fn render_outages(&self, o: &mut String) {
        for (i, out) in self.longest_outages.iter().enumerate() {
            let _ = writeln!(
                o,
                "\nlongest period without agreement #{}: {:.2} s (t = {:.2} .. {:.2})",
                i + 1,
                out.duration_s,
                out.start_s,
                out.end_s
            );
            for l in &out.trace {
                let _ = writeln!(o, "  {:>9.3}  {}", l.t, l.text);
            }
            if out.trace_left_out > 0 {
                let _ = writeln!(o, "  ... {} more lines", out.trace_left_out);
            }
        }
    }
}

fn kind_name(k: ChangeKind) -> String {
    match k {
        ChangeKind::Join => "join",
        ChangeKind::Rejoin => "rejoin",
        ChangeKind::Leave => "leave",
        ChangeKind::LeaderLeave => "leader_leave",
    }
    .to_string()
}

fn change_line(c: &ChangeRecord) -> String {
    let drops: Vec<String> = c
        .path_drops
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let took = c
        .took_s
        .map_or("never".to_string(), |t| format!("{t:.2} s"));
    format!(
        "{} of {} at t = {:.2}: {} (bound {:.0} s; dropped on its path: {})",
        kind_name(c.kind),
        c.who,
        c.at_s,
        took,
        c.bound_s,
        if drops.is_empty() {
            "nothing".to_string()
        } else {
            drops.join(", ")
        }
    )
}

/// The bound of `spec/state-machine.md` section 11.1: `I` for each message dropped on the
/// change's path, `MEMBER_TIMEOUT_INTERVALS * I` for a dropped `Leave`, `(L + 2) * I` for a
/// dropped commit when the leader leaves (it may be the handover commit), plus `I` for a rejoin
/// (it waits for a heartbeat to reference, ANN-10).
pub fn bound(
    kind: ChangeKind,
    path_drops: &BTreeMap<&'static str, u32>,
    hb: Duration,
    limit: u32,
) -> f64 {
    let i = hb.as_secs_f64();
    let base = if kind == ChangeKind::Rejoin { i } else { 0.0 };
    path_drops.iter().fold(base, |acc, (k, n)| {
        let each = match *k {
            "Leave" => f64::from(MEMBER_TIMEOUT_INTERVALS) * i,
            "Commit" if kind == ChangeKind::LeaderLeave => f64::from(limit.saturating_add(2)) * i,
            _ => i,
        };
        acc + each * f64::from(*n)
    })
}

/// A change's record. A change made while others were pending cannot agree before they do
/// (agreement is of the whole meeting): its bound is at least the time until they agreed.
fn record(c: &Change, all: &[Change], hb: Duration, limit: u32, start: Duration) -> ChangeRecord {
    let behind = c
        .behind
        .iter()
        .filter_map(|&i| all.get(i)?.agreed)
        .map(|a| a.saturating_sub(c.at).as_secs_f64())
        .fold(0.0, f64::max);
    ChangeRecord {
        kind: c.kind,
        who: c.who.clone(),
        at_s: c.at.saturating_sub(start).as_secs_f64(),
        took_s: c.agreed.map(|a| a.saturating_sub(c.at).as_secs_f64()),
        bound_s: bound(c.kind, &c.path_drops, hb, limit).max(behind),
        path_drops: c.path_drops.clone(),
    }
}

/// Nearest-rank percentiles.
fn distribution(mut v: Vec<f64>) -> Distribution {
    v.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let rank = (q * v.len() as f64).ceil() as usize;
        v.get(rank.saturating_sub(1)).copied().unwrap_or(0.0)
    };
    Distribution {
        count: v.len(),
        p50: pick(0.5),
        p90: pick(0.9),
        p99: pick(0.99),
        max: v.last().copied().unwrap_or(0.0),
        immediate: v.iter().filter(|t| **t == 0.0).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_secs(10);

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = distribution((1..=100).map(f64::from).collect());
        assert_eq!((d.p50, d.p90, d.p99, d.max), (50.0, 90.0, 99.0, 100.0));
        let d = distribution(vec![0.0, 0.0, 7.5]);
        assert_eq!((d.count, d.immediate, d.p50, d.max), (3, 2, 0.0, 7.5));
        assert_eq!(distribution(Vec::new()).max, 0.0);
    }

    #[test]
    fn the_bound_charges_an_interval_per_drop_more_for_a_leave_and_a_handover_commit() {
        let none = BTreeMap::new();
        assert_eq!(bound(ChangeKind::Join, &none, I, 3), 0.0);
        assert_eq!(bound(ChangeKind::Rejoin, &none, I, 3), 10.0);
        let drops = BTreeMap::from([("Welcome", 2), ("Heartbeat", 1)]);
        assert_eq!(bound(ChangeKind::Join, &drops, I, 3), 30.0);
        let leave = BTreeMap::from([("Leave", 1)]);
        assert_eq!(bound(ChangeKind::Leave, &leave, I, 3), 60.0);
        let commit = BTreeMap::from([("Commit", 1)]);
        assert_eq!(bound(ChangeKind::Leave, &commit, I, 3), 10.0);
        assert_eq!(bound(ChangeKind::LeaderLeave, &commit, I, 3), 50.0);
    }
}
