//! Meetings (rooms), who is in them, where a message goes, and each meeting's commit log, bounded
//! per meeting, per connection and across meetings.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use conclave_core::meeting::Destination;

use super::budget::Payload;
use super::outbox::Outbox;
use super::{
    COMMIT_LOG_BYTES, COMMIT_LOG_CONNECTION_BYTES, COMMIT_LOG_LEN, COMMIT_LOG_TOTAL_BYTES,
    MAX_ROOMS,
};

/// One connected participant.
pub(super) struct Peer {
    pub(super) participant_id: String,
    pub(super) outbox: Arc<Outbox>,
}

/// The bounds of commit logs (the constants, or small ones in tests).
#[derive(Clone, Copy)]
pub(super) struct LogLimits {
    entries: usize,
    room_bytes: usize,
    connection_bytes: usize,
    total_bytes: usize,
}

/// The relay's commit log bounds.
pub(super) const LOG_LIMITS: LogLimits = LogLimits {
    entries: COMMIT_LOG_LEN,
    room_bytes: COMMIT_LOG_BYTES,
    connection_bytes: COMMIT_LOG_CONNECTION_BYTES,
    total_bytes: COMMIT_LOG_TOTAL_BYTES,
};

/// The commits a meeting's relay forwarded, oldest first, with the connection each came from.
#[derive(Default)]
struct CommitLog {
    entries: VecDeque<(u64, Arc<Payload>)>,
    bytes: usize,
    by_connection: HashMap<u64, usize>,
}

impl CommitLog {
    /// Removes entry `i`; returns its cost.
    fn remove(&mut self, i: usize) -> usize {
        let Some((from, payload)) = self.entries.remove(i) else {
            return 0;
        };
        let cost = payload.cost();
        self.bytes = self.bytes.saturating_sub(cost);
        if let Some(b) = self.by_connection.get_mut(&from) {
            *b = b.saturating_sub(cost);
            if *b == 0 {
                self.by_connection.remove(&from);
            }
        }
        cost
    }

    fn bytes_of(&self, from: u64) -> usize {
        self.by_connection.get(&from).copied().unwrap_or(0)
    }

    /// Logs `payload` from connection `from`, evicting oldest first: that connection's own
    /// entries while it is over its share, then this meeting's entries while the meeting or
    /// all meetings (`total`) are over their bounds. Returns whether it was logged.
    fn push(
        &mut self,
        total: &mut usize,
        limits: LogLimits,
        from: u64,
        payload: &Arc<Payload>,
    ) -> bool {
        let cost = payload.cost();
        let over = |used: usize, limit: usize| used.saturating_add(cost) > limit;
        if over(0, limits.connection_bytes.min(limits.room_bytes)) {
            return false;
        }
        while over(self.bytes_of(from), limits.connection_bytes) {
            let Some(i) = self.entries.iter().position(|(f, _)| *f == from) else {
                break;
            };
            *total = total.saturating_sub(self.remove(i));
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= limits.entries
                || over(self.bytes, limits.room_bytes)
                || over(*total, limits.total_bytes))
        {
            *total = total.saturating_sub(self.remove(0));
        }
        if over(*total, limits.total_bytes) || limits.entries == 0 {
            return false;
        }
        self.entries.push_back((from, Arc::clone(payload)));
        self.bytes = self.bytes.saturating_add(cost);
        let mine = self.by_connection.entry(from).or_insert(0);
        *mine = mine.saturating_add(cost);
        *total = total.saturating_add(cost);
        true
    }
}

/// Counters of one meeting, for the log lines.
#[derive(Default)]
pub(super) struct Stats {
    envelopes: u64,
    frames: u64,
    bytes: u64,
    dropped: u64,
}

/// One meeting.
#[derive(Default)]
struct Room {
    peers: BTreeMap<u64, Peer>,
    log: CommitLog,
    stats: Stats,
}

/// What is forwarded.
pub(super) enum Forward<'a> {
    /// A media frame, to every other participant.
    Frame,
    /// A control envelope.
    Envelope {
        destination: &'a Destination,
        commit: bool,
    },
}

/// All meetings.
#[derive(Default)]
pub(super) struct Rooms {
    rooms: HashMap<Vec<u8>, Room>,
    /// Bytes in all commit logs.
    log_bytes: usize,
    limits: Option<LogLimits>,
}

impl Rooms {
    fn limits(&self) -> LogLimits {
        self.limits.unwrap_or(LOG_LIMITS)
    }

    /// Adds a participant to a meeting, opening it if there are fewer than [`MAX_ROOMS`];
    /// returns how many are connected to it.
    pub(super) fn join(&mut self, meeting_id: &[u8], id: u64, peer: Peer) -> Result<usize, String> {
        if !self.rooms.contains_key(meeting_id) && self.rooms.len() >= MAX_ROOMS {
            return Err(format!("relay full: {MAX_ROOMS} meetings"));
        }
        let room = self.rooms.entry(meeting_id.to_vec()).or_default();
        room.peers.insert(id, peer);
        Ok(room.peers.len())
    }

    /// Removes a participant; closes the meeting (and drops its log) when it was the last.
    /// Returns how many are still connected and the meeting's counters as text.
    pub(super) fn leave(&mut self, meeting_id: &[u8], id: u64) -> (usize, String) {
        let Some(room) = self.rooms.get_mut(meeting_id) else {
            return (0, String::new());
        };
        room.peers.remove(&id);
        let present = room.peers.len();
        let s = &room.stats;
        let stats = format!(
            "{} envelopes, {} frames, {} bytes forwarded, {} commits logged ({} bytes; {} in all \
             meetings), {} dropped",
            s.envelopes,
            s.frames,
            s.bytes,
            room.log.entries.len(),
            room.log.bytes,
            self.log_bytes,
            s.dropped
        );
        if present == 0 {
            self.log_bytes = self.log_bytes.saturating_sub(room.log.bytes);
            self.rooms.remove(meeting_id);
        }
        (present, stats)
    }

    /// Queues `payload` (a GONE hint) for every participant still connected to the meeting.
    pub(super) fn tell_all(&mut self, meeting_id: &[u8], payload: &Arc<Payload>) {
        let Some(room) = self.rooms.get_mut(meeting_id) else {
            return;
        };
        for peer in room.peers.values() {
            if !peer.outbox.push(payload) {
                room.stats.dropped = room.stats.dropped.saturating_add(1);
            }
        }
    }

    /// Forwards `payload` from connection `from`, or counts it dropped if it is `None` (the
    /// relay had no room to hold it). Commits are logged.
    pub(super) fn forward(
        &mut self,
        meeting_id: &[u8],
        from: u64,
        what: Forward<'_>,
        payload: Option<&Arc<Payload>>,
    ) {
        let limits = self.limits();
        let Some(room) = self.rooms.get_mut(meeting_id) else {
            return;
        };
        let to_participant = match what {
            Forward::Frame => {
                room.stats.frames = room.stats.frames.saturating_add(1);
                None
            }
            Forward::Envelope {
                destination,
                commit,
            } => {
                room.stats.envelopes = room.stats.envelopes.saturating_add(1);
                if let (true, Some(p)) = (commit, payload) {
                    room.log.push(&mut self.log_bytes, limits, from, p);
                }
                match destination {
                    Destination::All | Destination::Leader => None,
                    Destination::Participant(pid) => Some(pid.as_str()),
                }
            }
        };
        let Some(payload) = payload else {
            room.stats.dropped = room.stats.dropped.saturating_add(1);
            return;
        };
        let len = payload.bytes().len() as u64;
        for (id, peer) in &room.peers {
            if *id == from || to_participant.is_some_and(|p| p != peer.participant_id) {
                continue;
            }
            if peer.outbox.push(payload) {
                room.stats.bytes = room.stats.bytes.saturating_add(len);
            } else {
                room.stats.dropped = room.stats.dropped.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::budget::{Budget, PAYLOAD_OVERHEAD};
    use super::*;

    fn payload(len: usize) -> Arc<Payload> {
        Payload::new(vec![0; len], &Budget::new(usize::MAX)).unwrap()
    }

    const UNIT: usize = 100 - PAYLOAD_OVERHEAD;

    fn rooms() -> Rooms {
        Rooms {
            limits: Some(LogLimits {
                entries: 100,
                room_bytes: 1000,
                connection_bytes: 500,
                total_bytes: 1500,
            }),
            ..Rooms::default()
        }
    }

    fn commit() -> Forward<'static> {
        Forward::Envelope {
            destination: &Destination::All,
            commit: true,
        }
    }

    fn peer(name: &str) -> Peer {
        Peer {
            participant_id: name.into(),
            outbox: Outbox::new(),
        }
    }

    fn log_of(r: &Rooms, m: &[u8]) -> Vec<u64> {
        r.rooms[m].log.entries.iter().map(|(f, _)| *f).collect()
    }

    #[test]
    fn one_connection_cannot_fill_the_log() {
        let mut r = rooms();
        r.join(b"m1", 1, peer("a")).unwrap();
        r.join(b"m1", 2, peer("b")).unwrap();
        for _ in 0..3 {
            r.forward(b"m1", 2, commit(), Some(&payload(UNIT)));
        }
        for _ in 0..20 {
            r.forward(b"m1", 1, commit(), Some(&payload(UNIT)));
        }
        // Connection 1 keeps its newest 5 (500 bytes); connection 2's 3 are kept.
        assert_eq!(log_of(&r, b"m1"), vec![2, 2, 2, 1, 1, 1, 1, 1]);
        assert_eq!(r.log_bytes, 800);
        // Non-commits are not logged.
        let env = Forward::Envelope {
            destination: &Destination::All,
            commit: false,
        };
        r.forward(b"m1", 1, env, Some(&payload(UNIT)));
        assert_eq!(r.log_bytes, 800);
    }

    #[test]
    fn many_meetings_share_one_log_budget() {
        let mut r = rooms();
        for (i, m) in [b"m1", b"m2", b"m3", b"m4"].iter().enumerate() {
            let i = i as u64 * 10;
            r.join(*m, i, peer("a")).unwrap();
            r.join(*m, i + 1, peer("b")).unwrap();
            for _ in 0..10 {
                r.forward(*m, i, commit(), Some(&payload(UNIT)));
                r.forward(*m, i + 1, commit(), Some(&payload(UNIT)));
            }
            assert!(r.log_bytes <= 1500);
        }
        assert_eq!(r.rooms[b"m1".as_slice()].log.bytes, 1000);
        assert_eq!(r.rooms[b"m2".as_slice()].log.bytes, 500);
        assert_eq!(r.rooms[b"m3".as_slice()].log.bytes, 0);
        // A meeting that closes gives its bytes back.
        r.leave(b"m1", 0);
        r.leave(b"m1", 1);
        assert_eq!(r.log_bytes, 500);
        r.forward(b"m4", 30, commit(), Some(&payload(UNIT)));
        assert_eq!(r.log_bytes, 600);
    }

    #[test]
    fn rooms_are_bounded_and_routing_follows_the_destination() {
        let mut r = Rooms::default();
        for i in 0..MAX_ROOMS {
            r.join(format!("m{i}").as_bytes(), i as u64, peer("a"))
                .unwrap();
        }
        assert!(r.join(b"one-more", 9999, peer("a")).is_err());
        assert!(r.join(b"m0", 9999, peer("b")).is_ok(), "an open meeting");
        let to_b = Forward::Envelope {
            destination: &Destination::Participant("b".into()),
            commit: false,
        };
        r.forward(b"m0", 0, to_b, Some(&payload(1)));
        r.forward(b"m0", 9999, Forward::Frame, Some(&payload(1)));
        r.forward(b"m0", 9999, Forward::Frame, None);
        let room = &r.rooms[b"m0".as_slice()];
        assert_eq!(room.peers[&9999].outbox.queued(), payload(1).cost());
        assert_eq!(room.peers[&0].outbox.queued(), payload(1).cost());
        assert_eq!(room.stats.dropped, 1);
    }
}
