//! A deterministic in-process simulation of a meeting: several [`Meeting`] engines and an
//! untrusted relay that can drop, duplicate, reorder and delay messages.
//!
//! Used by the engine's tests, the adversarial suite, the fuzzers and `conclave simulate`. Time
//! is virtual and randomness comes from the caller, so a run is reproducible from its seed.

pub mod forge;
mod ledger;
mod removals;

pub use ledger::Ledger;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand_core::CryptoRng;

use crate::identity::IdentityKey;
use crate::meeting::{Destination, Event, Meeting, MeetingConfig, MeetingError};

/// Faults the relay injects into control messages (probabilities in parts per million).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Chance to drop a message.
    pub drop_ppm: u32,
    /// Chance to deliver a message twice.
    pub duplicate_ppm: u32,
    /// Chance to hold a message back behind later ones.
    pub reorder_ppm: u32,
}

/// A message in flight through the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Sender's participant id.
    pub from: String,
    /// Recipient's participant id.
    pub to: String,
    /// The encoded envelope.
    pub payload: Vec<u8>,
}

/// A rejection a participant reported while handling a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Who rejected it.
    pub at: String,
    /// Who sent it (by the relay's account).
    pub from: String,
    /// The error.
    pub error: MeetingError,
}

/// The simulated meeting.
pub struct Sim<R: CryptoRng> {
    /// Virtual time.
    pub now: Duration,
    /// Participants by id (including those that ended, until removed from the map).
    pub participants: BTreeMap<String, Meeting>,
    /// Messages in flight.
    pub in_flight: VecDeque<InFlight>,
    /// Faults applied to control messages.
    pub faults: Faults,
    /// Every event, in order, tagged with the participant.
    pub events: Vec<(String, Event)>,
    /// Every rejection, in order.
    pub rejections: Vec<Rejection>,
    /// Total bytes the relay carried.
    pub relay_bytes: u64,
    /// Total messages the relay carried.
    pub relay_messages: u64,
    /// A tap called with every message the relay forwards (for attacks and inspection).
    #[allow(clippy::type_complexity)]
    pub tap: Option<Box<dyn FnMut(&mut InFlight) -> TapAction>>,
    /// Config for new participants.
    pub config: MeetingConfig,
    /// The meeting id.
    pub meeting_id: Vec<u8>,
    /// The random source.
    pub rng: R,
    paused: std::collections::BTreeSet<String>,
    /// Calls into participants so far, and the count at each participant's latest call.
    activity: u64,
    last_call: BTreeMap<String, u64>,
}

/// What a tap decides for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapAction {
    /// Deliver it (possibly modified in place).
    Deliver,
    /// Drop it.
    Drop,
    /// Deliver it and also these extra messages.
    DeliverWith(Vec<InFlight>),
}

impl<R: CryptoRng> Sim<R> {
    /// A new simulation with no participants.
    pub fn new(meeting_id: &[u8], config: MeetingConfig, rng: R) -> Self {
        Self {
            now: Duration::from_secs(1),
            participants: BTreeMap::new(),
            in_flight: VecDeque::new(),
            faults: Faults::default(),
            events: Vec::new(),
            rejections: Vec::new(),
            relay_bytes: 0,
            relay_messages: 0,
            tap: None,
            config,
            meeting_id: meeting_id.to_vec(),
            rng,
            paused: Default::default(),
            activity: 0,
            last_call: BTreeMap::new(),
        }
    }

    /// How many times the simulation has called into a participant so far (create, join,
    /// [`act`](Self::act), a message delivered, a timer run). A participant's state changes only
    /// through such calls (or through direct use of [`participants`](Self::participants)), so
    /// an observer may skip what was not called since it last looked: the `sim_ops` fuzz target
    /// observes only the virtual seconds in which something ran.
    pub fn activity(&self) -> u64 {
        self.activity
    }

    /// The [`activity`](Self::activity) count right after the latest call into `id` (`None`
    /// if the simulation never called it).
    pub fn last_activity(&self, id: &str) -> Option<u64> {
        self.last_call.get(id).copied()
    }

    /// Counts a call into `id`.
    fn called(&mut self, id: &str) {
        self.activity += 1;
        match self.last_call.get_mut(id) {
            Some(at) => *at = self.activity,
            None => {
                self.last_call.insert(id.to_string(), self.activity);
            }
        }
    }

    /// Creates the meeting with `id` as leader.
    pub fn create(&mut self, id: &str) -> Result<(), MeetingError> {
        let identity = IdentityKey::generate(&mut self.rng);
        self.create_with(id, identity)
    }

    /// Creates the meeting with a given identity.
    pub fn create_with(&mut self, id: &str, identity: IdentityKey) -> Result<(), MeetingError> {
        let m = Meeting::create(
            self.config.clone(),
            &self.meeting_id,
            id,
            identity,
            self.now,
            &mut self.rng,
        )?;
        self.participants.insert(id.to_string(), m);
        self.called(id);
        self.collect_from(id);
        Ok(())
    }

    /// Starts a join by `id` with a fresh identity.
    pub fn join(&mut self, id: &str) -> Result<(), MeetingError> {
        let identity = IdentityKey::generate(&mut self.rng);
        self.join_with(id, identity)
    }

    /// Starts a join by `id` with a given identity.
    pub fn join_with(&mut self, id: &str, identity: IdentityKey) -> Result<(), MeetingError> {
        let m = Meeting::join(
            self.config.clone(),
            &self.meeting_id,
            id,
            identity,
            self.now,
            &mut self.rng,
        )?;
        self.participants.insert(id.to_string(), m);
        self.called(id);
        self.collect_from(id);
        Ok(())
    }

    /// Runs `f` on participant `id` with the current time and random source.
    pub fn act<T>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Meeting, Duration, &mut R) -> Result<T, MeetingError>,
    ) -> Result<T, MeetingError> {
        let now = self.now;
        let m = self
            .participants
            .get_mut(id)
            .ok_or_else(|| MeetingError::UnknownParticipant(id.to_string()))?;
        let r = f(m, now, &mut self.rng);
        self.called(id);
        self.collect_from(id);
        r
    }

    /// Stops delivering to and running `id` (a crashed or partitioned participant).
    pub fn pause(&mut self, id: &str) {
        self.paused.insert(id.to_string());
    }

    /// Resumes `id`.
    pub fn resume(&mut self, id: &str) {
        self.paused.remove(id);
    }

    /// The leader, if exactly one active participant considers itself leader.
    pub fn leader(&self) -> Option<&str> {
        let mut leaders = self
            .participants
            .iter()
            .filter(|(id, m)| m.is_leader() && !self.paused.contains(*id));
        let first = leaders.next().map(|(id, _)| id.as_str());
        if leaders.next().is_some() {
            None
        } else {
            first
        }
    }

    /// Collects every participant's events and transmits (outputs of direct use of
    /// [`participants`](Self::participants) included).
    fn collect(&mut self) {
        let ids: Vec<String> = self.participants.keys().cloned().collect();
        for id in ids {
            self.collect_from(&id);
        }
    }

    /// Collects `id`'s events and puts its transmits in flight (a paused participant's are
    /// dropped). Only a participant that was called has any: after a call, collecting from it
    /// alone is the same as collecting from everyone.
    fn collect_from(&mut self, id: &str) {
        let Some(m) = self.participants.get_mut(id) else {
            return;
        };
        while let Some(e) = m.poll_event() {
            self.events.push((id.to_string(), e));
        }
        let mut out = Vec::new();
        while let Some(t) = m.poll_transmit() {
            out.push(t);
        }
        // Offloaded rebuild sealing (MeetingConfig::offload_rebuild_sealing): run inline.
        while let Some(job) = m.poll_seal_job() {
            if let Ok(t) = job.run(&mut self.rng) {
                out.push(t);
            }
        }
        if self.paused.contains(id) {
            return;
        }
        for t in out {
            match &t.destination {
                Destination::All | Destination::Leader => {
                    for to in self.participants.keys().filter(|k| *k != id) {
                        self.in_flight.push_back(InFlight {
                            from: id.to_string(),
                            to: to.clone(),
                            payload: t.payload.clone(),
                        });
                    }
                }
                Destination::Participant(p) => self.in_flight.push_back(InFlight {
                    from: id.to_string(),
                    to: p.clone(),
                    payload: t.payload,
                }),
            }
        }
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.rng.next_u32() % 1_000_000 < ppm
    }

    /// Delivers every message in flight (and those they cause) until none remain, applying
    /// faults. Returns the number delivered.
    pub fn deliver_all(&mut self) -> usize {
        self.collect();
        self.deliver_in_flight()
    }

    /// [`deliver_all`](Self::deliver_all) without first collecting from everyone.
    fn deliver_in_flight(&mut self) -> usize {
        let mut delivered = 0;
        let mut budget = 1_000_000usize;
        while let Some(mut msg) = self.in_flight.pop_front() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            if self.chance(self.faults.drop_ppm) {
                continue;
            }
            if self.in_flight.len() > 1 && self.chance(self.faults.reorder_ppm) {
                let pos = (self.rng.next_u32() as usize) % self.in_flight.len();
                self.in_flight.insert(pos + 1, msg);
                continue;
            }
            if self.chance(self.faults.duplicate_ppm) {
                self.in_flight.push_back(msg.clone());
            }
            let mut extra = Vec::new();
            if let Some(tap) = self.tap.as_mut() {
                match tap(&mut msg) {
                    TapAction::Deliver => {}
                    TapAction::Drop => continue,
                    TapAction::DeliverWith(more) => extra = more,
                }
            }
            let to = msg.to.clone();
            delivered += 1;
            self.deliver_one(msg);
            if extra.is_empty() {
                self.collect_from(&to);
            } else {
                // The tap added messages: collect from each recipient once, in id order (as
                // collecting from everyone would).
                let mut ids = std::collections::BTreeSet::from([to]);
                for m in extra {
                    delivered += 1;
                    ids.insert(m.to.clone());
                    self.deliver_one(m);
                }
                for id in ids {
                    self.collect_from(&id);
                }
            }
        }
        delivered
    }

    /// Delivers one message directly (no faults, no tap).
    pub fn deliver_one(&mut self, msg: InFlight) {
        if self.paused.contains(&msg.to)
            || self.participants.get(&msg.to).is_none_or(|m| m.is_ended())
        {
            return;
        }
        self.relay_bytes += msg.payload.len() as u64;
        self.relay_messages += 1;
        let now = self.now;
        self.called(&msg.to);
        if let Some(m) = self.participants.get_mut(&msg.to)
            && let Err(error) = m.handle_message(&msg.payload, now, &mut self.rng)
        {
            self.rejections.push(Rejection {
                at: msg.to.clone(),
                from: msg.from.clone(),
                error,
            });
        }
    }

    /// Runs every participant's timers at the current time.
    pub fn tick(&mut self) {
        self.collect();
        self.run_timers();
    }

    /// Runs the timers due now and collects the outputs of the participants that ran.
    fn run_timers(&mut self) {
        let now = self.now;
        let mut ran = Vec::new();
        for (id, m) in &mut self.participants {
            if self.paused.contains(id) || m.poll_timeout().is_none_or(|t| t > now) {
                continue;
            }
            if let Err(error) = m.handle_timeout(now, &mut self.rng) {
                self.rejections.push(Rejection {
                    at: id.clone(),
                    from: id.clone(),
                    error,
                });
            }
            ran.push(id.clone());
        }
        for id in ran {
            self.called(&id);
            self.collect_from(&id);
        }
    }

    /// Delivers and runs timers until nothing is in flight and no timer is due.
    pub fn settle(&mut self) {
        self.collect();
        if self.in_flight.is_empty() && !self.timer_due() {
            return;
        }
        for _ in 0..64 {
            self.run_timers();
            if self.deliver_in_flight() == 0 && self.in_flight.is_empty() {
                self.run_timers();
                if self.in_flight.is_empty() {
                    break;
                }
            }
        }
    }

    /// Whether a running participant has a timer due now.
    fn timer_due(&self) -> bool {
        self.participants.iter().any(|(id, m)| {
            !self.paused.contains(id) && m.poll_timeout().is_some_and(|t| t <= self.now)
        })
    }

    /// Advances virtual time by `d` in steps of `step`, settling at each step.
    pub fn advance(&mut self, d: Duration, step: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + step).min(end);
            self.settle();
        }
    }

    /// Active (non-paused, in-meeting) participants.
    pub fn active(&self) -> Vec<&str> {
        self.participants
            .iter()
            .filter(|(id, m)| m.is_active() && !self.paused.contains(*id))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Whether every active participant holds keys for the same epoch with the same security
    /// code and transcript. Returns that epoch.
    pub fn converged(&self) -> Option<u64> {
        let mut seen: Option<(u64, String, [u8; 32])> = None;
        for id in self.active() {
            let m = self.participants.get(id)?;
            let code = m.security_code()?;
            let cur = (m.epoch(), code, m.transcript_hash());
            match &seen {
                None => seen = Some(cur),
                Some(s) if *s == cur => {}
                Some(_) => return None,
            }
        }
        seen.map(|s| s.0)
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    /// Each participant's (epoch, transcript hash, send epoch).
    fn states_of(s: &Sim<ChaCha20Rng>) -> Vec<(u64, [u8; 32], Option<u64>)> {
        s.participants
            .values()
            .map(|m| {
                (
                    m.epoch(),
                    m.transcript_hash(),
                    m.frame_crypto().send_epoch(),
                )
            })
            .collect()
    }

    /// `activity` counts every call into a participant and `last_activity` the latest per
    /// participant; a second in which no timer is due and nothing is in flight calls no one.
    #[test]
    fn activity_counts_calls_and_quiet_seconds_call_no_one() {
        let mut s = Sim::new(
            b"sim-unit-test-meeting",
            MeetingConfig::default(),
            ChaCha20Rng::seed_from_u64(3),
        );
        s.create("alice").unwrap();
        s.join("bob").unwrap();
        s.settle();
        s.advance(Duration::from_secs(20), Duration::from_secs(1));
        let alice = s.last_activity("alice").unwrap();
        s.act("bob", |_, _, _| Ok(())).unwrap();
        assert_eq!(s.last_activity("bob"), Some(s.activity()));
        assert_eq!(s.last_activity("alice"), Some(alice));
        assert_eq!(s.last_activity("carol"), None);
        let (mut quiet, mut busy) = (0, 0);
        for _ in 0..20 {
            let before = s.activity();
            let states = states_of(&s);
            s.advance(Duration::from_secs(1), Duration::from_secs(1));
            if s.activity() == before {
                quiet += 1;
                assert_eq!(states, states_of(&s));
            } else {
                busy += 1;
            }
        }
        assert!(quiet > 0 && busy > 0, "quiet {quiet}, busy {busy}");
    }
}
