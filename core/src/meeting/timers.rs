//! Timers (`spec/state-machine.md` section 11) as data: a [`Timer`] per row of the section's
//! table, [`Meeting::deadline`] giving each one's deadline from the state (the table), the
//! minimum of the table as [`Meeting::poll_timeout`], and [`Meeting::handle_timeout`] running
//! the due timers in the section's order.
//!
//! Deadlines are computed from the state they depend on, in this one place, rather than
//! stored: a deadline cannot go stale when that state changes, and `poll_timeout` and
//! `handle_timeout` cannot disagree about what is due.

use std::time::Duration;

use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;

use super::config::{KEYLESS_TIMEOUTS, MEMBER_TIMEOUT_INTERVALS, STABILITY_TIMEOUT_INTERVALS};
use super::state::{Phase, Role};
use super::{Destination, Event, Meeting, MeetingError, RemovalReason, wire};

/// One row of the timer table of `spec/state-machine.md` section 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Joiner: announce again.
    JoinRetry,
    /// Member: out of date too long (no keys, or nonces unechoed): end.
    Keyless,
    /// Leader: remove members silent for `MEMBER_TIMEOUT_INTERVALS` intervals.
    MemberTimeout,
    /// Member: repeat an unanswered resync request.
    ResyncRetry,
    /// Any: the scheduled send switch (section 14).
    Switch,
    /// Member: the next liveness nonce (leaders only re-arm it).
    LivenessNonce,
    /// Member after a handover: re-send the handover commit (HO-1).
    HandoverResend,
    /// Old leader that left after a handover: stop waiting (HO-1).
    Leaving,
    /// Member: the relay's "leader gone" hint was not contradicted in time (VOTE-0).
    HintConfirm,
    /// Member: the heartbeat watchdog.
    Watchdog,
    /// Member: our liveness nonces went unechoed.
    LivenessEcho,
    /// Leader: periodic rotation.
    Rotation,
    /// Leader: the current epoch did not become stable (STB-3).
    Stability,
    /// Leader: the batched commit.
    Commit,
    /// Leader: the next heartbeat.
    Heartbeat,
}

impl Timer {
    /// Every timer, in the order `handle_timeout` runs them (section 11).
    pub(super) const ORDER: [Timer; 15] = [
        Timer::JoinRetry,
        Timer::Keyless,
        Timer::MemberTimeout,
        Timer::ResyncRetry,
        Timer::Switch,
        Timer::LivenessNonce,
        Timer::HandoverResend,
        Timer::Leaving,
        Timer::HintConfirm,
        Timer::Watchdog,
        Timer::LivenessEcho,
        Timer::Rotation,
        Timer::Stability,
        Timer::Commit,
        Timer::Heartbeat,
    ];
}

impl Meeting {
    /// When [`Meeting::handle_timeout`] should next be called: the earliest deadline of the
    /// timer table.
    pub fn poll_timeout(&self) -> Option<Duration> {
        Timer::ORDER.iter().filter_map(|t| self.deadline(*t)).min()
    }

    /// The deadline of `timer` in the current state, if it applies (the table of section 11).
    pub(super) fn deadline(&self, timer: Timer) -> Option<Duration> {
        let interval = self.config.heartbeat_interval;
        match (&self.phase, &self.role, timer) {
            (Phase::Ended, _, _) => None,
            (Phase::Joining, _, Timer::JoinRetry) => {
                Some(self.join_sent_at.saturating_add(interval))
            }
            (Phase::Joining, _, _) | (Phase::Active, _, Timer::JoinRetry) => None,
            (_, _, Timer::Keyless) => self.keyless_since.map(|s| {
                s.saturating_add(
                    self.config
                        .liveness_timeout
                        .saturating_mul(KEYLESS_TIMEOUTS),
                )
            }),
            (_, Role::Leader(l), Timer::MemberTimeout) => {
                let timeout = interval.saturating_mul(MEMBER_TIMEOUT_INTERVALS);
                l.last_seen
                    .iter()
                    .filter(|(leaf, _)| !l.pending_removes.contains_key(leaf))
                    .map(|(_, seen)| seen.saturating_add(timeout))
                    .min()
            }
            (_, Role::Member(_), Timer::ResyncRetry) => self
                .resync_sent_at
                .filter(|_| !self.has_keys() || self.resync_requested_for.is_some())
                .map(|sent| sent.saturating_add(interval)),
            (_, _, Timer::Switch) => self.send_switch.map(|(_, due)| due),
            (_, _, Timer::LivenessNonce) => Some(self.next_nonce),
            (_, Role::Member(m), Timer::HandoverResend) => m
                .handover_resend
                .as_ref()
                .map(|_| m.last_heartbeat.saturating_add(interval).max(m.resend_at)),
            (_, Role::Member(m), Timer::Leaving) => m.leaving.as_ref().map(|(_, until)| {
                if m.handover_resend.is_none() {
                    Duration::ZERO // the new leader moved on: leave at once
                } else {
                    *until
                }
            }),
            (_, Role::Member(m), Timer::HintConfirm) => m.hint_confirm_at,
            (_, Role::Member(m), Timer::Watchdog) => Some(
                m.last_heartbeat
                    .saturating_add(interval.saturating_mul(m.missed_reported.saturating_add(1)))
                    .saturating_add(interval / 2),
            ),
            (_, Role::Member(_), Timer::LivenessEcho) => (!self.stale_reported)
                .then(|| self.last_echo.saturating_add(self.config.liveness_timeout)),
            (_, Role::Leader(l), Timer::Rotation) => l.next_rotation,
            (_, Role::Leader(l), Timer::Stability) => (!l.stability.is_stable()).then(|| {
                l.stability
                    .since
                    .saturating_add(interval.saturating_mul(STABILITY_TIMEOUT_INTERVALS))
            }),
            (_, Role::Leader(l), Timer::Commit) => l.commit_due.filter(|_| l.stability.is_stable()),
            (_, Role::Leader(l), Timer::Heartbeat) => Some(l.next_heartbeat),
            (_, Role::Leader(_), _) | (_, Role::Member(_), _) => None,
        }
    }

    /// Runs the timers that are due at `now`, in the order of section 11; a failover (when the
    /// watchdog reached the limit) runs last.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let _span = self.span().entered();
        self.update_timer_inputs(now);
        let due = |m: &Self, t: Timer| m.deadline(t).is_some_and(|d| now >= d);
        // A commit makes the heartbeat due; it goes out at the next call, so that
        // acknowledgements arriving in between let it certify the new epoch (STB-1).
        let heartbeat_was_due = due(self, Timer::Heartbeat);
        let mut failover = false;
        for timer in Timer::ORDER {
            if matches!(self.phase, Phase::Ended) {
                return Ok(());
            }
            if timer == Timer::Heartbeat && !heartbeat_was_due {
                continue;
            }
            if due(self, timer) {
                failover |= self.fire(timer, now, rng)?;
            }
        }
        if failover && matches!(self.phase, Phase::Active) {
            tracing::info!(target: "conclave::meeting", "leader heartbeats stopped: failover");
            self.pause_sending("the leader's heartbeats stopped");
            self.on_leader_timeout(now, rng)?;
        }
        Ok(())
    }

    /// The state some deadlines start from when the timers first run: the out-of-date clock
    /// (armed while we have no keys for the current epoch or our nonces go unechoed, cleared
    /// otherwise), the leader's `last_seen` of each present member, and a delivered handover.
    fn update_timer_inputs(&mut self, now: Duration) {
        if !matches!(self.phase, Phase::Active) {
            return;
        }
        let unechoed = now.saturating_sub(self.last_echo) >= self.config.liveness_timeout;
        if self.is_leader() || (self.has_keys() && !unechoed) {
            self.keyless_since = None;
        } else {
            self.keyless_since.get_or_insert(now);
        }
        let own = self.own_leaf;
        let leaves: Vec<u32> = self.roster.members.keys().copied().collect();
        match &mut self.role {
            Role::Leader(l) => {
                l.last_seen.retain(|leaf, _| leaves.contains(leaf));
                for leaf in leaves.into_iter().filter(|l| *l != own) {
                    l.last_seen.entry(leaf).or_insert(now);
                }
            }
            Role::Member(m) => {
                if m.handover_resend
                    .as_ref()
                    .is_some_and(|(e, _)| self.epoch > *e)
                {
                    m.handover_resend = None;
                }
            }
        }
    }

    /// Runs one due timer; returns whether the watchdog calls for a failover.
    fn fire<R: CryptoRng + ?Sized>(
        &mut self,
        timer: Timer,
        now: Duration,
        rng: &mut R,
    ) -> Result<bool, MeetingError> {
        match timer {
            Timer::JoinRetry => {
                // No Welcome yet: announce again (with the newest heartbeat heard, ANN-10; the
                // leader resends the Welcome if it already admitted us).
                self.join_sent_at = now;
                let signed = self.announcement_to_send()?;
                self.push_transmit(
                    Destination::Leader,
                    wire::envelope(Body::Announcement(signed)),
                );
            }
            Timer::Keyless | Timer::Stability => self.end(RemovalReason::TimedOut),
            Timer::MemberTimeout => self.expire_silent_members(now),
            Timer::ResyncRetry => {
                self.resync_requested_for = None;
                self.request_resync_at(now, rng, "the last resync was not answered".into());
            }
            Timer::Switch => {
                if let Some((epoch, _)) = self.send_switch {
                    self.send_now(epoch);
                }
            }
            Timer::LivenessNonce => self.post_nonce(now, rng),
            Timer::HandoverResend => self.resend_handover(now),
            Timer::Leaving => self.end(RemovalReason::Left),
            Timer::HintConfirm => return Ok(self.confirm_hint()),
            Timer::Watchdog => return Ok(self.watchdog(now)),
            Timer::LivenessEcho => {
                self.stale_reported = true;
                let since = now.saturating_sub(self.last_echo);
                self.push_event(Event::StaleView { since });
                self.pause_sending("our liveness nonces are not echoed: our view may be stale");
            }
            Timer::Rotation => {
                if let Role::Leader(l) = &mut self.role {
                    l.rotate_pending = true;
                    l.next_rotation = None; // re-armed by the rotating commit
                    l.commit_due.get_or_insert(now);
                }
            }
            Timer::Commit => self.leader_commit(now, rng)?,
            Timer::Heartbeat => self.leader_heartbeat(now)?,
        }
        Ok(false)
    }

    /// HO-1: re-sends our handover commit (and our Leave, if we left) once per interval until
    /// the new leader's rebuild arrives.
    fn resend_handover(&mut self, now: Duration) {
        let interval = self.config.heartbeat_interval;
        let Role::Member(m) = &mut self.role else {
            return;
        };
        m.resend_at = now.saturating_add(interval);
        let mut out: Vec<Vec<u8>> = m.handover_resend.iter().map(|(_, b)| b.clone()).collect();
        out.extend(m.leaving.as_ref().map(|(l, _)| l.clone()));
        for bytes in out {
            self.push_transmit(Destination::All, bytes);
        }
    }

    /// The heartbeat watchdog: reports `HeartbeatMissed` for each new interval without a
    /// heartbeat (half an interval of slack for transit, so an on-time heartbeat is not
    /// "missed"); returns whether the limit is reached (VOTE-1 runs at each new interval).
    fn watchdog(&mut self, now: Duration) -> bool {
        let interval = self.config.heartbeat_interval;
        let limit = self.config.missed_heartbeats_limit;
        let leader = self.roster.id_of(self.leader_leaf);
        let Role::Member(m) = &mut self.role else {
            return false;
        };
        let elapsed = now
            .saturating_sub(m.last_heartbeat)
            .saturating_sub(interval / 2);
        let missed =
            u32::try_from(elapsed.as_millis() / interval.as_millis().max(1)).unwrap_or(u32::MAX);
        if missed <= m.missed_reported || missed == 0 {
            return false;
        }
        m.missed_reported = missed;
        self.push_event(Event::HeartbeatMissed { leader, missed });
        missed >= limit
    }
}
