//! What the runner collects as the meeting runs: every epoch's secrets (for the leak scan), the
//! participants' events (as timeline lines) and their rejections.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::meeting::{Event, RemovalReason};

use super::Runner;
use crate::sim::records::{
    AUDIO_STREAM, EpochRecord, RejectionRecord, TimelineEntry, VIDEO_STREAM, kind_name, plural,
};

/// Events reported once per settle, summed over the participants.
#[derive(Default)]
struct Tallies {
    missed: BTreeMap<(String, u32), usize>,
    paused: BTreeMap<String, usize>,
    resumed: BTreeMap<u64, usize>,
    resync: BTreeMap<String, BTreeSet<String>>,
}

impl Runner {
    /// Collects the secrets of every epoch a participant holds now.
    pub(super) fn harvest(&mut self) {
        let Self {
            sim,
            scanner,
            harvested,
            last_frame_secret,
            ..
        } = self;
        for m in sim.participants.values() {
            let Some(e) = m.epoch_secrets() else {
                continue;
            };
            if !harvested.insert(*e.epoch_secret.expose()) {
                continue;
            }
            let epoch = e.epoch;
            scanner.add(
                "epoch secrets",
                || format!("epoch {epoch} epoch_secret"),
                e.epoch_secret.expose(),
            );
            scanner.add(
                "frame secrets",
                || format!("epoch {epoch} frame_secret"),
                e.frame_secret.expose(),
            );
            *last_frame_secret = Some(e.frame_secret.expose().to_vec());
            scanner.add(
                "security codes",
                || format!("epoch {epoch} security code"),
                e.security_code.as_bytes(),
            );
            for p in m.participants() {
                for stream in [AUDIO_STREAM, VIDEO_STREAM] {
                    let k = e.sender_keys(p.leaf, stream);
                    let leaf = p.leaf;
                    scanner.add(
                        "frame keys",
                        || format!("epoch {epoch} frame key of leaf {leaf} stream {stream}"),
                        k.key.expose(),
                    );
                    scanner.add(
                        "frame salts",
                        || format!("epoch {epoch} frame salt of leaf {leaf} stream {stream}"),
                        k.salt.expose(),
                    );
                }
            }
        }
    }

    /// Records the rejections since the last call, with one timeline line for all of them.
    pub(super) fn collect_rejections(&mut self) {
        let t = self.t();
        let new: Vec<RejectionRecord> = self.sim.rejections[self.rejection_cursor..]
            .iter()
            .map(|r| RejectionRecord {
                t,
                at: r.at.clone(),
                from: r.from.clone(),
                kind: kind_name(r.error.kind().as_str()),
                error: r.error.to_string(),
            })
            .collect();
        self.rejection_cursor = self.sim.rejections.len();
        if let Some(first) = new.first() {
            let text = if new.len() == 1 {
                format!(
                    "{} rejected a control message from {}: {} [{}]",
                    first.at, first.from, first.error, first.kind
                )
            } else {
                let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
                for x in &new {
                    *kinds.entry(x.kind.as_str()).or_default() += 1;
                }
                let kinds: Vec<String> = kinds.iter().map(|(k, v)| format!("{v} {k}")).collect();
                format!(
                    "{} control messages rejected ({}), e.g. {} rejected one from {}: {}",
                    new.len(),
                    kinds.join(", "),
                    first.at,
                    first.from,
                    first.error
                )
            };
            self.note("rejected", text);
        }
        self.rejections.extend(new);
    }

    /// Turns the events since the last call into timeline lines and epoch records.
    pub(super) fn collect_events(&mut self) {
        let new: Vec<(String, Event)> = self.sim.events[self.event_cursor..].to_vec();
        self.event_cursor = self.sim.events.len();
        let mut tallies = Tallies::default();
        for (id, e) in new {
            self.on_event(id, e, &mut tallies);
        }
        self.note_tallies(tallies);
    }

    fn on_event(&mut self, id: String, e: Event, tallies: &mut Tallies) {
        let t = self.t();
        match e {
            Event::Joined { epoch, leaf } => {
                self.joined_at.insert(id.clone(), self.sim.now);
                self.note(
                    "joined",
                    format!("{id} is in the meeting: leaf {leaf}, epoch {epoch}"),
                );
            }
            Event::EpochChanged {
                epoch,
                security_code,
            } => {
                let first = !self.epochs.contains_key(&epoch);
                let rec = self.epochs.entry(epoch).or_insert_with(|| EpochRecord {
                    first_seen: t,
                    codes: BTreeMap::new(),
                });
                rec.codes.entry(security_code).or_default().insert(id);
                if first {
                    self.timeline.push(TimelineEntry {
                        t,
                        kind: "epoch",
                        text: String::new(),
                        epoch: Some(epoch),
                    });
                }
            }
            Event::LeaderChanged { participant_id, .. }
                if self.last_leader.as_deref() != Some(participant_id.as_str()) =>
            {
                self.note("leader", format!("{participant_id} is now the leader"));
                self.last_leader = Some(participant_id);
            }
            Event::ParticipantRemoved {
                participant_id,
                reason,
            } => {
                let g = self.generation.get(&participant_id).copied().unwrap_or(0);
                if self.removed_reported.insert((participant_id.clone(), g)) {
                    let why = crate::join::removal_words(reason);
                    self.note(
                        "removed",
                        format!("{participant_id} is out of the roster: {why}"),
                    );
                }
            }
            Event::HeartbeatMissed { leader, missed: n } => {
                *tallies.missed.entry((leader, n)).or_default() += 1;
            }
            Event::SendingPaused { reason } => *tallies.paused.entry(reason).or_default() += 1,
            Event::SendingResumed { epoch } => *tallies.resumed.entry(epoch).or_default() += 1,
            Event::ResyncNeeded { reason } => {
                tallies.resync.entry(reason).or_default().insert(id);
            }
            Event::Ended { reason } if reason != RemovalReason::Left => {
                self.note("ended", format!("{id}'s meeting ended: {reason:?}"));
            }
            _ => {}
        }
    }

    fn note_tallies(&mut self, tallies: Tallies) {
        for ((leader, n), count) in tallies.missed {
            self.note(
                "heartbeat",
                format!(
                    "{count} member{} missed {leader}'s heartbeat ({n} interval{})",
                    plural(count),
                    plural(n as usize)
                ),
            );
        }
        for (reason, count) in tallies.paused {
            self.note(
                "paused",
                format!(
                    "{count} member{} stop sending media: {reason}",
                    plural(count)
                ),
            );
        }
        for (epoch, count) in tallies.resumed {
            self.note(
                "resumed",
                format!(
                    "{count} member{} resume sending in epoch {epoch}",
                    plural(count)
                ),
            );
        }
        for (reason, who) in tallies.resync {
            let who: Vec<String> = who.into_iter().collect();
            self.note(
                "resync",
                format!("{} request a resync: {reason}", who.join(", ")),
            );
        }
    }
}
