//! Prints the state counts and discoveries of every configuration, with the traces.
//!
//! `cargo run -p conclave-model --release --example counts -- table [quick]` prints the README's
//! table (`quick`: without its slowest row);
//! `cargo run -p conclave-model --release --example counts -- [N] [COMMITS]
//! [no|leaves|leaves-chain|leaves-unvoted|leaves-fixed] [RULE|all]
//! [count|fixed|byz|byz-fixed] [crash|nocrash]` prints counts and shortest traces.

use conclave_model::config::{LeaveAck, RemovedAcks};
use conclave_model::{Config, Weakening, check, shortest_trace};

/// Every configuration the tests check, for the table in the README and spec/security.md.
fn table(skip_slowest: bool) {
    use LeaveAck::{EveryBranch, RegularChain, RegularChainUnvoted, Unvoted};
    let mut configs = Vec::new();
    for (n, c) in [(3, 3), (4, 3), (4, 4), (5, 3)] {
        configs.push(Config::new(n, c));
    }
    configs.push(Config::new(4, 4).with_leader_crash(false));
    for w in Weakening::ALL.into_iter().skip(1) {
        configs.push(Config::new(4, 3).weakened(w));
        configs.push(Config::new(4, 4).weakened(w));
    }
    configs.push(Config::new(5, 3).weakened(Weakening::NoPrevRosterMajority));
    for (n, leave_ack) in [
        (4, EveryBranch),
        (4, RegularChain),
        (4, Unvoted),
        (4, RegularChainUnvoted),
        (5, Unvoted),
        (5, RegularChainUnvoted),
    ] {
        configs.push(
            Config::new(n, 3)
                .with_leaves(true)
                .with_leave_ack(leave_ack),
        );
    }
    configs.push(Config::new(4, 4).with_removed_acks(RemovedAcks::Exclude));
    configs.push(Config::new(5, 3).with_removed_acks(RemovedAcks::Exclude));
    configs.push(Config::new(4, 3).with_byzantine(true));
    configs.push(
        Config::new(4, 3)
            .with_byzantine(true)
            .with_removed_acks(RemovedAcks::Exclude),
    );
    if !skip_slowest {
        configs.push(
            Config::new(5, 3)
                .with_byzantine(true)
                .with_removed_acks(RemovedAcks::Exclude)
                .with_leader_crash(false),
        );
    }
    println!(
        "| configuration | unique states | generated | max depth | time | `always` properties violated |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for config in configs {
        let r = check(config);
        let violated: Vec<&str> = r
            .discoveries
            .keys()
            .copied()
            .filter(|p| !p.starts_with("sometimes"))
            .collect();
        println!(
            "| {} | {} | {} | {} | {:.1?} | {} |",
            config.describe(),
            r.unique_states,
            r.total_states,
            r.max_depth,
            r.elapsed,
            if violated.is_empty() {
                "none".to_string()
            } else {
                violated.join("; ")
            }
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "table") {
        table(args.get(2).is_some_and(|a| a == "quick"));
        return;
    }
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let commits = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let leaves = args.get(3).is_some_and(|a| a.starts_with("leaves"));
    let leave_ack = match args.get(3).map(String::as_str) {
        Some("leaves-chain") => LeaveAck::RegularChain,
        Some("leaves-unvoted") => LeaveAck::Unvoted,
        Some("leaves-fixed") => LeaveAck::RegularChainUnvoted,
        _ => LeaveAck::EveryBranch,
    };
    let only = args.get(4).cloned();
    let byzantine = args.get(5).is_some_and(|a| a.starts_with("byz"));
    let removed_acks = if args
        .get(5)
        .is_some_and(|a| a == "byz-fixed" || a == "fixed")
    {
        RemovedAcks::Exclude
    } else {
        RemovedAcks::Count
    };
    for w in Weakening::ALL {
        if only.as_deref().is_some_and(|o| o != w.name() && o != "all") {
            continue;
        }
        let config = Config::new(n, commits)
            .with_leaves(leaves)
            .with_leave_ack(leave_ack)
            .with_byzantine(byzantine)
            .with_removed_acks(removed_acks)
            .with_leader_crash(args.get(6).is_none_or(|a| a != "nocrash"))
            .weakened(w);
        let report = check(config);
        println!("{}", report.summary());
        for name in report.discoveries.keys() {
            println!("  {name} (shortest):");
            for (i, line) in shortest_trace(config, name)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                println!("    {}. {line}", i + 1);
            }
        }
    }
}
