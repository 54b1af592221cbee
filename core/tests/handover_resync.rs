//! A member that missed the handover commit catches up at its next resync (RSQ-2), within the
//! bound of `spec/state-machine.md` section 11.1, instead of timing out.
//!
//! Found by `conclave simulate --churn --seed 2` (issue #13 item 5): the leader left, its
//! handover commit was lost to one member, and the old leader stopped re-sending it (HO-1) as
//! soon as the new leader's rebuild arrived, which is at once. The member then rejected the new
//! leader's heartbeats and its resync answers (`NotLeader`: the member still followed the old
//! leader), buffered the new leader's commits behind the missing epoch (`Gap`), and was stuck
//! until its out-of-date timeout ended it (`TimedOut`) and it rejoined: 95 s without agreement.
//! After a failover the new leader sends its failover commit to a member resyncing from the
//! epoch before it (FO-5); a leader handed over to now does the same with the handover commit,
//! and the member catches up at the resync its watchdog asks for (50 s here, without leaving).

use std::time::Duration;

use conclave_core::meeting::MeetingConfig;
use conclave_core::sim::{Sim, TapAction, forge};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const IDS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
/// The member the relay keeps the handover commit from.
const VICTIM: &str = "erin";

fn meeting(seed: u64) -> Sim<ChaCha20Rng> {
    let mut s = Sim::new(
        b"handover-resync-meeting-001",
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

#[test]
fn a_member_that_missed_the_handover_commit_catches_up_at_its_resync() {
    let mut s = meeting(2);
    let interval = MeetingConfig::default().heartbeat_interval;
    let e = s.converged().unwrap();
    assert_eq!(s.leader(), Some("alice"));
    // The relay drops every commit of the old leader to the victim (the handover commit and its
    // re-sends, HO-1); everything else is delivered.
    s.tap = Some(Box::new(|m| {
        if m.from == "alice" && m.to == VICTIM && forge::is_commit(&m.payload) {
            TapAction::Drop
        } else {
            TapAction::Deliver
        }
    }));
    s.act("alice", |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    let leader = s.leader().expect("a new leader").to_string();
    assert_ne!(leader, "alice");
    assert_ne!(leader, VICTIM, "the victim must not be the successor");
    assert!(
        s.participants[leader.as_str()].epoch() > e + 1,
        "the new leader rebuilt at once"
    );
    assert_eq!(s.participants[VICTIM].epoch(), e, "the victim missed it");
    // The victim follows alice and rejects bob's heartbeats (HB-3) until its watchdog asks for a
    // resync (VOTE-1, after `L` intervals); bob answers with the handover commit, then a
    // Welcome: section 11.1 allows `(L + 2) * I` for a lost handover commit (plus a step here).
    let limit = MeetingConfig::default().missed_heartbeats_limit;
    let bound = interval * (limit + 2) + Duration::from_secs(1);
    let start = s.now;
    let mut agreed = None;
    while s.now < start + bound * 2 {
        s.advance(Duration::from_millis(500), Duration::from_millis(500));
        let all_in = IDS[1..].iter().all(|id| s.participants[*id].is_active());
        if all_in && s.converged().is_some() {
            agreed = Some(s.now - start);
            break;
        }
    }
    let took = agreed.expect("the victim never caught up");
    assert!(took <= bound, "the victim caught up only after {took:?}");
    assert_eq!(s.leader(), Some(leader.as_str()));
    assert!(
        s.participants[VICTIM].security_code().is_some(),
        "the victim holds the keys"
    );
}
