//! Timers (`spec/state-machine.md` section 11).

use super::config::{KEYLESS_TIMEOUTS, STABILITY_TIMEOUT_INTERVALS};
use super::state::{Phase, Role};
use super::{Destination, Event, Meeting, MeetingError, RemovalReason, wire};
use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;
use std::time::Duration;

impl Meeting {
    /// When [`Meeting::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Ended => return None,
            Phase::Joining => return Some(self.join_sent_at + self.config.heartbeat_interval),
            Phase::Active => {}
        }
        let mut t = vec![self.next_nonce];
        if let Some(sent) = self.resync_sent_at
            && (!self.has_keys() || self.resync_requested_for.is_some())
        {
            t.push(sent + self.config.heartbeat_interval);
        }
        if let Some((_, due)) = self.send_switch {
            t.push(due);
        }
        match &self.role {
            Role::Leader(l) => {
                t.push(l.next_heartbeat);
                if l.stability.is_stable() {
                    if let Some(d) = l.commit_due {
                        t.push(d);
                    }
                } else {
                    let limit = self.config.heartbeat_interval * STABILITY_TIMEOUT_INTERVALS;
                    t.push(l.stability.since + limit);
                }
                if let Some(r) = l.next_rotation {
                    t.push(r);
                }
            }
            Role::Member(m) => {
                let interval = self.config.heartbeat_interval;
                t.push(m.last_heartbeat + interval * (m.missed_reported + 1) + interval / 2);
                if !self.stale_reported {
                    t.push(self.last_echo + self.config.liveness_timeout);
                }
            }
        }
        t.into_iter().min()
    }

    /// Runs timers: heartbeats, batched commits, rotation, liveness, failover, switch-over.
    pub fn handle_timeout<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        match self.phase {
            Phase::Ended => return Ok(()),
            Phase::Joining => {
                if now >= self.join_sent_at + self.config.heartbeat_interval {
                    // No Welcome yet: announce again (with the newest heartbeat heard, ANN-10;
                    // the leader resends the Welcome if it already admitted us).
                    self.join_sent_at = now;
                    let signed = self.announcement_to_send()?;
                    self.push_transmit(
                        Destination::Leader,
                        wire::envelope(Body::Announcement(signed)),
                    );
                }
                return Ok(());
            }
            Phase::Active => {}
        }
        // Out of date: no keys for the current epoch, or our liveness nonces go unechoed (we
        // may have been removed without seeing it). After KEYLESS_TIMEOUTS liveness timeouts
        // of that, give up so the application can rejoin.
        let unechoed = now.saturating_sub(self.last_echo) >= self.config.liveness_timeout;
        if self.is_leader() || (self.has_keys() && !unechoed) {
            self.keyless_since = None;
        } else {
            let since = *self.keyless_since.get_or_insert(now);
            if now.saturating_sub(since) >= self.config.liveness_timeout * KEYLESS_TIMEOUTS {
                self.end(RemovalReason::TimedOut);
                return Ok(());
            }
        }
        self.expire_silent_members(now);
        // Retry an unanswered resync (lost request or answer) every heartbeat interval.
        if (!self.has_keys() || self.resync_requested_for.is_some())
            && !self.is_leader()
            && self
                .resync_sent_at
                .is_some_and(|t| now >= t + self.config.heartbeat_interval)
        {
            self.resync_requested_for = None;
            self.request_resync_at(now, rng, "the last resync was not answered".into());
        }
        if let Some((epoch, due)) = self.send_switch
            && now >= due
        {
            self.send_now(epoch);
        }
        if now >= self.next_nonce {
            self.post_nonce(now, rng);
        }
        let interval = self.config.heartbeat_interval;
        let mut failover = false;
        let mut missed_event = None;
        let mut stale_event = None;
        let mut commit_now = false;
        let mut heartbeat_now = false;
        let mut lost_quorum = false;
        let mut left = false;
        let mut resend: Option<Vec<Vec<u8>>> = None;
        let leader_id = self.roster.id_of(self.leader_leaf);
        match &mut self.role {
            Role::Leader(l) => {
                if let Some(r) = l.next_rotation
                    && now >= r
                {
                    l.rotate_pending = true;
                    l.next_rotation = None; // re-armed by the rotating commit
                    l.commit_due.get_or_insert(now);
                }
                // STB-2: a commit waits until our current epoch is stable.
                let stable = l.stability.is_stable();
                if stable && l.commit_due.is_some_and(|d| now >= d) {
                    commit_now = true;
                }
                // STB-3: a leader whose epoch stays unstable has lost the majority.
                let limit = interval * STABILITY_TIMEOUT_INTERVALS;
                if !stable && now.saturating_sub(l.stability.since) >= limit {
                    lost_quorum = true;
                }
                if now >= l.next_heartbeat {
                    heartbeat_now = true;
                }
            }
            Role::Member(m) => {
                // HO-1: re-send our handover commit until the new leader's rebuild arrives.
                if let Some((e, bytes)) = &m.handover_resend {
                    if self.epoch > *e {
                        m.handover_resend = None;
                    } else if now.saturating_sub(m.last_heartbeat) >= interval {
                        let mut out = vec![bytes.clone()];
                        out.extend(m.leaving.as_ref().map(|(l, _)| l.clone()));
                        resend = Some(out);
                    }
                }
                if let Some((_, until)) = &m.leaving
                    && (m.handover_resend.is_none() || now >= *until)
                {
                    left = true;
                }
                // Half an interval of slack for transit, so an on-time heartbeat is not "missed".
                let elapsed = now
                    .saturating_sub(m.last_heartbeat)
                    .saturating_sub(interval / 2);
                let missed = u32::try_from(elapsed.as_millis() / interval.as_millis().max(1))
                    .unwrap_or(u32::MAX);
                if missed > m.missed_reported && missed >= 1 {
                    m.missed_reported = missed;
                    missed_event = Some(Event::HeartbeatMissed {
                        leader: leader_id,
                        missed,
                    });
                    if missed >= self.config.missed_heartbeats_limit {
                        failover = true;
                    }
                }
                // 5: stale when our nonce has not been echoed for the liveness timeout.
                let waiting = now.saturating_sub(self.last_echo);
                if !self.stale_reported && waiting >= self.config.liveness_timeout {
                    self.stale_reported = true;
                    stale_event = Some(Event::StaleView { since: waiting });
                }
            }
        }
        if lost_quorum {
            self.end(RemovalReason::TimedOut);
            return Ok(());
        }
        if let Some(out) = resend {
            for bytes in out {
                self.push_transmit(Destination::All, bytes);
            }
        }
        if left {
            self.end(RemovalReason::Left);
            return Ok(());
        }
        if let Some(e) = missed_event {
            self.push_event(e);
        }
        if let Some(e) = stale_event {
            self.push_event(e);
            self.pause_sending("our liveness nonces are not echoed: our view may be stale");
        }
        if failover {
            self.pause_sending("the leader's heartbeats stopped");
            self.on_leader_timeout(now, rng)?;
        }
        if commit_now {
            self.leader_commit(now, rng)?;
        }
        if heartbeat_now {
            self.leader_heartbeat(now)?;
        }
        Ok(())
    }
}
