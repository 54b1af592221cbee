//! The rule exactly as written (succession v2): P1 and P2 hold in every reachable state, the
//! model is not vacuous, and the literal "in particular" sentence of P1 does not hold.
//!
//! Run with `cargo test -p conclave-model --release -- --nocapture` to see the state counts.

use conclave_model::properties::*;
use conclave_model::{Config, Report, check, shortest_trace};

/// The properties the intended rule must satisfy.
const HOLDING: [&str; 5] = [
    P1_REMOVAL,
    P1_FAILOVER,
    P2_ONE_STABLE,
    P2_PARENT_STABLE,
    P2_ONE_BRANCH,
];

/// The `sometimes` properties that show the model is not vacuous.
const REACHABLE: [&str; 3] = [
    SOME_FAILOVER_STABLE,
    SOME_REMOVAL_STABLE,
    SOME_COMMIT_AFTER_STABLE_REMOVAL,
];

fn assert_rule_holds(config: Config) -> Report {
    let report = check(config);
    println!("{}", report.summary());
    for property in HOLDING {
        assert!(
            !report.found(property),
            "{}: counterexample to {property}:\n{}",
            config.describe(),
            report
                .discoveries
                .get(property)
                .map(|t| t.join("\n"))
                .unwrap_or_default()
        );
    }
    for property in REACHABLE {
        assert!(
            report.found(property),
            "{}: {property} is never reached",
            config.describe()
        );
    }
    report
}

#[test]
fn three_participants_three_commits() {
    assert_rule_holds(Config::new(3, 3));
}

#[test]
fn four_participants_three_commits() {
    let report = assert_rule_holds(Config::new(4, 3));
    // Exact counts: a change to the model or the rule shows here (and in spec/security.md).
    assert_eq!(report.unique_states, 5482);
}

#[test]
fn four_participants_four_commits() {
    assert_rule_holds(Config::new(4, 4));
}

#[test]
fn four_participants_without_crashes() {
    assert_rule_holds(Config::new(4, 4).with_leader_crash(false));
}

#[test]
fn five_participants_three_commits() {
    assert_rule_holds(Config::new(5, 3));
}

/// P1's "in particular R never holds the keys of any epoch created after X became stable" does
/// not follow from the rule: a leader that was voted out (or cut off) and never saw the failover
/// is still at an epoch that is stable, so R2 lets it make one more commit there, after the
/// removal on the majority branch became stable, with fresh keys for R. That epoch is numbered
/// at or below X, it can never become stable and nothing is built on it (P1 and P2 above), and
/// its members already shared the parent's keys with R.
#[test]
fn literal_p1_fails_by_one_stale_commit() {
    let trace = shortest_trace(Config::new(4, 3), P1_LITERAL).expect("a counterexample");
    println!("{}", trace.join("\n"));
    assert_eq!(trace.len(), 7);
    let last = trace.last().expect("a last step");
    assert!(last.starts_with("creates epoch 2 #2 (A removes"), "{last}");
}

/// The proposed R2 fix for a Byzantine removed member (its ack does not count; the majority is
/// of roster(e-1) minus the removed) keeps P1 and P2 for honest participants.
#[test]
fn excluding_removed_acks_keeps_the_rule() {
    use conclave_model::config::RemovedAcks;
    assert_rule_holds(Config::new(4, 4).with_removed_acks(RemovedAcks::Exclude));
    assert_rule_holds(Config::new(5, 3).with_removed_acks(RemovedAcks::Exclude));
}
