//! Attacks by withholding messages: starving the leader's successor (`fork-nonce`) and cutting
//! off a member the leader removes together with a friend (`partition-removed`).
//! `spec/state-machine.md` 10.6 and 12.3–12.6: a failover needs a quorum, so a cut-off minority
//! elects nobody and a stably removed member never gets the keys of a later epoch.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use conclave_core::meeting::Event;
use conclave_core::sim::{InFlight, TapAction};

use super::{Attack, Findings, agreed_leader, count_events, leaders, ranked};
use crate::CliError;
use crate::sim::runner::Runner;

/// Heartbeat intervals the relay keeps `{member, removed member}` cut off.
const PARTITION_INTERVALS: u32 = 30;

/// `fork-nonce`: the relay drops every message of the leader to its successor for twice the
/// failover timeout, then heals.
#[derive(Default)]
pub(crate) struct ForkNonce {
    leader: String,
    successor: String,
    events_start: usize,
    dropped: Rc<Cell<u64>>,
    healed_at: Option<Duration>,
    /// Participants other than the leader that were ever leader during the attack.
    usurpers: BTreeSet<String>,
    agreed_after: Option<String>,
}

impl Attack for ForkNonce {
    fn expected(&self) -> &'static [&'static str] {
        &["NoQuorum"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let Some(successor) = ranked(r, &leader).into_iter().next() else {
            return Ok(None);
        };
        self.events_start = r.sim().events.len();
        let (from, to, dropped) = (leader.clone(), successor.clone(), Rc::clone(&self.dropped));
        r.set_mutate(Some(Box::new(move |m: &mut InFlight| {
            if m.from == from && m.to == to {
                dropped.set(dropped.get() + 1);
                TapAction::Drop
            } else {
                TapAction::Deliver
            }
        })));
        let starve = starve_time(r);
        let text = format!(
            "the relay drops every message of {leader} (leader) to {successor} (its successor) \
             for {:.1} s, past the failover timeout of {:.1} s, then heals",
            starve.as_secs_f64(),
            (r.config.heartbeat_interval * r.config.missed_heartbeats_limit).as_secs_f64()
        );
        self.leader = leader;
        self.successor = successor;
        Ok(Some(text))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        for l in leaders(r) {
            if l != self.leader {
                self.usurpers.insert(l);
            }
        }
        let hb = r.config.heartbeat_interval;
        let limit = r.config.missed_heartbeats_limit;
        let Some(healed) = self.healed_at else {
            if elapsed >= starve_time(r) {
                r.set_mutate(None);
                self.healed_at = Some(elapsed);
                f.note(
                    r,
                    format!(
                        "the relay heals: {} of {}'s messages to {} were dropped",
                        self.dropped.get(),
                        self.leader,
                        self.successor
                    ),
                );
            }
            return Ok(false);
        };
        let settled =
            agreed_leader(r).is_some_and(|l| l == self.leader) && elapsed >= healed + hb * 2;
        if settled || elapsed >= healed + hb * (2 * limit + 8) {
            self.agreed_after = agreed_leader(r);
            return Ok(true);
        }
        Ok(false)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let limit = r.config.missed_heartbeats_limit;
        let succ = self.successor.as_str();
        let missed = r
            .sim()
            .events
            .iter()
            .skip(self.events_start)
            .filter_map(|(id, e)| match e {
                Event::HeartbeatMissed { missed, .. } if id == succ => Some(*missed),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let ended = count_events(r, self.events_start, |id, e| {
            id == succ && matches!(e, Event::Ended { .. })
        });
        f.metric("messages_dropped", self.dropped.get());
        f.metric("successor_missed_heartbeats", u64::from(missed));
        f.metric("usurpers", self.usurpers.len() as u64);
        let starved = missed >= limit && self.dropped.get() > 0;
        let no_failover = self.usurpers.is_empty();
        let back = self.agreed_after.as_deref() == Some(self.leader.as_str());
        f.notes.push(format!(
            "{succ} missed up to {missed} heartbeats of {} (the failover limit is {limit}){}",
            self.leader,
            if ended > 0 {
                "; it ended by the out-of-date timeout and its application rejoined"
            } else {
                ""
            }
        ));
        f.notes.push(if no_failover {
            format!(
                "no failover: {succ} won no quorum (the others still heard {}), nobody else \
                 ever led",
                self.leader
            )
        } else {
            format!(
                "FAILOVER WITHOUT QUORUM: {} led during the attack",
                self.usurpers.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        });
        f.notes.push(match &self.agreed_after {
            Some(l) => format!("after healing everyone agrees again, led by {l}"),
            None => "after healing the members did NOT agree".into(),
        });
        if starved && no_failover {
            f.evidence(
                r,
                succ,
                "starvation",
                "NoQuorum",
                format!(
                    "{succ} missed {missed} heartbeats of {} but no majority pre-voted for it: no \
                     failover, so no second branch and no second sealing of any (key, nonce) \
                     (FO-2, FR-SEND)",
                    self.leader
                ),
            );
        }
        starved && no_failover && back
    }
}

fn starve_time(r: &Runner) -> Duration {
    r.config.heartbeat_interval * (r.config.missed_heartbeats_limit + 3)
}

/// `partition-removed`: the relay cuts off `{a member, the member the leader then removes}` (or
/// only the removed member in meetings under five, where two would be half) for
/// `PARTITION_INTERVALS` heartbeat intervals, then heals.
#[derive(Default)]
pub(crate) struct PartitionRemoved {
    leader: String,
    removed: String,
    cut: BTreeSet<String>,
    removed_epoch: u64,
    removed_max_epoch: u64,
    minority_leaders: BTreeSet<String>,
    healed: bool,
    removal_applied: bool,
}

impl Attack for PartitionRemoved {
    fn expected(&self) -> &'static [&'static str] {
        &["NoQuorum", "DurableRemoval"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let others = ranked(r, &leader);
        let Some(removed) = others.last().cloned() else {
            return Ok(None);
        };
        let mut cut = BTreeSet::from([removed.clone()]);
        // Two cut off are a minority only from five members on.
        let friend = others.first().filter(|_| others.len() + 1 >= 5).cloned();
        if let Some(x) = &friend {
            cut.insert(x.clone());
        } else {
            f.notes.push(format!(
                "with {} members two would not be a minority: only {removed} is cut off",
                others.len() + 1
            ));
        }
        let rest: BTreeSet<String> = r
            .active()
            .into_iter()
            .filter(|id| !cut.contains(id))
            .collect();
        r.set_partition(Some(rest));
        // The removed member's application does not rejoin (a rejoin is a new admission).
        r.leavers.insert(removed.clone());
        self.removed_epoch = r.sim().participants.get(&removed).map_or(0, |m| m.epoch());
        self.removed_max_epoch = self.removed_epoch;
        let _ = r.act(&leader, |m, now, _| m.remove(&removed, now));
        let text = format!(
            "the relay cuts off {{{}}} from the rest for {PARTITION_INTERVALS} heartbeat \
             intervals, while {leader} (leader) removes {removed}",
            cut.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        self.leader = leader;
        self.removed = removed;
        self.cut = cut;
        Ok(Some(text))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if let Some(m) = r.sim().participants.get(&self.removed) {
            self.removed_max_epoch = self.removed_max_epoch.max(m.epoch());
        }
        for l in leaders(r) {
            if self.cut.contains(&l) {
                self.minority_leaders.insert(l);
            }
        }
        if !self.removal_applied {
            self.removal_applied = r.sim().participants.get(&self.leader).is_some_and(|m| {
                !m.participants()
                    .iter()
                    .any(|p| p.participant_id == self.removed)
            });
        }
        let hb = r.config.heartbeat_interval;
        if !self.healed {
            if elapsed >= hb * PARTITION_INTERVALS {
                r.set_partition(None);
                self.healed = true;
                f.note(r, "the relay heals the partition".into());
            }
            return Ok(false);
        }
        let settled = agreed_leader(r).is_some() && r.settled_down();
        let limit = r.config.missed_heartbeats_limit;
        Ok((settled && elapsed >= hb * (PARTITION_INTERVALS + 2))
            || elapsed >= hb * (PARTITION_INTERVALS + 2 * limit + 8))
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let later = self.removed_max_epoch > self.removed_epoch;
        let removed_state = match r.sim().participants.get(&self.removed) {
            Some(m) if m.is_ended() => "its meeting ended",
            Some(m) if m.is_active() => "it still thinks it is in the meeting",
            _ => "it is gone",
        };
        f.metric("removed_epoch_at_removal", self.removed_epoch);
        f.metric("removed_highest_epoch", self.removed_max_epoch);
        f.metric("minority_leaders", self.minority_leaders.len() as u64);
        f.notes.push(format!(
            "{} removed {} (commit stable on the majority side: {}); {} held epoch {} at most, \
             its epoch at the removal ({removed_state})",
            self.leader,
            self.removed,
            if self.removal_applied { "yes" } else { "NO" },
            self.removed,
            self.removed_max_epoch
        ));
        let cut = self.cut.iter().cloned().collect::<Vec<_>>().join(", ");
        f.notes.push(if self.minority_leaders.is_empty() {
            format!("the cut-off side {{{cut}}} elected no leader: it holds no majority (FO-2)")
        } else {
            format!(
                "the cut-off side ELECTED {}",
                self.minority_leaders
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        if !later && self.removal_applied {
            f.evidence(
                r,
                &self.removed,
                "partition",
                "DurableRemoval",
                format!(
                    "{} never got the keys of an epoch after its removal (held epoch {} at most)",
                    self.removed, self.removed_max_epoch
                ),
            );
        }
        if self.minority_leaders.is_empty() {
            f.evidence(
                r,
                &cut,
                "partition",
                "NoQuorum",
                "the cut-off side holds no majority of the roster and elected no leader".into(),
            );
        }
        !later && self.removal_applied && self.minority_leaders.is_empty()
    }
}
