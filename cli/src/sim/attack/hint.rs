//! `false-hint`: the relay tells every member, every second for three heartbeat intervals,
//! that the live leader's connection closed. `spec/state-machine.md` VOTE-0: each member probes
//! the leader, the leader answers with a heartbeat within `PROBE_ANSWER_GAP`, and the hint is
//! dropped: no failover, no pause in sending, one leader throughout (the meeting's own
//! rotation goes on).

use std::time::Duration;

use conclave_core::meeting::Event;

use super::{Attack, Findings, agreed_leader, count_events, leaders};
use crate::CliError;
use crate::sim::runner::Runner;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct FalseHint {
    leader: String,
    events_from: usize,
    hints: u64,
    next_hint: Duration,
    most_leaders: usize,
    leader_at_end: Option<String>,
    /// Pauses in sending and missed-heartbeat reports during the attack.
    paused: u64,
    missed: u64,
}

impl FalseHint {
    fn hint_all(&mut self, r: &mut Runner) {
        for id in r.active() {
            if id == self.leader {
                continue;
            }
            let _ = r.act(&id, |m, now, rng| {
                m.leader_connection_closed(now, rng);
                Ok(())
            });
            self.hints += 1;
        }
    }
}

impl Attack for FalseHint {
    fn expected(&self) -> &'static [&'static str] {
        &["HintContradicted"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        self.leader = leader.clone();
        self.events_from = r.sim().events.len();
        self.hint_all(r);
        self.next_hint = Duration::from_secs(1);
        Ok(Some(format!(
            "the relay tells every member, every second, that {leader}'s (the leader's) \
             connection closed, although {leader} is alive"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        _: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        self.most_leaders = self.most_leaders.max(leaders(r).len());
        if elapsed >= self.next_hint {
            self.hint_all(r);
            self.next_hint += Duration::from_secs(1);
        }
        let over = elapsed >= r.config.heartbeat_interval * (r.config.missed_heartbeats_limit + 1);
        if over {
            self.leader_at_end = agreed_leader(r);
            self.paused = count_events(r, self.events_from, |_, e| {
                matches!(e, Event::SendingPaused { .. })
            });
            self.missed = count_events(r, self.events_from, |_, e| {
                matches!(e, Event::HeartbeatMissed { .. })
            });
        }
        Ok(over)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let (paused, missed) = (self.paused, self.missed);
        f.metric("hints", self.hints);
        f.metric("sending_paused", paused);
        f.metric("heartbeat_missed", missed);
        f.metric("most_leaders_at_once", self.most_leaders as u64);
        let ok = self.leader_at_end.as_deref() == Some(self.leader.as_str())
            && paused == 0
            && missed == 0
            && self.most_leaders <= 1;
        f.notes.push(format!(
            "{} false hints; leader {} before, {} at the end; {paused} pause(s) in sending, \
             {missed} missed-heartbeat report(s) during the attack",
            self.hints,
            self.leader,
            self.leader_at_end.as_deref().unwrap_or("none agreed"),
        ));
        if ok {
            f.evidence(
                r,
                &self.leader,
                "hint",
                "HintContradicted",
                format!(
                    "{} answered every probe with a heartbeat; no member voted or paused and \
                     the leader stayed",
                    self.leader
                ),
            );
        }
        ok
    }
}
