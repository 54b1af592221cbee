//! A Byzantine removed member: the last participant signs acks and votes at will (it is the
//! relay's own participant, say). R2 as written counts its ack of its own removal, so it can make
//! its removal stable *and* vote for a failover on the parent that re-admits it.

use conclave_model::config::RemovedAcks;
use conclave_model::properties::P1_BYZANTINE;
use conclave_model::{Config, check, shortest_trace};

#[test]
fn byzantine_removed_member_is_readmitted_with_five() {
    let config = Config::new(5, 3).with_byzantine(true);
    let trace = shortest_trace(config, P1_BYZANTINE).expect("a counterexample");
    println!("{}", trace.join("\n"));
    assert!(trace.iter().any(|l| l.contains("(Byzantine) signs an ack")));
    assert!(trace.last().is_some_and(|l| l.contains("fails over")));
}

#[test]
fn byzantine_removed_member_cannot_with_four() {
    let report = check(Config::new(4, 3).with_byzantine(true));
    println!("{}", report.summary());
    assert!(!report.found(P1_BYZANTINE));
}

#[test]
fn excluding_removed_acks_fixes_it_with_four() {
    let config = Config::new(4, 3)
        .with_byzantine(true)
        .with_removed_acks(RemovedAcks::Exclude);
    let report = check(config);
    println!("{}", report.summary());
    assert!(!report.found(P1_BYZANTINE));
}
