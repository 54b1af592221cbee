//! Property test of the admission rules (`spec/state-machine.md` section 5, ANN-10 to ANN-13)
//! under random sequences of joins, leaves, removals, re-admissions, lock changes and relay
//! replays of every announcement ever sent:
//!
//! - **removal lasts** (finding 7): an identity the leader removed is never present again until
//!   the application calls `admit` for it, locked or not, whatever the relay replays;
//! - **replays stay replays** (finding 6): re-delivering an announcement from an earlier
//!   membership never evicts a live member and never changes the roster by itself;
//! - **relay participants stay out** (finding 5): with an allow-list, an identity not on it is
//!   never admitted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::meeting::{AdmissionPolicy, MeetingConfig};
use conclave_core::protocol::v1::envelope::Body;
use conclave_core::protocol::{MessageKind, decode_bounded};
use conclave_core::sim::{InFlight, Sim, TapAction};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"admission-properties-meeting";
const IDS: [&str; 4] = ["bob", "carol", "dave", "mallory"];

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(usize),
    Remove(usize),
    Admit(usize),
    Lock(bool),
    /// The relay re-delivers every announcement it has seen so far to the leader.
    ReplayAll,
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..IDS.len()).prop_map(Op::Join),
        (0..IDS.len()).prop_map(Op::Leave),
        (0..IDS.len()).prop_map(Op::Remove),
        (0..IDS.len()).prop_map(Op::Admit),
        any::<bool>().prop_map(Op::Lock),
        Just(Op::ReplayAll),
        (1u8..25).prop_map(Op::Wait),
    ]
}

fn present(s: &Sim<ChaCha20Rng>) -> BTreeSet<String> {
    s.participants["alice"]
        .participants()
        .into_iter()
        .map(|p| p.participant_id)
        .collect()
}

fn is_announcement(payload: &[u8]) -> bool {
    matches!(
        decode_bounded::<conclave_core::protocol::v1::Envelope>(
            MessageKind::Envelope,
            payload,
            usize::MAX
        )
        .ok()
        .and_then(|e| e.body),
        Some(Body::Announcement(_))
    )
}

/// What a run reached, to show the properties are not vacuous.
#[derive(Debug, Default)]
struct Reached {
    removals: usize,
    replays_after_removal: usize,
    rejoin_attempts_while_banned: usize,
}

fn run(seed: u64, ops: Vec<Op>, allow_list: bool) -> Result<Reached, TestCaseError> {
    let mut reached = Reached::default();
    let mut s = Sim::new(
        MID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    let keys: BTreeMap<&str, [u8; 32]> = IDS
        .iter()
        .map(|id| (*id, *IdentityKey::generate(&mut s.rng).secret_bytes()))
        .collect();
    let key = |id: &str| IdentityKey::from_secret_bytes(&keys[id]).unwrap();
    if allow_list {
        // Everyone but mallory is invited.
        let allowed = IDS
            .iter()
            .filter(|id| **id != "mallory")
            .map(|id| key(id).public().fingerprint_string())
            .collect();
        s.config.admission = AdmissionPolicy::AllowList(allowed);
    }
    s.create("alice").unwrap();
    // The relay records every announcement it carries.
    let seen: std::rc::Rc<std::cell::RefCell<Vec<InFlight>>> = Default::default();
    let log = seen.clone();
    s.tap = Some(Box::new(move |m: &mut InFlight| {
        if m.to == "alice" && is_announcement(&m.payload) {
            log.borrow_mut().push(m.clone());
        }
        TapAction::Deliver
    }));
    // Removed by the leader and not re-admitted since.
    let mut banned: BTreeSet<String> = BTreeSet::new();
    for op in ops {
        match op {
            Op::Join(i) => {
                let id = IDS[i];
                if banned.contains(id) {
                    reached.rejoin_attempts_while_banned += 1;
                }
                let active = s.participants.get(id).is_some_and(|m| !m.is_ended());
                if !active {
                    s.participants.remove(id);
                    let _ = s.join_with(id, key(id));
                }
            }
            Op::Leave(i) => {
                let id = IDS[i];
                if s.participants.get(id).is_some_and(|m| m.is_active()) {
                    let _ = s.act(id, |m, now, rng| m.leave(now, rng));
                }
            }
            Op::Remove(i) => {
                let id = IDS[i];
                if present(&s).contains(id) && s.act("alice", |m, now, _| m.remove(id, now)).is_ok()
                {
                    banned.insert(id.to_string());
                    reached.removals += 1;
                }
            }
            Op::Admit(i) => {
                let id = IDS[i];
                if s.act("alice", |m, now, _| m.admit(id, now)).is_ok() {
                    banned.remove(id);
                }
            }
            Op::Lock(on) => {
                let _ = s.act("alice", |m, now, _| m.lock(on, now));
            }
            Op::ReplayAll => {
                if !banned.is_empty() {
                    reached.replays_after_removal += 1;
                }
                let before = present(&s);
                let replays: Vec<InFlight> = seen.borrow().clone();
                for m in replays {
                    s.deliver_one(m);
                }
                s.settle();
                let after = present(&s);
                // A replay alone never removes anyone (in particular no live member).
                prop_assert!(
                    before.is_subset(&after),
                    "a replay evicted someone: {before:?} -> {after:?}"
                );
            }
            Op::Wait(secs) => {
                s.advance(Duration::from_secs(u64::from(secs)), Duration::from_secs(1));
            }
        }
        s.settle();
        let now_present = present(&s);
        for id in &banned {
            prop_assert!(
                !now_present.contains(id),
                "{id} was removed and is present again without admit"
            );
        }
        if allow_list {
            prop_assert!(!now_present.contains("mallory"), "mallory is not invited");
        }
    }
    Ok(reached)
}

/// The scenario of findings 6 and 7, fixed: bob joins, is removed, rejoins (refused), the relay
/// replays all his announcements (refused), the leader locks and unlocks; then the application
/// admits him again and he gets back in.
#[test]
fn the_properties_are_not_vacuous() {
    use Op::*;
    let ops = vec![
        Join(0),
        Wait(12),
        Remove(0),
        Wait(12),
        Join(0),
        Wait(24),
        ReplayAll,
        Lock(true),
        Join(0),
        Wait(24),
        ReplayAll,
        Lock(false),
    ];
    let r = run(7, ops, false).unwrap();
    assert_eq!(r.removals, 1);
    assert!(r.replays_after_removal >= 2 && r.rejoin_attempts_while_banned >= 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn removals_last_and_replays_change_nothing(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let _ = run(seed, ops, false)?;
    }

    #[test]
    fn an_allow_list_keeps_uninvited_identities_out(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let _ = run(seed, ops, true)?;
    }
}
