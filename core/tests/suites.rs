//! Cipher suite negotiation: the post-quantum suite 2 by default, mixed meetings in suite 1,
//! and participants that require post-quantum key distribution refusing anything less.

use std::time::Duration;

use conclave_core::CipherSuite;
use conclave_core::meeting::{Event, MeetingConfig, MeetingError, RemovalReason};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"suites-meeting-0123456789";
const PQ: CipherSuite = CipherSuite::XWingSha256ChaCha20Poly1305;
const CLASSIC: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;

fn sim(seed: u64) -> Sim<ChaCha20Rng> {
    Sim::new(
        MID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    )
}

fn classical_only() -> MeetingConfig {
    MeetingConfig {
        suites: vec![CLASSIC],
        ..MeetingConfig::default()
    }
}

fn require_pq() -> MeetingConfig {
    MeetingConfig {
        require_post_quantum: true,
        ..MeetingConfig::default()
    }
}

fn suites_of(s: &Sim<ChaCha20Rng>) -> Vec<CipherSuite> {
    s.active()
        .iter()
        .map(|id| s.participants[*id].suite())
        .collect()
}

#[test]
fn meetings_use_the_post_quantum_suite_when_everyone_supports_it() {
    let mut s = sim(1);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.join("carol").unwrap();
    s.settle();
    assert!(s.converged().is_some());
    assert_eq!(suites_of(&s), vec![PQ; 3]);
    assert!(s.events.iter().any(|(id, e)| id == "bob"
        && *e
            == Event::SuiteChanged {
                suite: 2,
                post_quantum: true
            }));
}

#[test]
fn a_classical_client_moves_the_meeting_to_suite_1_visibly_and_back() {
    let mut s = sim(2);
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    assert_eq!(suites_of(&s), vec![PQ; 2]);
    s.config = classical_only();
    s.join("old-client").unwrap();
    s.config = MeetingConfig::default();
    s.settle();
    assert_eq!(s.active().len(), 3);
    assert!(s.converged().is_some());
    assert_eq!(suites_of(&s), vec![CLASSIC; 3]);
    assert!(s.events.iter().any(|(id, e)| id == "bob"
        && *e
            == Event::SuiteChanged {
                suite: 1,
                post_quantum: false
            }));
    // Media still flows in the mixed meeting.
    s.advance(Duration::from_secs(3), Duration::from_secs(1));
    let f = s.participants["old-client"]
        .frame_crypto()
        .encrypt(0, b"hi", 0)
        .unwrap();
    let bob = s.participants["bob"].frame_crypto();
    assert_eq!(bob.decrypt(&f, s.now).unwrap().plaintext, b"hi");
    // When the classical client leaves, the meeting returns to suite 2.
    s.act("old-client", |m, now, rng| m.leave(now, rng))
        .unwrap();
    s.settle();
    assert!(s.converged().is_some());
    assert_eq!(suites_of(&s), vec![PQ; 2]);
}

#[test]
fn a_member_that_requires_post_quantum_leaves_when_the_meeting_downgrades() {
    let mut s = sim(3);
    s.create("alice").unwrap();
    s.config = require_pq();
    s.join("strict").unwrap();
    s.config = MeetingConfig::default();
    s.join("bob").unwrap();
    s.settle();
    assert_eq!(s.active().len(), 3);
    s.config = classical_only();
    s.join("old-client").unwrap();
    s.config = MeetingConfig::default();
    s.settle();
    let strict = &s.participants["strict"];
    assert!(strict.is_ended());
    assert!(strict.epoch_secrets().is_none());
    assert!(
        s.events
            .iter()
            .any(|(id, e)| id == "strict" && *e == Event::SuiteRefused { suite: 1 })
    );
    assert!(s.events.iter().any(|(id, e)| id == "strict"
        && *e
            == Event::Ended {
                reason: RemovalReason::SuiteRefused
            }));
    assert!(s.rejections.iter().any(|r| r.at == "strict"
        && matches!(&r.error, MeetingError::Refused { reason, .. } if reason.contains("post-quantum"))));
    // The others go on in suite 1 and remove the strict member (it sent a signed Leave).
    assert!(s.converged().is_some());
    let alice = &s.participants["alice"];
    assert!(
        alice
            .participants()
            .iter()
            .all(|p| p.participant_id != "strict")
    );
}

#[test]
fn a_joiner_that_requires_post_quantum_refuses_a_classical_meeting() {
    let mut s = sim(4);
    s.config = classical_only();
    s.create("alice").unwrap();
    s.config = require_pq();
    s.join("strict").unwrap();
    s.settle();
    let strict = &s.participants["strict"];
    assert!(!strict.is_active());
    assert!(strict.epoch_secrets().is_none());
    assert!(
        s.events
            .iter()
            .any(|(id, e)| id == "strict" && *e == Event::SuiteRefused { suite: 1 })
    );
}

#[test]
fn a_leader_that_requires_post_quantum_refuses_classical_joiners() {
    let mut s = sim(5);
    s.config = require_pq();
    s.create("alice").unwrap();
    s.config = classical_only();
    s.join("old-client").unwrap();
    s.config = MeetingConfig::default();
    s.settle();
    assert!(!s.participants["old-client"].is_active());
    assert!(s.rejections.iter().any(|r| r.at == "alice"
        && matches!(&r.error, MeetingError::Refused { participant, reason }
            if participant == "old-client" && reason.contains("post-quantum"))));
    assert_eq!(s.participants["alice"].suite(), PQ);
}

#[test]
fn config_requiring_post_quantum_needs_a_post_quantum_suite() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let bad = MeetingConfig {
        suites: vec![CLASSIC],
        require_post_quantum: true,
        ..MeetingConfig::default()
    };
    let id = conclave_core::IdentityKey::generate(&mut rng);
    let err = conclave_core::meeting::Meeting::create(bad, MID, "x", id, Duration::ZERO, &mut rng)
        .unwrap_err();
    assert!(err.to_string().contains("post-quantum"), "{err}");
}
