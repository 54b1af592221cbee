//! Meetings built once per fuzzing process and copied for every input (`cfg(fuzzing)` only).
//!
//! Building the engine target's meeting costs four identity keys, four HPKE key pairs, three
//! commits and a heartbeat round of real P-256, X-Wing and ECDSA: about 40 ms of an
//! instrumented build, against well under a millisecond for what an input does with it. A
//! [`Prepared`] state holds the participants (`Meeting: Clone`), the relay queue, the clock and
//! the random source after setup, plus a deep copy of each participant's `FrameCrypto` (which a
//! cloned `Meeting` shares with its original through an `Arc`): before each copy is handed out,
//! the shared frame state is reset from that deep copy, so every input starts from exactly the
//! state the setup left, as if it had been rebuilt. One copy is live at a time (libFuzzer runs
//! inputs one after the other in a process).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::frame::FrameCrypto;
use conclave_core::meeting::{Meeting, MeetingConfig};
use conclave_core::sim::{InFlight, Sim};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A simulation state to copy from.
pub struct Prepared {
    participants: BTreeMap<String, (Meeting, FrameCrypto)>,
    in_flight: VecDeque<InFlight>,
    now: Duration,
    rng: ChaCha20Rng,
}

impl Prepared {
    /// Captures `s` (its participants, relay queue, clock and random source).
    pub fn capture(s: &Sim<ChaCha20Rng>) -> Self {
        Prepared {
            participants: s
                .participants
                .iter()
                .map(|(id, m)| (id.clone(), (m.clone(), m.frame_crypto().snapshot())))
                .collect(),
            in_flight: s.in_flight.clone(),
            now: s.now,
            rng: s.rng.clone(),
        }
    }

    /// A simulation in exactly the captured state.
    pub fn sim(&self) -> Sim<ChaCha20Rng> {
        let mut s = Sim::new(
            super::MEETING_ID,
            MeetingConfig::default(),
            self.rng.clone(),
        );
        s.now = self.now;
        s.in_flight = self.in_flight.clone();
        for (id, (m, frames)) in &self.participants {
            s.participants.insert(id.clone(), fresh_copy(m, frames));
        }
        s
    }
}

/// A copy of `m` whose (shared) frame state is reset to `frames`.
pub fn fresh_copy(m: &Meeting, frames: &FrameCrypto) -> Meeting {
    m.frame_crypto().restore(frames);
    m.clone()
}

/// FNV-1a of `parts`, to seed per-participant random sources (not security relevant).
fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Most joining participants [`Joiners`] keeps (about 10 KB each).
const MAX_CACHED_JOINERS: usize = 4096;

/// Joining participants by (participant id, join time), each built once from an identity and
/// a random source derived from its id (and time): a participant joins exactly as
/// `Sim::join_with` would make it, without the P-256 and X-Wing key generation.
#[derive(Default)]
pub struct Joiners {
    identities: HashMap<String, IdentityKey>,
    joiners: HashMap<(String, Duration, bool), (Meeting, FrameCrypto)>,
}

impl Joiners {
    /// The identity of `id` (the same in every input).
    pub fn identity(&mut self, id: &str) -> IdentityKey {
        self.identities
            .entry(id.to_string())
            .or_insert_with(|| {
                IdentityKey::generate(&mut ChaCha20Rng::seed_from_u64(hash64(&[id.as_bytes()])))
            })
            .clone()
    }

    /// Creates the meeting with `id` as leader at `s.now`, with its cached identity; as
    /// `Sim::create_with` does.
    pub fn create(&mut self, s: &mut Sim<ChaCha20Rng>, id: &str) {
        self.start(s, id, true);
    }

    /// Starts a join of `id` at `s.now` with its cached identity; as `Sim::join_with` does.
    pub fn join(&mut self, s: &mut Sim<ChaCha20Rng>, id: &str) {
        self.start(s, id, false);
    }

    fn start(&mut self, s: &mut Sim<ChaCha20Rng>, id: &str, create: bool) {
        let key = (id.to_string(), s.now, create);
        let m = if let Some((m, frames)) = self.joiners.get(&key) {
            fresh_copy(m, frames)
        } else {
            let identity = self.identity(id);
            let nanos = s.now.as_nanos().to_le_bytes();
            let mut rng = ChaCha20Rng::seed_from_u64(hash64(&[id.as_bytes(), &nanos]));
            let (config, mid, now) = (s.config.clone(), s.meeting_id.clone(), s.now);
            let m = if create {
                Meeting::create(config, &mid, id, identity, now, &mut rng)
            } else {
                Meeting::join(config, &mid, id, identity, now, &mut rng)
            }
            .unwrap_or_else(|e| panic!("{id} cannot start: {e}"));
            if self.joiners.len() < MAX_CACHED_JOINERS {
                let frames = m.frame_crypto().snapshot();
                self.joiners.insert(key, (m.clone(), frames));
            }
            m
        };
        s.participants.insert(id.to_string(), m);
        let _ = s.act(id, |_, _, _| Ok(())); // collect its announcement
    }
}
