//! `drop-handover`: the leader leaves and the relay drops only the handover commit on its way to
//! the successor. `spec/state-machine.md` 12.2 HO-1: the old leader re-sends it at each
//! heartbeat-watchdog interval until the new leader's rebuild, so the meeting keeps one leader
//! and one security code.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_core::protocol::v1::{self as pb, CommitReason, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded};
use conclave_core::sim::{InFlight, TapAction};

use super::{Attack, Findings, agreed_leader, leaders, ranked};
use crate::CliError;
use crate::sim::runner::Runner;
use conclave_core::sim::forge::body;

/// Whether `payload` is a handover commit (reason `HANDOVER`, not the rebuild).
fn is_handover_commit(payload: &[u8]) -> bool {
    let Some(Body::Commit(bundle)) = body(payload) else {
        return false;
    };
    let Some(signed) = bundle.commit else {
        return false;
    };
    decode_bounded::<pb::Commit>(MessageKind::Commit, &signed.content, MAX_ENVELOPE_SIZE)
        .is_ok_and(|c| c.reason == CommitReason::Handover as i32 && !c.rebuild)
}

/// Copies of the handover commit from the old leader to the successor: dropped, then passed.
#[derive(Default)]
struct Copies {
    dropped: Cell<u64>,
    passed: Cell<u64>,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct DropHandover {
    leader: String,
    successor: String,
    copies: Rc<Copies>,
    most_leaders: usize,
    /// When the successor led an agreed meeting (time since the start).
    resolved: Option<Duration>,
    codes_at_end: usize,
    leader_at_end: Option<String>,
}

impl Attack for DropHandover {
    fn expected(&self) -> &'static [&'static str] {
        &["HandoverResent"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let Some(successor) = ranked(r, &leader).into_iter().next() else {
            return Ok(None);
        };
        let (from, to, copies) = (leader.clone(), successor.clone(), Rc::clone(&self.copies));
        r.set_mutate(Some(Box::new(move |m: &mut InFlight| {
            if m.from != from || m.to != to || !is_handover_commit(&m.payload) {
                return TapAction::Deliver;
            }
            if copies.dropped.get() == 0 {
                copies.dropped.set(1);
                TapAction::Drop
            } else {
                copies.passed.set(copies.passed.get() + 1);
                TapAction::Deliver
            }
        })));
        self.leader = leader.clone();
        self.successor = successor.clone();
        r.leave(&leader);
        Ok(Some(format!(
            "{leader} (leader) leaves and hands over to {successor}; the relay drops the \
             handover commit on its way to {successor} (and only that message)"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        self.most_leaders = self.most_leaders.max(leaders(r).len());
        let hb = r.config.heartbeat_interval;
        let limit = r.config.missed_heartbeats_limit;
        if self.resolved.is_none() && agreed_leader(r).is_some_and(|l| l == self.successor) {
            let gone = r
                .sim()
                .participants
                .get(&self.leader)
                .is_none_or(|m| !m.is_active());
            if gone {
                self.resolved = Some(elapsed);
                f.note(
                    r,
                    format!(
                        "{} leads an agreed meeting {:.2} s after the leave; {} is out",
                        self.successor,
                        elapsed.as_secs_f64(),
                        self.leader
                    ),
                );
            }
        }
        let over =
            self.resolved.is_some_and(|t| elapsed >= t + hb) || elapsed >= hb * (2 * limit + 4);
        if over {
            r.set_mutate(None);
            self.leader_at_end = agreed_leader(r);
            let codes: std::collections::BTreeSet<String> = r
                .active()
                .iter()
                .filter_map(|id| r.sim().participants.get(id)?.security_code())
                .collect();
            self.codes_at_end = codes.len();
        }
        Ok(over)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let (dropped, passed) = (self.copies.dropped.get(), self.copies.passed.get());
        f.metric("handover_dropped", dropped);
        f.metric("handover_resent", passed);
        f.metric("most_leaders_at_once", self.most_leaders as u64);
        f.metric("codes_at_end", self.codes_at_end as u64);
        let deadline = r.config.heartbeat_interval * (r.config.missed_heartbeats_limit + 1);
        let prompt = self.resolved.is_some_and(|t| t <= deadline);
        f.notes.push(format!(
            "the relay dropped {dropped} copy of the handover commit to {}; {} re-sent it and \
             {passed} cop{} got through (HO-1)",
            self.successor,
            self.leader,
            if passed == 1 { "y" } else { "ies" }
        ));
        f.notes.push(format!(
            "at most {} leader(s) at once; at the end {} security code(s), leader {}; resolved {}",
            self.most_leaders,
            self.codes_at_end,
            self.leader_at_end.as_deref().unwrap_or("none agreed"),
            match self.resolved {
                Some(t) => format!("{:.2} s after the leave", t.as_secs_f64()),
                None => "NEVER".into(),
            }
        ));
        let ok = dropped == 1
            && passed >= 1
            && prompt
            && self.most_leaders <= 1
            && self.codes_at_end == 1
            && self.leader_at_end.as_deref() == Some(self.successor.as_str());
        if ok {
            f.evidence(
                r,
                &self.successor,
                "handover commit",
                "HandoverResent",
                format!(
                    "{} re-sent the dropped handover commit; {} took over with one branch and \
                     one security code",
                    self.leader, self.successor
                ),
            );
        }
        ok
    }
}
