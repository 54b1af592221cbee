//! VOTE-0 (`spec/state-machine.md` section 12.3): the relay's unauthenticated "the leader's
//! connection closed" hint. With an honest hint a crashed leader is replaced, and every member
//! holds the new epoch's keys, within 3 s of virtual time; a relay that lies about a live leader
//! cannot depose it (the leader's answer to the probe wins), and members never stop sending
//! before the leader is confirmed gone.

use std::time::Duration;

use conclave_core::meeting::{Event, HINT_CONFIRM_TIMEOUT, MeetingConfig};
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded};
use conclave_core::sim::{Ledger, Sim, TapAction};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type S = Sim<ChaCha20Rng>;

const IDS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

fn meeting(seed: u64) -> S {
    let mut s = Sim::new(
        b"failover-hint-meeting",
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    for (i, id) in IDS.iter().enumerate() {
        if i == 0 {
            s.create(id).unwrap();
        } else {
            s.join(id).unwrap();
        }
        s.settle();
    }
    // Past the first heartbeat after the last join, mid-interval.
    s.advance(Duration::from_secs(13), Duration::from_secs(1));
    assert!(s.converged().is_some(), "setup did not converge");
    s
}

/// The relay tells every participant but `except` that the leader's connection closed.
fn hint_all(s: &mut S, except: &str) {
    for id in IDS.iter().filter(|id| **id != except) {
        s.act(id, |m, now, rng| {
            m.leader_connection_closed(now, rng);
            Ok(())
        })
        .unwrap();
    }
}

fn step(s: &mut S, ledger: &mut Ledger, steps: u32) {
    for _ in 0..steps {
        s.advance(Duration::from_millis(100), Duration::from_millis(100));
        ledger.observe(s);
        ledger.seal_frames(s);
    }
}

#[test]
fn honest_hint_replaces_a_crashed_leader_within_three_seconds() {
    let mut s = meeting(1);
    let mut ledger = Ledger::new();
    let epoch = s.converged().unwrap();
    assert_eq!(s.leader(), Some("alice"));
    s.pause("alice"); // crash
    let start = s.now;
    let events_before = s.events.len();
    hint_all(&mut s, "alice");
    let mut converged_at = None;
    for _ in 0..30 {
        step(&mut s, &mut ledger, 1);
        // No member stops sending before the hint is confirmed (VOTE-0, SW-4).
        if s.now < start + HINT_CONFIRM_TIMEOUT {
            assert!(
                !s.events[events_before..]
                    .iter()
                    .any(|(_, e)| matches!(e, Event::SendingPaused { .. })),
                "a member paused sending before the leader was confirmed gone"
            );
        }
        if s.leader() == Some("bob")
            && let Some(e) = s.converged()
            && e > epoch
        {
            converged_at = Some(s.now - start);
            break;
        }
    }
    let took = converged_at.expect("no failover within 3 s of the hint");
    assert!(took <= Duration::from_secs(3), "failover took {took:?}");
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
}

#[test]
fn a_lying_relay_cannot_depose_a_live_leader() {
    let mut s = meeting(2);
    let mut ledger = Ledger::new();
    let epoch = s.converged().unwrap();
    hint_all(&mut s, "alice");
    step(&mut s, &mut ledger, 50);
    assert_eq!(s.leader(), Some("alice"), "the live leader was deposed");
    assert_eq!(s.converged(), Some(epoch), "the epoch changed");
    assert!(
        !s.events
            .iter()
            .any(|(_, e)| matches!(e, Event::SendingPaused { .. })),
        "a member paused sending on a false hint"
    );
    for id in IDS {
        s.act(id, |m, _, _| {
            assert!(m.can_send(), "{id} cannot send");
            Ok(())
        })
        .unwrap();
    }
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
}

/// The relay lies to some members and also withholds the leader's answer from one of them:
/// that member pre-votes, but a minority cannot make a failover (FO-2) and the others refuse
/// to vote while they hear the leader (VOTE-2).
#[test]
fn a_minority_misled_by_the_relay_changes_nothing() {
    let mut s = meeting(3);
    let mut ledger = Ledger::new();
    let epoch = s.converged().unwrap();
    // Heartbeats to erin are dropped from now on; erin and dave are told the leader is gone.
    s.tap = Some(Box::new(|m| {
        if m.to == "erin" && is_heartbeat(&m.payload) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    for id in ["dave", "erin"] {
        s.act(id, |m, now, rng| {
            m.leader_connection_closed(now, rng);
            Ok(())
        })
        .unwrap();
    }
    step(&mut s, &mut ledger, 50);
    s.tap = None;
    assert_eq!(s.leader(), Some("alice"));
    assert_eq!(s.converged(), Some(epoch));
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
}

fn is_heartbeat(bytes: &[u8]) -> bool {
    decode_bounded::<pb::Envelope>(MessageKind::Envelope, bytes, bytes.len())
        .is_ok_and(|e| matches!(e.body, Some(Body::Heartbeat(_))))
}

/// A relay that repeats the false hint every second for 40 s, across a rotation, changes
/// nothing either.
#[test]
fn a_relay_repeating_false_hints_changes_nothing() {
    let mut s = meeting(4);
    let mut ledger = Ledger::new();
    let epoch = s.converged().unwrap();
    let from = s.events.len();
    for i in 0..40 {
        hint_all(&mut s, "alice");
        if i == 5 {
            s.act("alice", |m, now, _| m.rotate(now)).unwrap();
        }
        step(&mut s, &mut ledger, 10);
    }
    let odd: Vec<_> = s.events[from..]
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::SendingPaused { .. } | Event::HeartbeatMissed { .. }
            )
        })
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    assert_eq!(s.leader(), Some("alice"));
    assert_eq!(s.converged(), Some(epoch + 1), "only the rotation");
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
}

/// Extreme (but valid) timer settings: a hint confirmed with a heartbeat limit of `u32::MAX`
/// and a huge interval saturates the deadlines instead of overflowing.
#[test]
fn extreme_timer_settings_saturate() {
    let config = MeetingConfig {
        missed_heartbeats_limit: u32::MAX,
        heartbeat_interval: Duration::from_secs(u64::MAX / 4),
        ..MeetingConfig::default()
    };
    let mut s = Sim::new(
        b"failover-hint-extreme-config",
        config,
        ChaCha20Rng::seed_from_u64(9),
    );
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    s.pause("alice");
    s.act("bob", |m, now, rng| {
        m.leader_connection_closed(now, rng);
        Ok(())
    })
    .unwrap();
    s.advance(Duration::from_secs(3), Duration::from_millis(500));
    assert!(s.participants["bob"].poll_timeout().is_some());
}
