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
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use conclave_core::frame::{FrameConfig, FrameCrypto};
use conclave_core::meeting::{
    MAX_PENDING_COMMIT_BYTES, MAX_PENDING_WELCOMES, Meeting, MeetingConfig,
};
use conclave_core::protocol::encode;
use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::sim::{InFlight, Ledger, Sim, TapAction};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

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

type S = Sim<ChaCha20Rng>;

fn pick(s: &S, i: u8, active_only: bool) -> Option<String> {
    let ids: Vec<&String> = s
        .participants
        .iter()
        .filter(|(_, m)| !active_only || m.is_active())
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return None;
    }
    Some(ids[usize::from(i) % ids.len()].clone())
}

/// Fingerprint of the leader in `m`'s view.
fn followed_leader(m: &Meeting) -> Option<String> {
    m.participants()
        .into_iter()
        .find(|p| p.is_leader)
        .map(|p| p.fingerprint)
}

fn check_always(s: &S) {
    for (id, m) in &s.participants {
        if m.is_ended() {
            assert!(
                m.epoch_secrets().is_none(),
                "{id} ended but holds epoch secrets"
            );
            assert!(!m.has_keys() && m.security_code().is_none());
        }
    }
}

fn frame(s: &S, from: &str, to: &str, stream: u32, payload: &[u8], prefix: usize) {
    let (Some(a), Some(b)) = (s.participants.get(from), s.participants.get(to)) else {
        return;
    };
    let (Some(sa), Some(sb)) = (a.epoch_secrets(), b.epoch_secrets()) else {
        return;
    };
    if a.own_leaf() == b.own_leaf() {
        return;
    }
    let tx = FrameCrypto::new(FrameConfig::default()).expect("config");
    tx.set_own_sender(a.own_leaf()).expect("sender");
    tx.install_epoch(sa.epoch, &sa.frame_secret, s.now)
        .expect("install");
    let rx = FrameCrypto::new(FrameConfig::default()).expect("config");
    rx.set_own_sender(b.own_leaf()).expect("sender");
    rx.install_epoch(sb.epoch, &sb.frame_secret, s.now)
        .expect("install");
    let prefix = prefix.min(payload.len()).min(255);
    let f = tx.encrypt(stream, payload, prefix).expect("encrypt");
    let r = rx.decrypt(&f, s.now);
    let same = sa.epoch == sb.epoch && sa.frame_secret.expose() == sb.frame_secret.expose();
    if same {
        let d = r.unwrap_or_else(|e| panic!("{to} cannot read {from}'s frame: {e}"));
        assert_eq!(d.plaintext, payload);
        assert_eq!(d.sender, a.own_leaf());
    } else {
        assert!(
            r.is_err(),
            "{to} (epoch {}) read a frame of {from} (epoch {}) under other keys",
            sb.epoch,
            sa.epoch
        );
    }
}

/// Whether the meeting has healed, or why not.
fn healed(s: &S, honest: bool) -> Result<(), String> {
    let active = s.active();
    let Some(l) = s.leader() else {
        if honest && !active.is_empty() {
            return Err(format!(
                "honest relay, active {active:?} but no single leader"
            ));
        }
        return Ok(());
    };
    let lm = &s.participants[l];
    let lcode = lm
        .security_code()
        .ok_or(format!("leader {l} has no keys"))?;
    let lfp = lm.identity().fingerprint_string();
    for id in &active {
        let m = &s.participants[*id];
        let follows = followed_leader(m).as_deref() == Some(lfp.as_str());
        if !follows {
            if honest {
                return Err(format!("honest relay, but {id} follows another leader"));
            }
            continue;
        }
        if m.epoch() != lm.epoch() || m.security_code().as_deref() != Some(lcode.as_str()) {
            return Err(format!(
                "{id} at epoch {} (keys {}) disagrees with leader {l} at epoch {}",
                m.epoch(),
                m.has_keys(),
                lm.epoch()
            ));
        }
    }
    Ok(())
}

fn run(input: Input) {
    let mut s: S = Sim::new(
        common::MEETING_ID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(input.seed),
    );
    s.create("p0").expect("create");
    let mut next = 1;
    let mut honest = true;
    let mut spent = 0u64;
    // (participant, epoch) -> epoch secret, for everything anyone ever held.
    let mut held: BTreeMap<(String, u64), [u8; 32]> = BTreeMap::new();
    let mut left: BTreeMap<String, u64> = BTreeMap::new();
    let mut ledger = Ledger::new();
    let mut crashed = false;
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
                    s.join(&id).expect("join");
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
        observe(&s, &mut ledger);
    }

    // Heal: the relay turns honest, time passes.
    let mut result = healed(&s, honest);
    for _ in 0..12 {
        if result.is_ok() && s.in_flight.is_empty() {
            break;
        }
        for _ in 0..10 {
            s.advance(Duration::from_secs(1), Duration::from_secs(1));
            observe(&s, &mut ledger);
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
        s.advance(Duration::from_secs(1), Duration::from_secs(1));
        observe(s, ledger);
    }
}

/// Records what everyone holds and seals a frame per sender; any violation is a crash. Also
/// checks the byte budget of unverified input every participant holds (spec/README.md).
fn observe(s: &S, ledger: &mut Ledger) {
    ledger.observe(s);
    ledger.seal_frames(s);
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

/// An unsigned commit envelope for `epoch` (the relay cannot sign).
fn far_future_commit(epoch: u64) -> Vec<u8> {
    let c = pb::Commit {
        version: 1,
        suite: 1,
        meeting_id: common::MEETING_ID.to_vec(),
        epoch,
        prev_transcript_hash: vec![0; 32],
        leader_leaf: 0,
        reason: pb::CommitReason::Rotation as i32,
        leaf_count: 1,
        updates_root: vec![0; 32],
        ..Default::default()
    };
    encode(&pb::Envelope {
        body: Some(Body::Commit(pb::CommitBundle {
            commit: Some(pb::SignedMessage {
                content: encode(&c),
                signature: vec![0; 64],
            }),
            updates: vec![],
            proof: vec![],
        })),
    })
}

fuzz_target!(|input: Input| run(input));
