//! Prints the state counts and discoveries of every configuration, with the traces.
//!
//! `cargo run -p conclave-model --release --example counts [N] [COMMITS] [no|leaves|leaves-chain|leaves-unvoted|leaves-fixed] [RULE]`

use conclave_model::config::LeaveAck;
use conclave_model::{Config, Weakening, check, shortest_trace};

fn main() {
    let args: Vec<String> = std::env::args().collect();
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
    for w in Weakening::ALL {
        if only.as_deref().is_some_and(|o| o != w.name()) {
            continue;
        }
        let config = Config::new(n, commits)
            .with_leaves(leaves)
            .with_leave_ack(leave_ack)
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
