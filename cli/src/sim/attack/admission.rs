//! Attacks on admission (`spec/state-machine.md` section 5, ANN-10 to ANN-12): the relay
//! registers a participant of its own (`relay-member`), replays the announcement of an earlier
//! membership (`stale-announcement`), and brings a removed member back (`removed-rejoin`).

use std::collections::BTreeSet;
use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{AdmissionPolicy, Event, JoinRefusal};
use conclave_core::protocol::v1::envelope::Body;

use super::{Attack, Findings, agreed_leader, ranked};
use crate::CliError;
use crate::sim::records::name;
use crate::sim::runner::Runner;
use conclave_core::sim::forge::body;

/// The id the relay registers for its own participant.
const RELAY_MEMBER: &str = "mallory";

/// Gives the meeting an allow-list of the identities of its `members` invitees (created now,
/// the same ones they join and rejoin with), as an application that knows who it invited.
pub(crate) fn allow_invitees(r: &mut Runner, members: usize) {
    let list: BTreeSet<String> = (0..members)
        .map(|i| r.new_identity(&name(i)).public().fingerprint_string())
        .collect();
    r.set_admission(AdmissionPolicy::AllowList(list));
}

/// `JoinRefused` events for `id` since event `from`, by reason.
fn refusals(r: &Runner, from: usize, id: &str) -> Vec<JoinRefusal> {
    r.sim()
        .events
        .iter()
        .skip(from)
        .filter_map(|(_, e)| match e {
            Event::JoinRefused {
                participant_id,
                reason,
            } if participant_id == id => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Whether `id` is in the roster of any active participant other than itself.
fn in_some_roster(r: &Runner, id: &str) -> bool {
    r.active().iter().filter(|x| *x != id).any(|x| {
        r.sim()
            .participants
            .get(x)
            .is_some_and(|m| m.participants().iter().any(|p| p.participant_id == id))
    })
}

/// The distinct announcements `id` sent so far, as the relay logged them.
fn announcements_of(r: &Runner, id: &str) -> Vec<Vec<u8>> {
    r.control_log()
        .iter()
        .filter(|m| m.from == id && matches!(body(&m.payload), Some(Body::Announcement(_))))
        .map(|m| m.payload.clone())
        .collect()
}

/// Rejections at `at` of messages the relay injected, from rejection index `from`.
fn relay_rejections(r: &Runner, from: usize, at: &str) -> Vec<String> {
    r.sim()
        .rejections
        .iter()
        .skip(from)
        .filter(|x| x.at == at && x.from == "relay")
        .map(|x| crate::sim::records::kind_name(x.error.kind().as_str()))
        .collect()
}

/// `relay-member`: in a meeting that admits an allow-list, the relay joins with a participant of
/// its own under a fresh identity.
#[derive(Default)]
pub(crate) struct RelayMember {
    leader: String,
    events_start: usize,
    admitted: bool,
    refused: Vec<JoinRefusal>,
}

impl Attack for RelayMember {
    fn expected(&self) -> &'static [&'static str] {
        &["Refused", "NotAllowed"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        self.events_start = r.sim().events.len();
        let key = IdentityKey::generate(r.engine_rng());
        r.leavers.insert(RELAY_MEMBER.into());
        r.join_with(RELAY_MEMBER, key)
            .map_err(|e| CliError::failed(format!("attack setup: {e}")))?;
        let policy = match &r.config.admission {
            AdmissionPolicy::AllowList(l) => format!("an allow-list of {} identities", l.len()),
            p => format!("{p:?}"),
        };
        self.leader = leader.clone();
        Ok(Some(format!(
            "the relay registers a participant of its own, '{RELAY_MEMBER}', with a fresh \
             identity; {leader} (leader) admits {policy}"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        self.admitted |= in_some_roster(r, RELAY_MEMBER);
        let hb = r.config.heartbeat_interval;
        if elapsed < hb * (r.config.missed_heartbeats_limit + 1) {
            return Ok(false);
        }
        self.refused = refusals(r, self.events_start, RELAY_MEMBER);
        r.discard(RELAY_MEMBER);
        f.note(
            r,
            format!(
                "the relay gives up: '{RELAY_MEMBER}' announced itself {} time(s)",
                self.refused.len()
            ),
        );
        Ok(true)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let not_allowed = self
            .refused
            .iter()
            .filter(|x| **x == JoinRefusal::NotAllowed)
            .count();
        f.metric("refused", self.refused.len() as u64);
        f.metric("admitted", u64::from(self.admitted));
        f.notes.push(format!(
            "'{RELAY_MEMBER}' admitted: {}; {} refused it {} time(s) ({not_allowed} not on the \
             allow-list)",
            if self.admitted { "YES" } else { "no" },
            self.leader,
            self.refused.len()
        ));
        if not_allowed > 0 && !self.admitted {
            f.evidence(
                r,
                &self.leader,
                "announcement",
                "NotAllowed",
                format!("'{RELAY_MEMBER}': {}", JoinRefusal::NotAllowed.describe()),
            );
        }
        not_allowed > 0 && !self.admitted
    }
}

/// Where `stale-announcement` is.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Left,
    Rejoining,
    Replayed(Duration),
}

/// `stale-announcement`: a member joins, leaves and rejoins; the relay replays its first
/// announcement to the leader.
#[derive(Default)]
pub(crate) struct StaleAnnouncement {
    leader: String,
    member: String,
    first: Vec<u8>,
    stage: Stage,
    rejections_start: usize,
    view: Option<(u32, u64, Option<String>)>,
    view_after: Option<(u32, u64, Option<String>)>,
    replay_rejected: Vec<String>,
}

impl StaleAnnouncement {
    fn view(r: &Runner, id: &str) -> Option<(u32, u64, Option<String>)> {
        let m = r.sim().participants.get(id).filter(|m| m.is_active())?;
        Some((m.own_leaf(), m.epoch(), m.security_code()))
    }
}

impl Attack for StaleAnnouncement {
    fn expected(&self) -> &'static [&'static str] {
        &["Replayed"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let Some(member) = ranked(r, &leader).last().cloned() else {
            return Ok(None);
        };
        let Some(first) = announcements_of(r, &member).into_iter().next() else {
            return Ok(None);
        };
        self.first = first;
        r.leave(&member);
        let text = format!(
            "{member} leaves and rejoins with the same identity; the relay then replays \
             {member}'s first announcement to {leader} (leader)"
        );
        self.leader = leader;
        self.member = member;
        Ok(Some(text))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        let hb = r.config.heartbeat_interval;
        match self.stage {
            Stage::Left if elapsed >= hb && !in_some_roster(r, &self.member) => {
                r.join(&self.member, "rejoins with the same identity")?;
                self.stage = Stage::Rejoining;
            }
            Stage::Rejoining if agreed_leader(r).is_some() => {
                if let Some(v) = Self::view(r, &self.member) {
                    self.view = Some(v);
                    self.rejections_start = r.sim().rejections.len();
                    r.inject(&self.leader.clone(), self.first.clone());
                    r.settle();
                    f.note(
                        r,
                        format!(
                            "{} is back; the relay replays its first announcement to {}",
                            self.member, self.leader
                        ),
                    );
                    self.stage = Stage::Replayed(elapsed);
                }
            }
            Stage::Replayed(at) if elapsed >= at + hb * 2 => {
                self.replay_rejected = relay_rejections(r, self.rejections_start, &self.leader);
                self.view_after = Self::view(r, &self.member);
                return Ok(true);
            }
            _ => {}
        }
        let limit = r.config.missed_heartbeats_limit;
        Ok(elapsed >= hb * (4 * limit + 20))
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        let replayed = self.replay_rejected.iter().any(|k| k == "Replayed");
        let unaffected = self.view.is_some() && self.view == self.view_after;
        f.metric("replay_rejected", u64::from(replayed));
        f.metric("member_unaffected", u64::from(unaffected));
        f.notes.push(format!(
            "the replayed announcement was {}; {} {}",
            if replayed {
                "rejected as a replay"
            } else {
                "NOT rejected as a replay"
            },
            self.member,
            if unaffected {
                "kept its leaf, epoch and security code"
            } else {
                "WAS AFFECTED (or never got back in)"
            }
        ));
        if replayed && unaffected {
            f.evidence(
                r,
                &self.leader,
                "announcement",
                "Replayed",
                format!(
                    "{}'s first announcement references no heartbeat since its last admission \
                     (ANN-10): refused, the live membership is untouched",
                    self.member
                ),
            );
        }
        replayed && unaffected
    }
}

/// `removed-rejoin`: the leader removes a member; its application rejoins with the same
/// identity while the relay replays its old announcements, first unlocked, then locked.
#[derive(Default)]
pub(crate) struct RemovedRejoin {
    leader: String,
    member: String,
    old: Vec<Vec<u8>>,
    events_start: usize,
    rejections_start: usize,
    locked_at: Option<Duration>,
    readmitted: bool,
    refused_unlocked: usize,
    refused_locked: usize,
    replays_rejected: usize,
}

impl RemovedRejoin {
    fn replay(&self, r: &mut Runner) {
        for a in &self.old {
            r.inject(&self.leader, a.clone());
        }
    }
}

impl Attack for RemovedRejoin {
    fn expected(&self) -> &'static [&'static str] {
        &["Refused", "Replayed"]
    }

    fn start(&mut self, r: &mut Runner, _: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = agreed_leader(r) else {
            return Ok(None);
        };
        let Some(member) = ranked(r, &leader).last().cloned() else {
            return Ok(None);
        };
        self.old = announcements_of(r, &member);
        self.events_start = r.sim().events.len();
        self.rejections_start = r.sim().rejections.len();
        let _ = r.act(&leader, |m, now, _| m.remove(&member, now));
        let text = format!(
            "{leader} (leader) removes {member}; {member}'s application rejoins with the same \
             identity and the relay replays its {} old announcement(s), then {leader} locks the \
             meeting and both try again",
            self.old.len()
        );
        self.leader = leader;
        self.member = member;
        Ok(Some(text))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        let removed = !in_some_roster(r, &self.member);
        if self.locked_at.is_some() || elapsed > r.config.heartbeat_interval {
            self.readmitted |= !removed;
        }
        let wait = r.config.heartbeat_interval * (r.config.missed_heartbeats_limit + 1);
        match self.locked_at {
            None if elapsed >= wait => {
                self.replay(r);
                r.settle();
                self.refused_unlocked = refusals(r, self.events_start, &self.member).len();
                let _ = r.act(&self.leader, |m, now, _| m.lock(true, now));
                r.settle();
                self.events_start = r.sim().events.len();
                self.replay(r);
                self.locked_at = Some(elapsed);
                f.note(
                    r,
                    format!(
                        "{} locks the meeting; the relay replays {}'s old announcements again",
                        self.leader, self.member
                    ),
                );
            }
            Some(at) if elapsed >= at + wait => {
                r.settle();
                self.refused_locked = refusals(r, self.events_start, &self.member).len();
                self.replays_rejected = relay_rejections(r, self.rejections_start, &self.leader)
                    .len()
                    .min(self.old.len() * 2);
                // The application gives up; the meeting is unlocked again.
                r.leavers.insert(self.member.clone());
                r.discard(&self.member);
                let _ = r.act(&self.leader, |m, now, _| m.lock(false, now));
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    fn verdict(&self, r: &Runner, f: &mut Findings) -> bool {
        f.metric("readmitted", u64::from(self.readmitted));
        f.metric("refused_unlocked", self.refused_unlocked as u64);
        f.metric("refused_locked", self.refused_locked as u64);
        f.metric("replays_rejected", self.replays_rejected as u64);
        f.notes.push(format!(
            "{} refused {}'s rejoin {} time(s) unlocked and {} time(s) locked; {} replayed old \
             announcement(s) rejected; re-admitted: {}",
            self.leader,
            self.member,
            self.refused_unlocked,
            self.refused_locked,
            self.replays_rejected,
            if self.readmitted { "YES" } else { "no" }
        ));
        let ok = !self.readmitted
            && self.refused_unlocked > 0
            && self.refused_locked > 0
            && self.replays_rejected > 0;
        if ok {
            f.evidence(
                r,
                &self.leader,
                "rejoin",
                "Removed",
                format!(
                    "{}: {} (ANN-11), locked or not",
                    self.member,
                    JoinRefusal::Removed.describe()
                ),
            );
        }
        ok
    }
}
