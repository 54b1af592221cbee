//! STB-1: an acknowledgement counts only for the exact epoch state it names, (epoch, transcript
//! hash), never for another branch's epoch of the same number.
//!
//! Found by `sim_ops` (`core/tests/fuzz_regressions/sim_ops/stb2-leave-after-partition`): a leader
//! cut off by the relay made a commit on its own branch; a member of the majority's branch (made
//! by a failover) left without having voted in its epoch, and its Leave, which named only the
//! epoch number, made the cut-off leader's epoch stable, so it went on committing (two branches
//! growing, and the removed leader holding later epochs). Leaves now carry the transcript hash
//! like liveness nonces do (`Leave.transcript_hash`), and both are checked against the leader's
//! exact state.

use std::time::Duration;

use conclave_core::meeting::MeetingConfig;
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type S = Sim<ChaCha20Rng>;

const IDS: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn meeting(seed: u64) -> S {
    let mut s = Sim::new(
        b"stable-acks-meeting-0001",
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
    s.advance(Duration::from_secs(12), Duration::from_secs(1));
    assert!(s.converged().is_some(), "setup did not converge");
    s
}

fn is_leave(bytes: &[u8]) -> bool {
    decode_bounded::<pb::Envelope>(MessageKind::Envelope, bytes, bytes.len())
        .is_ok_and(|e| matches!(e.body, Some(Body::Leave(_))))
}

#[test]
fn a_leave_from_another_branch_does_not_make_an_epoch_stable() {
    let mut s = meeting(7);
    let e = s.converged().unwrap();
    // The relay cuts alice (the leader) off; the others fail over to bob (epoch e + 1, branch B).
    s.pause("alice");
    for _ in 0..120 {
        s.advance(Duration::from_secs(1), Duration::from_secs(1));
        if s.leader() == Some("bob") && s.converged() == Some(e + 1) {
            break;
        }
    }
    assert_eq!(s.leader(), Some("bob"), "no failover");
    assert_eq!(s.converged(), Some(e + 1));
    // Alice, alone, rotates: epoch e + 1 on her branch A, which nobody acknowledges.
    s.act("alice", |m, now, rng| {
        m.rotate(now)?;
        m.handle_timeout(now, rng)
    })
    .unwrap();
    s.in_flight.retain(|m| m.from != "alice");
    let alice_epoch = s.participants["alice"].epoch();
    assert_eq!(alice_epoch, e + 1, "alice committed on her branch");
    // Carol (branch B, epoch e + 1, no vote in it) leaves; the relay shows her Leave to alice.
    s.act("carol", |m, now, rng| m.leave(now, rng)).unwrap();
    let leave = s
        .in_flight
        .iter()
        .find(|m| m.from == "carol" && is_leave(&m.payload))
        .map(|m| m.payload.clone())
        .expect("carol's Leave");
    let _ = s.act("alice", |m, now, rng| m.handle_message(&leave, now, rng));
    // Alice's epoch is still not stable: no commit for e + 2 on her branch.
    for _ in 0..5 {
        let _ = s.act("alice", |m, now, rng| {
            if m.poll_timeout().is_some_and(|t| t <= now) {
                m.handle_timeout(now, rng)?;
            }
            Ok(())
        });
        s.in_flight.retain(|m| m.from != "alice");
        s.now += Duration::from_secs(1);
    }
    assert_eq!(
        s.participants["alice"].epoch(),
        e + 1,
        "a Leave from branch B made alice's branch-A epoch stable"
    );
}
