//! `split-view` (`spec/state-machine.md` 12.3, FO-2): the relay partitions the meeting so that
//! half of it stops hearing the leader. With quorum failover the cut-off half elects nobody;
//! were it to elect a leader, the two branches would show different security codes.

use std::collections::BTreeSet;
use std::time::Duration;

use conclave_core::sim::forge;

use super::{Attack, Findings, Flavor};
use crate::CliError;
use crate::sim::records::Detection;
use crate::sim::runner::Runner;

/// (epoch, security code) pairs a side shows.
type SideState = BTreeSet<(u64, String)>;

/// `split-view`.
#[derive(Default)]
pub(crate) struct SplitView {
    /// Side A keeps the leader; side B is cut off from it.
    sides: Option<(BTreeSet<String>, BTreeSet<String>)>,
    /// Absolute virtual time of the start (the time of the no-quorum evidence).
    started: Duration,
    /// The relay's log length at the start (the commits made during the split follow it).
    log_start: usize,
    /// Whether the sides were compared and the partition healed.
    healed: bool,
    codes_differ: Option<bool>,
    split_prevented: Option<bool>,
}

fn joined(side: &BTreeSet<String>) -> String {
    side.iter().cloned().collect::<Vec<_>>().join(", ")
}

impl SplitView {
    fn side_state(r: &Runner, side: &BTreeSet<String>) -> SideState {
        side.iter()
            .filter_map(|id| r.sim().participants.get(id))
            .filter(|m| m.is_active())
            .filter_map(|m| m.security_code().map(|c| (m.epoch(), c)))
            .collect()
    }

    /// Compares the two sides' codes, notes them, shows each side the other's commits and heals.
    fn compare_and_heal(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        (a, b): (BTreeSet<String>, BTreeSet<String>),
        (sa, sb): (SideState, SideState),
        b_leads: bool,
    ) {
        let codes_a: BTreeSet<&String> = sa.iter().map(|x| &x.1).collect();
        let codes_b: BTreeSet<&String> = sb.iter().map(|x| &x.1).collect();
        let differ = !codes_a.is_empty() && !codes_b.is_empty() && codes_a.is_disjoint(&codes_b);
        self.codes_differ = Some(differ);
        // With quorum failover (state-machine.md 12.3) a side without a majority cannot elect
        // a leader: the split is prevented, not merely visible.
        self.split_prevented = Some(!b_leads);
        if !b_leads {
            f.notes.push(
                "the cut-off side elected no leader: it holds no majority (FO-2), so the relay \
                 could not make a second branch"
                    .to_string(),
            );
        }
        let show = |s: &SideState| {
            s.iter()
                .map(|(e, c)| format!("epoch {e} code {c}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let line_a = format!("side {{{}}} shows {}", joined(&a), show(&sa));
        let line_b = format!("side {{{}}} shows {}", joined(&b), show(&sb));
        r.note("attack", line_a.clone());
        r.note("attack", line_b.clone());
        f.notes.push(line_a);
        f.notes.push(line_b);
        f.notes.push(format!(
            "security codes of the two sides {}",
            if differ {
                "differ: comparing them out of band reveals the split"
            } else {
                "DO NOT differ"
            }
        ));
        // The relay now shows each side the other side's commits.
        let cross: Vec<(String, Vec<u8>)> = r
            .control_log()
            .get(self.log_start..)
            .unwrap_or_default()
            .iter()
            .filter(|m| forge::is_commit(&m.payload))
            .flat_map(|m| {
                let other = if a.contains(&m.from) { &b } else { &a };
                other
                    .iter()
                    .map(|to| (to.clone(), m.payload.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let n = cross.len();
        for (to, p) in cross {
            r.inject(&to, p);
        }
        r.set_partition(None);
        r.note(
            "attack",
            format!(
                "the relay shows each side the other's commits ({n} deliveries) and heals the \
                 partition"
            ),
        );
        self.healed = true;
    }
}

impl Attack for SplitView {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn expected(&self) -> &'static [&'static str] {
        &[]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = r.leader() else {
            return Ok(None);
        };
        let active = r.active();
        let mut ranked: Vec<(u64, u32, String)> = r.sim().participants[&leader]
            .participants()
            .into_iter()
            .filter(|p| p.participant_id != leader && active.contains(&p.participant_id))
            .map(|p| (p.admitted_epoch, p.leaf, p.participant_id))
            .collect();
        ranked.sort();
        let half = ranked.len().div_ceil(2);
        let side_b: BTreeSet<String> = ranked.iter().take(half).map(|x| x.2.clone()).collect();
        let side_a: BTreeSet<String> = active
            .into_iter()
            .filter(|id| !side_b.contains(id))
            .collect();
        r.set_partition(Some(side_a.clone()));
        let text = format!(
            "the relay partitions the meeting: {{{}}} keep {leader} as leader, \
             {{{}}} stop hearing it and fail over to a leader of their own",
            joined(&side_a),
            joined(&side_b)
        );
        self.sides = Some((side_a, side_b));
        self.started = r.sim().now;
        self.log_start = r.control_log().len();
        Ok(Some(text))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        let hb = r.config.heartbeat_interval;
        let limit = r.config.missed_heartbeats_limit;
        if self.healed {
            return Ok(elapsed >= hb * (2 * limit + 8));
        }
        let Some((a, b)) = self.sides.clone() else {
            return Ok(false);
        };
        let (sa, sb) = (Self::side_state(r, &a), Self::side_state(r, &b));
        let b_leads = b
            .iter()
            .any(|id| r.sim().participants.get(id).is_some_and(|m| m.is_leader()));
        let split_done = b_leads && sa.len() == 1 && sb.len() == 1;
        if split_done || elapsed >= hb * (2 * limit + 4) {
            self.compare_and_heal(r, f, (a, b), (sa, sb), b_leads);
        }
        Ok(false)
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        if self.split_prevented == Some(true)
            && let Some((_, b)) = &self.sides
        {
            f.evidence.push(Detection {
                t: self.started.as_secs_f64(),
                at: joined(b),
                from: "relay".into(),
                what: "partition".into(),
                kind: "NoQuorum".into(),
                error: "the cut-off side holds no majority and elected no leader \
                        (state-machine.md FO-2): no second branch exists"
                    .into(),
            });
        }
        self.codes_differ == Some(true) || self.split_prevented == Some(true)
    }
}
