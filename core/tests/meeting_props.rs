//! Property tests of the meeting engine: random operation sequences over a small simulated
//! meeting with a hostile relay, checking the invariants of `spec/state-machine.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{Event, MeetingConfig, RemovalReason};
use conclave_core::sim::{Faults, Sim, TapAction};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[derive(Debug, Clone)]
enum Op {
    Join,
    Leave(usize),
    Remove(usize),
    Rotate,
    Lock(bool),
    Deliver,
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Join),
        2 => (0usize..8).prop_map(Op::Leave),
        2 => (0usize..8).prop_map(Op::Remove),
        1 => Just(Op::Rotate),
        1 => any::<bool>().prop_map(Op::Lock),
        3 => Just(Op::Deliver),
        2 => (1u8..40).prop_map(Op::Wait),
    ]
}

/// A member's view: epoch, security code, transcript hash.
type View = (u64, Option<String>, [u8; 32]);

/// What every participant ever held: (epoch) -> (epoch secret bytes, transcript hash).
type Held = BTreeMap<String, BTreeMap<u64, ([u8; 32], [u8; 32])>>;

fn record(s: &Sim<ChaCha20Rng>, held: &mut Held) {
    for (id, m) in &s.participants {
        if let Some(sec) = m.epoch_secrets() {
            held.entry(id.clone())
                .or_default()
                .insert(sec.epoch, (*sec.epoch_secret.expose(), sec.transcript_hash));
        }
    }
}

/// Whether `id` ended because it left or the leader removed it (not a timeout or failover).
fn removed_on_purpose(s: &Sim<ChaCha20Rng>, id: &str) -> bool {
    s.events.iter().rev().find_map(|(who, e)| match e {
        Event::Ended { reason } if who == id => Some(matches!(
            reason,
            RemovalReason::Left | RemovalReason::Removed
        )),
        _ => None,
    }) == Some(true)
}

fn seed_from_env() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00C0_4C1A_5E00_0001);
    proptest::test_runner::RngSeed::Fixed(seed)
}

/// Whether the leader's roster is exactly the set of active participants.
fn roster_matches(s: &Sim<ChaCha20Rng>) -> bool {
    let Some(leader) = s.leader() else {
        return false;
    };
    let mut roster: Vec<String> = s.participants[leader]
        .participants()
        .into_iter()
        .map(|p| p.participant_id)
        .collect();
    roster.sort();
    let mut active: Vec<String> = s.active().into_iter().map(str::to_string).collect();
    active.sort();
    roster == active
}

fn run(seed: u64, ops: Vec<Op>, faults: Faults, tamper_ppm: u32) -> Result<(), TestCaseError> {
    let mut s = Sim::new(
        b"proptest-meeting-0001",
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    s.faults = faults;
    let mut tamper_rng = ChaCha20Rng::seed_from_u64(seed ^ 0xDEAD);
    s.tap = Some(Box::new(move |m| {
        use rand_core::Rng;
        if tamper_ppm > 0 && tamper_rng.next_u32() % 1_000_000 < tamper_ppm && !m.payload.is_empty()
        {
            let i = (tamper_rng.next_u32() as usize) % m.payload.len();
            let bit = 1u8 << (tamper_rng.next_u32() % 8);
            if let Some(b) = m.payload.get_mut(i) {
                *b ^= bit;
            }
        }
        TapAction::Deliver
    }));
    let mut keys = BTreeMap::new();
    let k0 = IdentityKey::generate(&mut s.rng);
    keys.insert("p0".to_string(), k0.secret_bytes());
    s.create_with("p0", k0)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut next = 1;
    let mut held: Held = BTreeMap::new();
    // Epoch at which each participant was removed or left, and admitted.
    let mut gone: BTreeMap<String, u64> = BTreeMap::new();
    for op in ops {
        let members: Vec<String> = s
            .participants
            .iter()
            .filter(|(_, m)| m.is_active())
            .map(|(id, _)| id.clone())
            .collect();
        let leader = s.leader().map(str::to_string);
        match op {
            Op::Join if s.participants.len() < 8 => {
                let id = format!("p{next}");
                next += 1;
                let k = IdentityKey::generate(&mut s.rng);
                keys.insert(id.clone(), k.secret_bytes());
                let _ = s.join_with(&id, k);
            }
            Op::Leave(i) | Op::Remove(i) if !members.is_empty() => {
                let id = members[i % members.len()].clone();
                // A leaving leader makes the handover epoch itself and holds it until the new
                // leader's rebuild removes it (HO-1).
                let was_leader = s.participants[&id].is_leader();
                let epoch = s.participants[&id].epoch() + u64::from(was_leader);
                let r = if matches!(op, Op::Leave(_)) {
                    s.act(&id, |m, now, rng| m.leave(now, rng))
                } else if let Some(l) = &leader {
                    let target = id.clone();
                    s.act(l, move |m, now, _| m.remove(&target, now))
                } else {
                    Ok(())
                };
                if r.is_ok() && matches!(op, Op::Leave(_)) {
                    gone.insert(id, epoch);
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
            Op::Deliver => s.settle(),
            Op::Wait(secs) => {
                s.advance(Duration::from_secs(u64::from(secs)), Duration::from_secs(1))
            }
            _ => {}
        }
        record(&s, &mut held);
        // Record members that left or were removed on purpose.
        for (id, m) in &s.participants {
            if m.is_ended() && removed_on_purpose(&s, id) {
                gone.entry(id.clone()).or_insert(m.epoch());
            }
        }
    }
    // Heal: no more faults or tampering, then let heartbeats and resyncs run.
    s.faults = Faults::default();
    s.tap = None;
    for round in 0..24 {
        s.advance(Duration::from_secs(10), Duration::from_secs(1));
        // The application rejoins (same identity) participants that timed out or were deposed,
        // but not those that left or were removed on purpose.
        if round < 18 {
            let ended: Vec<String> = s
                .participants
                .iter()
                .filter(|(id, m)| m.is_ended() && !removed_on_purpose(&s, id))
                .map(|(id, _)| id.clone())
                .collect();
            for id in ended {
                if let Some(secret) = keys.get(&id) {
                    s.participants.remove(&id);
                    held.remove(&id); // a new incarnation
                    let k = IdentityKey::from_secret_bytes(secret.as_ref()).unwrap();
                    let _ = s.join_with(&id, k);
                }
            }
        }
        record(&s, &mut held);
        if s.active().is_empty() || (s.converged().is_some() && roster_matches(&s)) {
            break;
        }
        let _ = round;
    }
    // Invariant 1: convergence of every active member on epoch, transcript and security code.
    // Invariant 1: members that follow the same leader agree on epoch, transcript and security
    // code. With an honest relay there is exactly one such branch. A lossy relay can split the
    // meeting into branches (a failover while the leader lives, in a partition); the codes of
    // different branches differ, which is how people detect it, and SPLIT-1 merges branches
    // whose leaders know each other.
    let mut branches: BTreeMap<String, Vec<View>> = BTreeMap::new();
    for id in s.active() {
        let m = &s.participants[id];
        let leader = m
            .participants()
            .into_iter()
            .find(|p| p.is_leader)
            .map(|p| p.fingerprint)
            .unwrap_or_default();
        branches.entry(leader).or_default().push((
            m.epoch(),
            m.security_code(),
            m.transcript_hash(),
        ));
    }
    let honest_relay = faults == Faults::default() && tamper_ppm == 0;
    let disagree = branches
        .values()
        .any(|v| v.iter().any(|x| *x != v[0] || x.1.is_none()));
    if disagree || (honest_relay && branches.len() > 1) {
        let views: Vec<_> = s
            .participants
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.is_active(),
                    m.epoch(),
                    m.has_keys(),
                    m.is_leader(),
                    m.leader_leaf(),
                )
            })
            .collect();
        return Err(TestCaseError::fail(format!(
            "members of one branch disagree after healing at {:?}: {views:?}",
            s.now
        )));
    }
    // Invariant 2: with an honest relay, all who held an epoch hold the same secret and
    // transcript for it. (A lossy relay can make a successor fail over while the leader lives:
    // the two branches then show different security codes until the fork rule and resync heal
    // them, which invariant 1 checks.)
    let honest = honest_relay;
    let mut by_epoch: BTreeMap<u64, ([u8; 32], [u8; 32])> = BTreeMap::new();
    for (id, epochs) in &held {
        for (e, v) in epochs {
            let prev = by_epoch.entry(*e).or_insert(*v);
            if honest {
                prop_assert_eq!(prev, v, "{} holds a different secret for epoch {}", id, e);
            }
        }
    }
    // Invariant 3: a member that left or was removed at epoch e never holds a later epoch.
    for (id, e_gone) in &gone {
        if let Some(epochs) = held.get(id)
            && let Some(max) = epochs.keys().next_back()
        {
            prop_assert!(
                max <= e_gone,
                "{} left at {} but held epoch {}",
                id,
                e_gone,
                max
            );
        }
        prop_assert!(s.participants[id].epoch_secrets().is_none());
    }
    // Invariant 4: a joiner never holds an epoch before the one that admitted it.
    if let Some(leader) = s.leader() {
        for p in s.participants[leader].participants() {
            if let Some(epochs) = held.get(&p.participant_id)
                && let Some(min) = epochs.keys().next()
            {
                prop_assert!(
                    *min >= p.admitted_epoch,
                    "{} admitted at {} held epoch {}",
                    p.participant_id,
                    p.admitted_epoch,
                    min
                );
            }
        }
        // Active members and the leader's roster are the same set (one branch).
        let mut roster: Vec<String> = s.participants[leader]
            .participants()
            .into_iter()
            .map(|p| p.participant_id)
            .collect();
        roster.sort();
        let mut active: Vec<String> = s.active().into_iter().map(str::to_string).collect();
        active.sort();
        prop_assert_eq!(roster, active);
    }
    Ok(())
}

proptest! {
    // A fixed seed keeps CI deterministic; set PROPTEST_RNG_SEED to explore other sequences.
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 64,
        rng_seed: seed_from_env(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn honest_relay_invariants(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..24)) {
        run(seed, ops, Faults::default(), 0)?;
    }

    #[test]
    fn faulty_relay_invariants(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..24)) {
        let faults = Faults { drop_ppm: 150_000, duplicate_ppm: 100_000, reorder_ppm: 150_000 };
        run(seed, ops, faults, 0)?;
    }

    #[test]
    fn tampering_relay_invariants(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..24)) {
        run(seed, ops, Faults::default(), 100_000)?;
    }
}
