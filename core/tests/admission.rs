//! Admission under the application's control (`spec/state-machine.md` section 5): manual
//! admission and allow-lists, the minimum suite, rejoins bound to one membership (ANN-10),
//! durable removals (ANN-11) and the bounded pin table (ANN-13).

use std::collections::BTreeSet;
use std::time::Duration;

use conclave_core::meeting::{
    AdmissionPolicy, Event, JOIN_REQUEST_TIMEOUT, JoinRefusal, MAX_PINNED_IDENTITIES, Meeting,
    MeetingConfig, MeetingError, PinTable, RemovalReason,
};
use conclave_core::sim::{InFlight, Sim};
use conclave_core::{CipherSuite, IdentityKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"admission-meeting-0123456789";
const PQ: CipherSuite = CipherSuite::XWingSha256ChaCha20Poly1305;
const CLASSIC: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;
const I: Duration = Duration::from_secs(10);

fn sim(seed: u64, config: MeetingConfig) -> Sim<ChaCha20Rng> {
    Sim::new(MID, config, ChaCha20Rng::seed_from_u64(seed))
}

fn step() -> Duration {
    Duration::from_secs(1)
}

/// A copy of an identity key (the same device identity for a second join).
fn copy(k: &IdentityKey) -> IdentityKey {
    IdentityKey::from_secret_bytes(k.secret_bytes().as_ref()).unwrap()
}

/// The announcement `from` has in flight to the leader `to` (sent by its last join or retry).
fn announcement_in_flight(s: &Sim<ChaCha20Rng>, from: &str, to: &str) -> Vec<u8> {
    s.in_flight
        .iter()
        .rev()
        .find(|m| m.from == from && m.to == to)
        .map(|m| m.payload.clone())
        .expect("an announcement in flight")
}

/// Delivers `payload` from the relay to `to` and returns the error it caused.
fn inject(
    s: &mut Sim<ChaCha20Rng>,
    from: &str,
    to: &str,
    payload: Vec<u8>,
) -> Option<MeetingError> {
    let before = s.rejections.len();
    s.deliver_one(InFlight {
        from: from.into(),
        to: to.into(),
        payload,
    });
    // Collect the events and messages it caused.
    s.act(to, |_, _, _| Ok(())).unwrap();
    s.rejections.get(before).map(|r| r.error.clone())
}

fn refusals(s: &Sim<ChaCha20Rng>, at: &str, who: &str) -> Vec<JoinRefusal> {
    s.events
        .iter()
        .filter_map(|(id, e)| match e {
            Event::JoinRefused {
                participant_id,
                reason,
            } if id == at && participant_id == who => Some(*reason),
            _ => None,
        })
        .collect()
}

fn requests(s: &Sim<ChaCha20Rng>, at: &str, who: &str) -> usize {
    s.events
        .iter()
        .filter(|(id, e)| {
            id == at
                && matches!(e, Event::JoinRequested { participant_id, .. } if participant_id == who)
        })
        .count()
}

fn added(s: &Sim<ChaCha20Rng>, who: &str) -> usize {
    s.events
        .iter()
        .filter(|(id, e)| {
            id == "alice"
                && matches!(e, Event::ParticipantAdded { participant_id, .. } if participant_id == who)
        })
        .count()
}

/// The participant ids `at` sees present, sorted.
fn ids(s: &Sim<ChaCha20Rng>, at: &str) -> Vec<String> {
    let mut ids: Vec<String> = s.participants[at]
        .participants()
        .into_iter()
        .map(|p| p.participant_id)
        .collect();
    ids.sort();
    ids
}

/// Finding 5: under manual admission the leader's application decides; a participant the relay
/// registers itself is never admitted unless the application says so.
#[test]
fn manual_admission_keeps_out_whom_the_application_does_not_admit() {
    let mut s = sim(
        1,
        MeetingConfig {
            admission: AdmissionPolicy::Manual,
            ..MeetingConfig::default()
        },
    );
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("mallory").unwrap(); // registered by the relay
    s.join("eve").unwrap();
    s.settle();
    assert_eq!(
        s.active(),
        vec!["alice"],
        "nobody is admitted without a decision"
    );
    let requested: Vec<_> = s
        .events
        .iter()
        .filter_map(|(id, e)| match e {
            Event::JoinRequested {
                participant_id,
                fingerprint,
                suite,
            } if id == "alice" => Some((participant_id.clone(), fingerprint.clone(), *suite)),
            _ => None,
        })
        .collect();
    let bob_fp = s.participants["bob"].identity().fingerprint_string();
    assert!(requested.contains(&("bob".into(), bob_fp, PQ.id())));
    assert_eq!(requested.len(), 3);

    s.act("alice", |m, now, _| m.admit("bob", now)).unwrap();
    s.act("alice", |m, now, _| m.deny("mallory", now)).unwrap();
    assert!(matches!(
        s.act("alice", |m, now, _| m.deny("nobody", now)),
        Err(MeetingError::UnknownParticipant(_))
    ));
    s.settle();
    assert!(matches!(
        s.act("bob", |m, now, _| m.admit("eve", now)),
        Err(MeetingError::NotTheLeader(_))
    ));
    assert_eq!(ids(&s, "alice"), ["alice", "bob"]);
    assert!(s.participants["bob"].is_active());

    // Retries: mallory stays denied, eve's request is held (no second prompt) and expires.
    s.advance(JOIN_REQUEST_TIMEOUT - 2 * I, step());
    assert!(refusals(&s, "alice", "mallory").contains(&JoinRefusal::Denied));
    assert_eq!(
        requests(&s, "alice", "mallory"),
        1,
        "a denied identity is not asked about again"
    );
    assert_eq!(
        requests(&s, "alice", "eve"),
        1,
        "retries do not repeat the request"
    );
    s.advance(3 * I, step());
    assert!(refusals(&s, "alice", "eve").contains(&JoinRefusal::Expired));
    assert_eq!(
        requests(&s, "alice", "eve"),
        2,
        "eve's next retry asks again"
    );
    assert_eq!(ids(&s, "alice"), ["alice", "bob"]);
    assert_eq!(added(&s, "mallory") + added(&s, "eve"), 0);

    // The application changes its mind about mallory: admit lifts the denial, her next retry
    // is a request again, and admitting it lets her in.
    s.act("alice", |m, now, _| m.admit("mallory", now)).unwrap();
    s.advance(I + step(), step());
    assert_eq!(requests(&s, "alice", "mallory"), 2);
    s.act("alice", |m, now, _| m.admit("mallory", now)).unwrap();
    s.settle();
    assert!(s.participants["mallory"].is_active());
    assert!(s.converged().is_some());
}

/// Finding 5: an allow-list admits exactly the listed identities.
#[test]
fn allow_list_refuses_unlisted_identities() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let bob = IdentityKey::generate(&mut rng);
    let list: BTreeSet<String> = [bob.public().fingerprint_string()].into();
    let mut s = sim(
        2,
        MeetingConfig {
            admission: AdmissionPolicy::AllowList(list),
            ..MeetingConfig::default()
        },
    );
    s.create("alice").unwrap();
    s.join_with("bob", bob).unwrap();
    s.join("mallory").unwrap();
    s.settle();
    assert!(s.participants["bob"].is_active());
    assert!(!s.participants["mallory"].is_active());
    let refused = refusals(&s, "alice", "mallory");
    assert!(!refused.is_empty() && refused.iter().all(|r| *r == JoinRefusal::NotAllowed));
    assert!(s.rejections.iter().any(|r| r.at == "alice"
        && matches!(&r.error, MeetingError::Refused { participant, reason }
            if participant == "mallory" && reason.contains("allow-list"))));
    // A malformed allow-list is a configuration error.
    let bad = MeetingConfig {
        admission: AdmissionPolicy::AllowList(["12345".to_string()].into()),
        ..MeetingConfig::default()
    };
    let e = Meeting::create(bad, MID, "x", IdentityKey::generate(&mut rng), I, &mut rng);
    assert!(matches!(e, Err(MeetingError::Invalid { .. })));
}

/// Finding 5, design point 2: a leader that requires post-quantum key distribution refuses a
/// classical-only joiner, tells the application why, and never downgrades the suite.
#[test]
fn post_quantum_leader_refuses_classical_joiner_without_downgrade() {
    let mut s = sim(
        3,
        MeetingConfig {
            require_post_quantum: true,
            ..MeetingConfig::default()
        },
    );
    s.create("alice").unwrap();
    s.config = MeetingConfig::default();
    s.join("bob").unwrap();
    s.config = MeetingConfig {
        suites: vec![CLASSIC],
        ..MeetingConfig::default()
    };
    s.join("old-client").unwrap();
    s.settle();
    assert!(s.participants["bob"].is_active());
    assert!(!s.participants["old-client"].is_active());
    assert!(refusals(&s, "alice", "old-client").contains(&JoinRefusal::SuiteTooWeak));
    assert!(s.rejections.iter().any(|r| r.at == "alice"
        && matches!(&r.error, MeetingError::Refused { participant, .. } if participant == "old-client")));
    for id in ["alice", "bob"] {
        assert_eq!(s.participants[id].suite(), PQ);
    }
    assert!(
        !s.events
            .iter()
            .any(|(_, e)| matches!(e, Event::SuiteChanged { suite: 1, .. }))
    );
}

/// Finding 6, exactly: carol joins, leaves and rejoins with the same identity; the relay then
/// re-delivers her first announcement (suite 1 only, while the meeting is post-quantum and
/// locked). The leader rejects it as a replay: live carol keeps her leaf and keys, nobody is
/// removed, no ghost is admitted, the suite stays post-quantum.
#[test]
fn replayed_first_announcement_does_not_evict_the_rejoined_member() {
    let mut s = sim(4, MeetingConfig::default());
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    let carol = IdentityKey::generate(&mut s.rng);
    s.config = MeetingConfig {
        suites: vec![CLASSIC],
        ..MeetingConfig::default()
    };
    s.join_with("carol", copy(&carol)).unwrap();
    s.config = MeetingConfig::default();
    let first = announcement_in_flight(&s, "carol", "alice");
    s.settle();
    assert!(s.participants["carol"].is_active());
    assert_eq!(s.participants["alice"].suite(), CLASSIC);
    s.act("carol", |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    assert_eq!(s.participants["alice"].suite(), PQ);

    // The rejoin: the first announcement (no heartbeat heard yet) is refused as stale, the
    // retry one interval later references a heartbeat and is admitted.
    s.participants.remove("carol");
    s.join_with("carol", copy(&carol)).unwrap();
    s.settle();
    assert!(!s.participants["carol"].is_active());
    s.advance(I + step(), step());
    assert!(s.participants["carol"].is_active());
    s.act("alice", |m, now, _| m.lock(true, now)).unwrap();
    s.settle();
    let leaf = s.participants["carol"].own_leaf();
    let epoch = s.participants["alice"].epoch();
    let events_before = s.events.len();

    let e = inject(&mut s, "carol", "alice", first);
    assert!(
        matches!(&e, Some(MeetingError::Replayed { participant }) if participant == "carol"),
        "{e:?}"
    );
    s.advance(2 * I, step());
    let carol_now = &s.participants["carol"];
    assert!(carol_now.is_active() && carol_now.has_keys());
    assert_eq!(carol_now.own_leaf(), leaf);
    assert_eq!(s.participants["alice"].epoch(), epoch, "no commit");
    assert_eq!(s.participants["alice"].suite(), PQ);
    assert!(!s.events[events_before..].iter().any(|(_, e)| matches!(
        e,
        Event::ParticipantRemoved { .. } | Event::ParticipantAdded { .. } | Event::Ended { .. }
    )));
    assert_eq!(ids(&s, "alice"), ["alice", "bob", "carol"]);
    assert!(s.converged().is_some());
}

/// ANN-4 still works for the real device: carol's app restarts while she is present and
/// rejoins with fresh keys; the fresh rejoin replaces her old leaf.
#[test]
fn fresh_rejoin_of_a_present_member_replaces_it() {
    let mut s = sim(5, MeetingConfig::default());
    s.create("alice").unwrap();
    let carol = IdentityKey::generate(&mut s.rng);
    s.join_with("carol", copy(&carol)).unwrap();
    s.settle();
    s.participants.remove("carol");
    s.join_with("carol", copy(&carol)).unwrap();
    s.advance(I + step(), step());
    assert!(s.participants["carol"].is_active());
    assert!(s.events.iter().any(|(id, e)| id == "alice"
        && *e
            == Event::ParticipantRemoved {
                participant_id: "carol".into(),
                reason: RemovalReason::Left
            }));
    assert_eq!(ids(&s, "alice"), ["alice", "carol"]);
    assert!(s.converged().is_some());
}

/// Finding 7: a removal lasts. The removed identity is refused, unlocked and locked, whether
/// it rejoins afresh or the relay replays its old announcement, until the application admits it.
#[test]
fn removed_identity_stays_out_until_admitted() {
    let mut s = sim(6, MeetingConfig::default());
    s.create("alice").unwrap();
    s.join("carol").unwrap();
    let bob = IdentityKey::generate(&mut s.rng);
    s.join_with("bob", copy(&bob)).unwrap();
    let old = announcement_in_flight(&s, "bob", "alice");
    s.settle();
    s.act("alice", |m, now, _| m.remove("bob", now)).unwrap();
    s.settle();
    assert!(s.participants["bob"].is_ended());

    for locked in [false, true] {
        if locked {
            s.act("alice", |m, now, _| m.lock(true, now)).unwrap();
            s.settle();
        }
        let before = refusals(&s, "alice", "bob").len();
        s.participants.remove("bob");
        s.join_with("bob", copy(&bob)).unwrap();
        s.advance(2 * I + step(), step());
        assert!(
            !s.participants["bob"].is_active(),
            "fresh rejoin, locked {locked}"
        );
        let new = refusals(&s, "alice", "bob");
        assert!(new.len() > before && new.iter().all(|r| *r == JoinRefusal::Removed));
        let e = inject(&mut s, "relay", "alice", old.clone());
        assert!(
            matches!(e, Some(MeetingError::Replayed { .. })),
            "replay, locked {locked}: {e:?}"
        );
        s.settle();
        assert_eq!(ids(&s, "alice"), ["alice", "carol"]);
    }
    // The application lets bob back: his next retry is admitted although the meeting is locked.
    s.act("alice", |m, now, _| m.admit("bob", now)).unwrap();
    s.advance(I + step(), step());
    assert!(s.participants["bob"].is_active());
    assert_eq!(ids(&s, "alice"), ["alice", "bob", "carol"]);
    assert!(s.converged().is_some());
}

/// Finding 7 across a leader change: the new leader learned the removal from the commit.
#[test]
fn removal_survives_a_handover() {
    let mut s = sim(7, MeetingConfig::default());
    s.create("alice").unwrap();
    s.join("carol").unwrap();
    let bob = IdentityKey::generate(&mut s.rng);
    s.join_with("bob", copy(&bob)).unwrap();
    s.settle();
    s.act("alice", |m, now, _| m.remove("bob", now)).unwrap();
    s.settle();
    s.act("alice", |m, now, _| m.hand_over("carol", now))
        .unwrap();
    s.settle();
    assert_eq!(s.leader(), Some("carol"));
    s.participants.remove("bob");
    s.join_with("bob", copy(&bob)).unwrap();
    s.advance(2 * I + step(), step());
    assert!(!s.participants["bob"].is_active());
    assert!(refusals(&s, "carol", "bob").contains(&JoinRefusal::Removed));
}

/// Finding 5: 40,001 throwaway identities that came and went do not exhaust the pin table for
/// an identity the application allows; a present member and a removed identity keep their pins.
#[test]
fn pin_exhaustion_never_blocks_an_allowed_identity() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut pins = PinTable::new();
    let member = IdentityKey::generate(&mut rng);
    assert!(pins.admit("member", member.public(), 1));
    let removed = IdentityKey::generate(&mut rng);
    assert!(pins.admit("removed", removed.public(), 1));
    pins.depart("removed", 2);
    pins.refuse("removed", removed.public(), JoinRefusal::Removed);
    for i in 0..=MAX_PINNED_IDENTITIES {
        let id = format!("throwaway-{i}");
        let k = IdentityKey::generate(&mut rng);
        assert!(pins.admit(&id, k.public(), 3), "throwaway {i}");
        pins.depart(&id, 4);
    }
    assert_eq!(pins.len(), MAX_PINNED_IDENTITIES);
    let allowed = IdentityKey::generate(&mut rng);
    assert!(pins.admit("allowed", allowed.public(), 5));
    assert_eq!(pins.len(), MAX_PINNED_IDENTITIES);
    assert_eq!(pins.pinned("allowed"), Some(allowed.public()));
    assert_eq!(pins.pinned("member"), Some(member.public()));
    assert_eq!(pins.pinned("removed"), Some(removed.public()));
    assert_eq!(pins.refusal(removed.public()), Some(JoinRefusal::Removed));
    // The least recently admitted throwaways made room, in order.
    // member, removed and throwaways 0..=39,997 filled it; throwaways 39,998..=40,000 and
    // "allowed" each evicted the oldest throwaway.
    for i in 0..4 {
        assert_eq!(
            pins.pinned(&format!("throwaway-{i}")),
            None,
            "throwaway {i}"
        );
    }
    assert!(pins.pinned("throwaway-4").is_some());
}

/// Finding 5: a participant the relay registered squats the id "bob". The application removes
/// it and releases the pin; the real bob is then admitted and the squatter stays out.
#[test]
fn squatter_removed_and_pin_released_lets_the_real_identity_in() {
    let mut s = sim(9, MeetingConfig::default());
    s.create("alice").unwrap();
    s.join("carol").unwrap();
    let squatter_key = IdentityKey::generate(&mut s.rng);
    s.join_with("bob", copy(&squatter_key)).unwrap(); // the relay's squatter claims "bob" first
    s.settle();
    let squatter = s.participants.remove("bob").unwrap();
    assert!(squatter.is_active());
    // The real bob announces: refused, the id is pinned to the squatter's identity.
    let bob = IdentityKey::generate(&mut s.rng);
    let bob_fp = bob.public().fingerprint_string();
    let mut real =
        Meeting::join(MeetingConfig::default(), MID, "bob", bob, s.now, &mut s.rng).unwrap();
    let ann = real.poll_transmit().unwrap().payload;
    let e = inject(&mut s, "bob", "alice", ann);
    assert!(matches!(e, Some(MeetingError::Refused { .. })), "{e:?}");
    assert_eq!(
        refusals(&s, "alice", "bob"),
        [JoinRefusal::IdentityMismatch]
    );
    // Present members keep their pins.
    assert!(matches!(
        s.act("alice", |m, _, _| m.release_pin("bob")),
        Err(MeetingError::Invalid { .. })
    ));
    s.act("alice", |m, now, _| m.remove("bob", now)).unwrap();
    s.settle();
    s.act("alice", |m, _, _| m.release_pin("bob")).unwrap();
    // The real bob's retry is a first-time identity: admitted.
    s.participants.insert("bob".into(), real);
    s.advance(I + step(), step());
    assert!(s.participants["bob"].is_active());
    let roster = s.participants["alice"].participants();
    let entry = roster.iter().find(|p| p.participant_id == "bob").unwrap();
    assert_eq!(entry.fingerprint, bob_fp);
    // The squatter's identity stays out: as "bob" the id is now pinned to the real bob, under
    // another id its identity is durably removed.
    for (id, expected) in [
        ("bob", JoinRefusal::IdentityMismatch),
        ("bob-2", JoinRefusal::Removed),
    ] {
        let mut again = Meeting::join(
            MeetingConfig::default(),
            MID,
            id,
            copy(&squatter_key),
            s.now,
            &mut s.rng,
        )
        .unwrap();
        let ann = again.poll_transmit().unwrap().payload;
        assert!(inject(&mut s, id, "alice", ann).is_some());
        assert_eq!(refusals(&s, "alice", id).last(), Some(&expected), "{id}");
    }
    s.settle();
    assert_eq!(ids(&s, "alice"), ["alice", "bob", "carol"]);
    assert!(s.converged().is_some());
}
