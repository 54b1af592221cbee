//! Setup shared by the fuzz targets and the seed generator (`seeds.rs`): the seed generator
//! captures real envelopes from exactly the meeting the engine target starts from, so mutated
//! seeds reach deep into the engine instead of stopping at the meeting-id check.
#![allow(dead_code)]

#[cfg(fuzzing)]
pub mod heap;
#[cfg(fuzzing)]
pub mod prepared;

use std::time::Duration;

use conclave_core::meeting::{Meeting, MeetingConfig};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Meeting id of every simulated meeting in the fuzzers.
pub const MEETING_ID: &[u8] = b"fuzz-meeting-0001";
/// RNG seed of the engine target's meeting.
pub const ENGINE_SEED: u64 = 0x00C0_4C1A_5EF0_22ED;
/// Participants of the engine target's meeting: the leader, a member, and a joiner whose
/// announcement the leader has not seen yet.
pub const LEADER: &str = "alice";
pub const MEMBER: &str = "bob";
pub const MEMBER2: &str = "carol";
pub const JOINER: &str = "dave";

/// The engine target's starting point: `alice` created the meeting, `bob` and `carol` joined,
/// one heartbeat went round, and `dave` has just announced (his announcement is still in
/// flight). Deterministic: the same state on every call.
pub fn engine_sim() -> Sim<ChaCha20Rng> {
    let mut s = Sim::new(
        MEETING_ID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(ENGINE_SEED),
    );
    s.create(LEADER).expect("create");
    s.join(MEMBER).expect("join");
    s.join(MEMBER2).expect("join");
    s.settle();
    s.advance(Duration::from_secs(11), Duration::from_secs(11));
    s.join(JOINER).expect("join");
    s
}

/// The engine target's starting point with the honest traffic in flight delivered or not
/// (flag bit 6). In fuzz builds both are built once per process and copied per input
/// ([`prepared`]); elsewhere (the regression tests) they are built afresh.
#[cfg(fuzzing)]
fn engine_start(delivered: bool) -> Sim<ChaCha20Rng> {
    use prepared::Prepared;
    thread_local! {
        static STATES: [Prepared; 2] = {
            let mut s = engine_sim();
            let before = Prepared::capture(&s);
            s.deliver_all();
            let states = [before, Prepared::capture(&s)];
            // A copy must be the meeting a fresh build gives, before and after the honest
            // traffic (and again after a copy was used).
            for _ in 0..2 {
                let mut fresh = engine_sim();
                let mut copy = states[0].sim();
                assert_same(&fresh, &copy);
                fresh.deliver_all();
                copy.deliver_all();
                assert_same(&fresh, &copy);
                assert_same(&fresh, &states[1].sim());
            }
            states
        };
    }
    STATES.with(|p| p[usize::from(delivered)].sim())
}

/// Panics unless `a` and `b` show the same participants, keys and relay queue.
#[cfg(fuzzing)]
fn assert_same(a: &Sim<ChaCha20Rng>, b: &Sim<ChaCha20Rng>) {
    assert_eq!(a.now, b.now);
    assert_eq!(
        a.in_flight, b.in_flight,
        "a prepared copy sends other messages"
    );
    assert_eq!(a.participants.len(), b.participants.len());
    for ((id, x), (_, y)) in a.participants.iter().zip(&b.participants) {
        assert_eq!(view(x), view(y), "{id}: a prepared copy differs");
        let fx = x.frame_crypto();
        let fy = y.frame_crypto();
        assert_eq!(fx.send_epoch(), fy.send_epoch());
        assert_eq!(fx.retained_epochs(a.now), fy.retained_epochs(b.now));
    }
}

#[cfg(not(fuzzing))]
fn engine_start(delivered: bool) -> Sim<ChaCha20Rng> {
    let mut s = engine_sim();
    if delivered {
        s.deliver_all();
    }
    s
}

/// Splits `data` into messages: each is a big-endian u16 length and that many bytes (the last
/// one takes what is left if the length runs past the end). At most `max` messages.
pub fn split_messages(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && out.len() < max {
        let (len, body) = match rest {
            [a, b, body @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), body),
            _ => break,
        };
        let n = len.min(body.len());
        let (msg, tail) = body.split_at(n);
        out.push(msg);
        rest = tail;
    }
    out
}

/// The inverse of [`split_messages`].
pub fn join_messages<'a>(msgs: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let n = u16::try_from(m.len()).expect("seed message under 64 KiB");
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

/// What a participant shows: rejected input must not change it.
#[derive(Debug, PartialEq, Eq)]
struct View {
    active: bool,
    ended: bool,
    leader: bool,
    epoch: u64,
    transcript: [u8; 32],
    code: Option<String>,
    leader_leaf: u32,
    locked: bool,
    roster: Vec<(String, u32)>,
}

fn view(m: &Meeting) -> View {
    View {
        active: m.is_active(),
        ended: m.is_ended(),
        leader: m.is_leader(),
        epoch: m.epoch(),
        transcript: m.transcript_hash(),
        code: m.security_code(),
        leader_leaf: m.leader_leaf(),
        locked: m.is_locked(),
        roster: m
            .participants()
            .into_iter()
            .map(|p| (p.participant_id, p.leaf))
            .collect(),
    }
}

/// The `engine_input` fuzz target (also replayed by `core/tests/fuzz_regressions.rs`): the
/// engine under a hostile relay. A meeting in a valid state (leader, two members, a joiner
/// waiting for its Welcome) is fed arbitrary bytes as incoming envelopes, at the leader, at a
/// member and at the joiner, then runs its timers. Nothing may panic, and:
/// - a message the engine rejects must not change what it shows (epoch, transcript, keys,
///   leader, lock, roster, phase);
/// - an ended participant holds no epoch secrets;
/// - participants that hold keys for the same epoch hold the same keys (the forged input can
///   only make someone drop out, never fork the keys).
///
/// Input: byte 0 = flags (bits 0-1: recipients 0 leader, 1 member, 2 joiner, 3 all three;
/// bits 2-5: seconds to advance before the timers run; bit 6: deliver the honest traffic
/// already in flight first; bit 7: let the outputs settle afterwards). Then up to 4 envelopes,
/// each a big-endian u16 length and its bytes.
pub fn engine_input(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let msgs = split_messages(rest, 4);
    let mut s = engine_start(flags & 0x40 != 0);
    let targets: &[&str] = match flags & 3 {
        0 => &[LEADER],
        1 => &[MEMBER],
        2 => &[JOINER],
        _ => &[LEADER, MEMBER, JOINER],
    };
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(flags));
    for msg in &msgs {
        for &id in targets {
            let now = s.now;
            let Some(m) = s.participants.get_mut(id) else {
                continue;
            };
            let before = view(m);
            let r = m.handle_message(msg, now, &mut rng);
            if r.is_err() {
                assert_eq!(
                    before,
                    view(m),
                    "{id} changed state on rejected input: {r:?}"
                );
            }
            while m.poll_event().is_some() {}
        }
    }
    let secs = u64::from((flags >> 2) & 0x0f);
    s.now += Duration::from_secs(secs);
    for &id in targets {
        let now = s.now;
        if let Some(m) = s.participants.get_mut(id) {
            let _ = m.handle_timeout(now, &mut rng);
        }
    }
    // Collect the outputs (and deliver them if asked).
    if flags & 0x80 != 0 {
        s.settle();
    } else {
        let _ = s.act(LEADER, |_, _, _| Ok(()));
    }
    let mut by_epoch = std::collections::BTreeMap::new();
    for (id, m) in &s.participants {
        if m.is_ended() {
            assert!(m.epoch_secrets().is_none(), "{id} ended but holds secrets");
        }
        if let Some(sec) = m.epoch_secrets() {
            let k = *sec.epoch_secret.expose();
            let prev = by_epoch.entry(sec.epoch).or_insert((id.clone(), k));
            assert!(
                prev.1 == k,
                "{id} and {} hold different secrets for epoch {}",
                prev.0,
                sec.epoch
            );
        }
    }
}
