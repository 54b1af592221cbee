//! The model has teeth: with one rule of succession v2 weakened, the checker finds a
//! counterexample to P1 or P2 (or, for the roster(e-1) majority, provably cannot within these
//! bounds: see the README).

use conclave_model::config::LeaveAck;
use conclave_model::properties::*;
use conclave_model::{Config, Weakening, check, shortest_trace};

/// Checks `config` and asserts which of the holding properties break.
fn assert_breaks(config: Config, broken: &[&'static str]) {
    let report = check(config);
    println!("{}", report.summary());
    for property in [
        P1_REMOVAL,
        P1_FAILOVER,
        P2_ONE_STABLE,
        P2_PARENT_STABLE,
        P2_ONE_BRANCH,
    ] {
        assert_eq!(
            report.found(property),
            broken.contains(&property),
            "{}: {property}",
            config.describe()
        );
    }
    for property in broken {
        let trace = shortest_trace(config, property).unwrap_or_default();
        println!("  {property}:\n    {}", trace.join("\n    "));
    }
}

#[test]
fn without_stability_wait() {
    let base = Config::new(4, 3).weakened(Weakening::NoStabilityWait);
    assert_breaks(base, &[P1_FAILOVER, P2_PARENT_STABLE]);
    let longer = Config::new(4, 4).weakened(Weakening::NoStabilityWait);
    assert_breaks(
        longer,
        &[P1_REMOVAL, P1_FAILOVER, P2_PARENT_STABLE, P2_ONE_BRANCH],
    );
}

/// The old engine: bug (a) — the removed member (or a member cut off with it) fails over alone
/// and gets fresh keys after its removal became stable.
#[test]
fn single_member_failover() {
    let config = Config::new(4, 3).weakened(Weakening::SingleMemberFailover);
    assert_breaks(config, &[P1_REMOVAL, P2_PARENT_STABLE]);
    let longer = Config::new(4, 4).weakened(Weakening::SingleMemberFailover);
    assert_breaks(
        longer,
        &[P1_REMOVAL, P2_ONE_STABLE, P2_PARENT_STABLE, P2_ONE_BRANCH],
    );
}

/// Voters that still accept the old leader's removal let the failover quorum and the removal's
/// stability quorum overlap: the removed member comes back in the failover epoch.
#[test]
fn without_vote2() {
    assert_breaks(
        Config::new(4, 3).weakened(Weakening::NoVote2),
        &[P1_REMOVAL],
    );
}

/// Redundant within these bounds: roster(e) and roster(e-1) differ by at most two members here,
/// and then a majority of roster(e) plus e's leader (always suspected, always an acceptor of e)
/// is already a majority of roster(e-1). See the README for when it matters (>= 3 changes).
#[test]
fn without_previous_roster_majority_nothing_breaks_in_bounds() {
    assert_breaks(
        Config::new(4, 4).weakened(Weakening::NoPrevRosterMajority),
        &[],
    );
    assert_breaks(
        Config::new(5, 3).weakened(Weakening::NoPrevRosterMajority),
        &[],
    );
}

/// `LivenessNonce` carries only the epoch number: counted as R2 acks, acks from the other branch
/// make a cut-off leader's epoch look stable, and its branch grows past a stable failover.
#[test]
fn acks_by_number_only() {
    assert_breaks(
        Config::new(4, 3).weakened(Weakening::AckByNumberOnly),
        &[P1_FAILOVER, P2_PARENT_STABLE],
    );
    assert_breaks(
        Config::new(4, 4).weakened(Weakening::AckByNumberOnly),
        &[P1_REMOVAL, P1_FAILOVER, P2_PARENT_STABLE, P2_ONE_BRANCH],
    );
}

/// R1's "a Leave counts as an ack of every epoch from the Leave's epoch on" as written: members
/// that vote and then leave are counted on both sides of a fork.
#[test]
fn leaves_as_written_break_p1_and_p2() {
    let config = Config::new(4, 3).with_leaves(true);
    assert_breaks(config, &[P1_REMOVAL, P1_FAILOVER, P2_ONE_STABLE]);
}

/// Counting a Leave only along the regular chain is not enough: a voter's Leave still counts.
#[test]
fn leaves_on_regular_chain_only_still_break_p1() {
    let config = Config::new(4, 3)
        .with_leaves(true)
        .with_leave_ack(LeaveAck::RegularChain);
    assert_breaks(config, &[P1_REMOVAL]);
}

/// The proposed fix: a Leave counts as an ack only if its sender had not voted in that epoch
/// (and only along the regular chain).
#[test]
fn leaves_fixed_hold() {
    for leave_ack in [LeaveAck::Unvoted, LeaveAck::RegularChainUnvoted] {
        let config = Config::new(4, 3)
            .with_leaves(true)
            .with_leave_ack(leave_ack);
        assert_breaks(config, &[]);
        assert!(check(config).found(SOME_FAILOVER_STABLE));
    }
}
