//! Structure-aware fuzzing of the whole protocol: an `arbitrary` sequence of operations over a
//! small simulated meeting whose relay the input controls (deliver in or out of order, drop,
//! duplicate, tamper), with the invariants of `spec/state-machine.md` checked inside the
//! target so that a violation is a crash:
//!
//! - nothing panics;
//! - a tampered message (one bit flipped anywhere in the envelope) is rejected or ignored: it
//!   never changes what its recipient shows (epoch, transcript, keys, leader, lock, roster);
//! - a participant that ended (left, removed, timed out) holds no epoch secrets;
//! - frames: two participants holding the same epoch secret can read each other's frames, and
//!   participants with different epoch keys cannot;
//! - after healing (relay honest, time advanced) with a single leader, every active member
//!   that follows it holds keys for the leader's epoch with the leader's security code, and no
//!   one outside the leader's roster holds the leader's epoch secret; if the relay was honest
//!   throughout (FIFO delivery, no drops, duplicates or tampering), there is exactly one
//!   branch, everyone who ever held an epoch held the same secret for it, and a member that
//!   left never held a later epoch;
//! - after every operation, the confidentiality ledger (`conclave_core::sim::Ledger`): no
//!   participant ever seals two frames under one (key, nonce) (FR-SEND), and a stably removed
//!   member never holds a later epoch (state-machine.md 12.6), whatever the relay did: partitions,
//!   starving one member, crashing the leader, delays past the switch-over, far-future commits;
//! - at most one branch makes progress: no two participants ever lead at the same time on
//!   epochs that both became stable (checked through the ledger's removal rule and `healed`).
//!
//! Crypto: this target explores the state machine with the fuzz provider
//! (`conclave_core::provider::FuzzProvider`, `cfg(fuzzing)`): hash-based signatures and HPKE
//! that keep the properties these invariants need (a signature verifies only for its key and
//! message; a seal opens only for its recipient and exact info/aad; tampering fails) at a
//! fraction of the cost of P-256 and X-Wing. `engine_input` stays on real crypto.
#![no_main]

#[path = "../common/mod.rs"]
mod common;
#[path = "sim_ops/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use common::heap;
use common::prepared::Joiners;
use conclave_core::meeting::{MAX_PENDING_COMMIT_BYTES, MAX_PENDING_WELCOMES, MeetingConfig};
use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_core::provider::{FuzzProvider, Provider};
use conclave_core::sim::{InFlight, Ledger, Sim, TapAction};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use support::{S, check_always, far_future_commit, frame, healed, pick, view};

const MAX_PARTICIPANTS: usize = 5;
const MAX_OPS: usize = 40;
/// Virtual time the operations may use before healing (seconds).
const MAX_OP_TIME: u64 = 240;

#[derive(Arbitrary, Debug)]
enum Op {
    Join,
    Leave(u8),
    Remove(u8),
    Rotate,
    Lock(bool),
    HandOver(u8),
    /// Deliver everything in flight in order (and what it causes).
    DeliverAll,
    /// Deliver one message (out of order unless it is the first).
    DeliverOne(u8),
    Drop(u8),
    Duplicate(u8),
    /// Move a message to another position.
    Reorder(u8, u8),
    /// Flip one bit of a message and deliver it.
    Tamper {
        msg: u8,
        byte: u16,
        bit: u8,
    },
    /// Advance virtual time by 1..=40 s in 1 s steps, delivering as it goes.
    Advance(u8),
    /// Run timers now.
    Tick,
    /// Cut the participants in `mask` off from the others for 1..=120 s, then heal.
    Partition {
        mask: u8,
        secs: u8,
    },
    /// Drop every message of the leader to one participant for 1..=120 s.
    Starve {
        who: u8,
        secs: u8,
    },
    /// Crash the leader (it never runs again).
    Crash,
    /// Hold every message in flight back for 3..=60 s (past the switch-over), then deliver.
    Delay(u8),
    /// Inject an unsigned commit for a far-future epoch at one participant.
    FarFuture {
        to: u8,
        ahead: u16,
    },
    /// The relay registers a participant of its own (a fresh id and identity) that joins.
    RelayJoin,
    /// Encrypt a frame at one participant and decrypt it at another.
    Frame {
        from: u8,
        to: u8,
        stream: u8,
        payload: Vec<u8>,
        prefix: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    ops: Vec<Op>,
}

thread_local! {
    /// Participants built once per process (identities, HPKE keys, announcements).
    static CACHE: std::cell::RefCell<Joiners> = Default::default();
}

fn run(input: Input) {
    let config = MeetingConfig {
        provider: Provider::new(&FuzzProvider),
        ..MeetingConfig::default()
    };
    let mut s: S = Sim::new(
        common::MEETING_ID,
        config,
        ChaCha20Rng::seed_from_u64(input.seed),
    );
    CACHE.with(|c| c.borrow_mut().create(&mut s, "p0"));
    let mut next = 1;
    let mut honest = true;
    let mut spent = 0u64;
    // (participant, epoch) -> epoch secret, for everything anyone ever held.
    let mut held: BTreeMap<(String, u64), [u8; 32]> = BTreeMap::new();
    let mut left: BTreeMap<String, u64> = BTreeMap::new();
    let mut ledger = Ledger::new();
    let mut crashed = false;
    // `Sim::activity` at each participant's last heap check.
    let mut heap_checked: BTreeMap<String, u64> = BTreeMap::new();
    let record = |s: &S, held: &mut BTreeMap<(String, u64), [u8; 32]>| {
        for (id, m) in &s.participants {
            if let Some(sec) = m.epoch_secrets() {
                held.insert((id.clone(), sec.epoch), *sec.epoch_secret.expose());
            }
        }
    };
    for op in input.ops.into_iter().take(MAX_OPS) {
        let leader = s.leader().map(str::to_string);
        match op {
            Op::Join => {
                if s.participants.len() < MAX_PARTICIPANTS {
                    let id = format!("p{next}");
                    next += 1;
                    CACHE.with(|c| c.borrow_mut().join(&mut s, &id));
                }
            }
            Op::RelayJoin => {
                if s.participants.len() < MAX_PARTICIPANTS {
                    honest = false;
                    let id = format!("relay{next}");
                    next += 1;
                    CACHE.with(|c| c.borrow_mut().join(&mut s, &id));
                }
            }
            Op::Leave(i) => {
                if let Some(id) = pick(&s, i, true) {
                    // A leaving leader holds the handover epoch it made until the rebuild (HO-1).
                    let was_leader = s.participants[&id].is_leader();
                    let epoch = s.participants[&id].epoch() + u64::from(was_leader);
                    if s.act(&id, |m, now, rng| m.leave(now, rng)).is_ok() {
                        left.insert(id.clone(), epoch);
                        if !was_leader {
                            assert!(s.participants[&id].epoch_secrets().is_none());
                        }
                    }
                }
            }
            Op::Remove(i) => {
                if let (Some(l), Some(id)) = (&leader, pick(&s, i, true)) {
                    let _ = s.act(l, |m, now, _| m.remove(&id, now));
                }
            }
            Op::Rotate => {
                if let Some(l) = &leader {
                    let _ = s.act(l, |m, now, _| m.rotate(now));
                }
            }
            Op::Lock(on) => {
                if let Some(l) = &leader {
                    let _ = s.act(l, |m, now, _| m.lock(on, now));
                }
            }
            Op::HandOver(i) => {
                if let (Some(l), Some(id)) = (&leader, pick(&s, i, true)) {
                    let _ = s.act(l, |m, now, _| m.hand_over(&id, now));
                }
            }
            Op::DeliverAll => {
                s.deliver_all();
            }
            Op::DeliverOne(i) => {
                if !s.in_flight.is_empty() {
                    let k = usize::from(i) % s.in_flight.len();
                    honest &= k == 0;
                    if let Some(msg) = s.in_flight.remove(k) {
                        let to = msg.to.clone();
                        s.deliver_one(msg);
                        let _ = s.act(&to, |_, _, _| Ok(())); // collect its outputs
                    }
                }
            }
            Op::Drop(i) => {
                if !s.in_flight.is_empty() {
                    let k = usize::from(i) % s.in_flight.len();
                    s.in_flight.remove(k);
                    honest = false;
                }
            }
            Op::Duplicate(i) => {
                if !s.in_flight.is_empty() {
                    let k = usize::from(i) % s.in_flight.len();
                    let m = s.in_flight[k].clone();
                    s.in_flight.push_back(m);
                    honest = false;
                }
            }
            Op::Reorder(a, b) => {
                let n = s.in_flight.len();
                if n > 1 {
                    let (a, b) = (usize::from(a) % n, usize::from(b) % n);
                    if a != b {
                        s.in_flight.swap(a, b);
                        honest = false;
                    }
                }
            }
            Op::Tamper { msg, byte, bit } => {
                if !s.in_flight.is_empty() {
                    honest = false;
                    let k = usize::from(msg) % s.in_flight.len();
                    let Some(mut m) = s.in_flight.remove(k) else {
                        continue;
                    };
                    if m.payload.is_empty() {
                        continue;
                    }
                    let i = usize::from(byte) % m.payload.len();
                    m.payload[i] ^= 1 << (bit % 8);
                    let to = m.to.clone();
                    let Some(target) = s.participants.get(&to) else {
                        continue;
                    };
                    let before = view(target);
                    let payload = m.payload;
                    let r = s.act(&to, |mt, now, rng| mt.handle_message(&payload, now, rng));
                    let after = view(&s.participants[&to]);
                    assert_eq!(
                        before,
                        after,
                        "{to} changed state on a tampered message (byte {i} bit {}, result {r:?}) from {}",
                        bit % 8,
                        m.from
                    );
                }
            }
            Op::Advance(secs) => {
                advance(&mut s, &mut spent, u64::from(secs % 40) + 1, &mut ledger);
            }
            Op::Tick => s.tick(),
            Op::Partition { mask, secs } => {
                honest = false;
                let ids: Vec<String> = s.participants.keys().cloned().collect();
                let cut: Vec<String> = ids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                    .map(|(_, id)| id.clone())
                    .collect();
                s.tap = Some(Box::new(move |m: &mut InFlight| {
                    if cut.contains(&m.from) != cut.contains(&m.to) {
                        TapAction::Drop
                    } else {
                        TapAction::Deliver
                    }
                }));
                advance(&mut s, &mut spent, u64::from(secs % 120) + 1, &mut ledger);
                s.tap = None;
            }
            Op::Starve { who, secs } => {
                if let (Some(l), Some(v)) = (&leader, pick(&s, who, true)) {
                    honest = false;
                    let l = l.clone();
                    s.tap = Some(Box::new(move |m: &mut InFlight| {
                        if m.from == l && m.to == v {
                            TapAction::Drop
                        } else {
                            TapAction::Deliver
                        }
                    }));
                    advance(&mut s, &mut spent, u64::from(secs % 120) + 1, &mut ledger);
                    s.tap = None;
                }
            }
            Op::Crash => {
                if let Some(l) = &leader {
                    honest = false;
                    crashed = true;
                    s.pause(l);
                }
            }
            Op::Delay(secs) => {
                honest = false;
                let held_back: Vec<InFlight> = s.in_flight.drain(..).collect();
                advance(&mut s, &mut spent, u64::from(secs % 58) + 3, &mut ledger);
                s.in_flight.extend(held_back);
                s.deliver_all();
            }
            Op::FarFuture { to, ahead } => {
                if let Some(id) = pick(&s, to, true) {
                    honest = false;
                    let epoch = s.participants[&id].epoch() + 2 + u64::from(ahead);
                    let payload = far_future_commit(epoch);
                    let seen = s.events.len();
                    s.deliver_one(InFlight {
                        from: "relay".into(),
                        to: id.clone(),
                        payload,
                    });
                    let _ = s.act(&id, |_, _, _| Ok(())); // collect its outputs
                    // COM-5: an unverifiable commit alone never makes anyone ask for a resync.
                    assert!(
                        !s.events[seen..].iter().any(|(at, e)| *at == id
                            && matches!(e, conclave_core::meeting::Event::ResyncNeeded { .. })),
                        "a forged far-future commit made {id} request a resync"
                    );
                }
            }
            Op::Frame {
                from,
                to,
                stream,
                payload,
                prefix,
            } => {
                if let (Some(a), Some(b)) = (pick(&s, from, false), pick(&s, to, false)) {
                    let p = &payload[..payload.len().min(256)];
                    frame(&s, &a, &b, u32::from(stream % 4), p, usize::from(prefix));
                }
            }
        }
        check_always(&s);
        record(&s, &mut held);
        observe(&s, &mut ledger, None);
        check_heap(&s, &mut heap_checked);
    }

    // Heal: the relay turns honest, time passes.
    let mut result = healed(&s, honest);
    for _ in 0..12 {
        if result.is_ok() && s.in_flight.is_empty() {
            break;
        }
        for _ in 0..10 {
            second(&mut s, &mut ledger);
        }
        check_always(&s);
        record(&s, &mut held);
        result = healed(&s, honest);
    }
    // A crashed leader's meeting may end (no majority): that is not a failure to heal.
    if crashed && result.is_err() && s.leader().is_none() {
        result = Ok(());
    }
    if let Err(why) = result {
        panic!("not healed after {:?}: {why}\n{:#?}", s.now, s.participants);
    }
    // Nobody outside the leader's roster holds the leader's epoch secret.
    if let Some(l) = s.leader() {
        let lm = &s.participants[l];
        let secret = lm.epoch_secrets().map(|x| *x.epoch_secret.expose());
        let roster: Vec<String> = lm
            .participants()
            .into_iter()
            .map(|p| p.participant_id)
            .collect();
        for (id, m) in &s.participants {
            if !roster.contains(id) {
                let theirs = m.epoch_secrets().map(|x| *x.epoch_secret.expose());
                assert!(
                    theirs.is_none() || theirs != secret,
                    "{id} is not in leader {l}'s roster but holds its epoch {} secret",
                    lm.epoch()
                );
            }
        }
    }
    if honest {
        let mut by_epoch: BTreeMap<u64, (&str, [u8; 32])> = BTreeMap::new();
        for ((id, e), k) in &held {
            let prev = by_epoch.entry(*e).or_insert((id.as_str(), *k));
            assert!(
                prev.1 == *k,
                "honest relay: {id} and {} differ on epoch {e}",
                prev.0
            );
        }
        for (id, e_left) in &left {
            if let Some(max) = held
                .range((id.clone(), 0)..=(id.clone(), u64::MAX))
                .next_back()
            {
                assert!(
                    max.0.1 <= *e_left,
                    "{id} left at epoch {e_left} but held epoch {}",
                    max.0.1
                );
            }
        }
    }
}

/// Advances `d` seconds (within the operation time budget), one second at a time, checking the
/// ledger at each step.
fn advance(s: &mut S, spent: &mut u64, d: u64, ledger: &mut Ledger) {
    if *spent + d > MAX_OP_TIME {
        return;
    }
    *spent += d;
    for _ in 0..d {
        second(s, ledger);
    }
}

/// Advances one virtual second and checks the ledger for what ran in it: a participant's state
/// changes only when the simulation calls it (`Sim::activity`), so a second in which nothing
/// ran is not observed, and only the participants that ran seal a ledger frame. (After every
/// operation, `observe` seals for everyone.)
fn second(s: &mut S, ledger: &mut Ledger) {
    let before = s.activity();
    s.advance(Duration::from_secs(1), Duration::from_secs(1));
    if s.activity() != before {
        observe(s, ledger, Some(before));
    }
}

/// Records what everyone holds and seals a frame per sender (every sender, or with `since` those
/// the simulation called after that `Sim::activity` count); any violation is a crash. Also
/// checks the byte budget of unverified input every participant holds (spec/README.md).
fn observe(s: &S, ledger: &mut Ledger, since: Option<u64>) {
    support::trace(s);
    ledger.observe(s);
    ledger.seal_frames_where(s, |id| {
        since.is_none_or(|t| s.last_activity(id).is_some_and(|a| a > t))
    });
    assert!(
        ledger.violations.is_empty(),
        "confidentiality invariant broken: {:#?}",
        ledger.violations
    );
    let budget = MAX_PENDING_COMMIT_BYTES + MAX_PENDING_WELCOMES * MAX_ENVELOPE_SIZE;
    for (id, m) in &s.participants {
        assert!(
            m.buffered_bytes() <= budget,
            "{id} holds {} bytes of unverified input (budget {budget})",
            m.buffered_bytes()
        );
    }
}

/// Most heap one participant may hold (`spec/README.md`, "Unverified input a participant
/// holds": 16 MiB kept), measured through the counting allocator.
const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// Checks the heap every participant holds against [`MAX_HELD_BYTES`], for those the simulation
/// called since their last check (`checked`: `Sim::activity` then); the others hold what they
/// held.
fn check_heap(s: &S, checked: &mut BTreeMap<String, u64>) {
    for (id, m) in &s.participants {
        if let Some(at) = s.last_activity(id)
            && checked.insert(id.clone(), at) == Some(at)
        {
            continue;
        }
        let held = heap::held_by(m);
        assert!(
            held <= MAX_HELD_BYTES,
            "{id} holds {held} heap bytes (bound {MAX_HELD_BYTES})"
        );
    }
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

fuzz_target!(|input: Input| run(input));
