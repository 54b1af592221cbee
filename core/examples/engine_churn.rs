//! Wall-clock cost of a fixed meeting script through the real engine (`conclave_core::sim::Sim`):
//! `N` joins, then rounds of a leave, a join and a rotation, each settled. Used to compare two
//! engine versions (issue #12: the restructured engine must not be slower); run each version's
//! binary alternately and compare the medians.
//!
//! `cargo run --release -p conclave-core --example engine_churn -- [N] [ROUNDS] [REPEATS]`
//! (default 16 6 5). Only the public `Sim`/`Meeting` API is used, so the file also builds
//! against older engines.

use std::time::{Duration, Instant};

use conclave_core::meeting::MeetingConfig;
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn run(n: usize, rounds: usize, seed: u64) -> (Duration, u64) {
    let start = Instant::now();
    let mut sim = Sim::new(
        b"engine-churn-meeting-0001",
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    sim.create("p0").expect("create");
    sim.settle();
    for i in 1..n {
        sim.join(&format!("p{i}")).expect("join");
        sim.settle();
    }
    for r in 0..rounds {
        let leaver = format!("p{}", r + 1);
        sim.act(&leaver, |m, now, rng| m.leave(now, rng))
            .expect("leave");
        sim.settle();
        sim.join(&format!("p{}", n + r)).expect("join");
        sim.settle();
        let leader = sim.leader().expect("a leader").to_string();
        sim.act(&leader, |m, now, _| m.rotate(now)).expect("rotate");
        sim.settle();
        sim.advance(Duration::from_secs(1), Duration::from_millis(500));
    }
    assert!(sim.converged().is_some(), "the script must converge");
    (start.elapsed(), sim.relay_messages)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(16);
    let rounds = args.get(1).copied().unwrap_or(6);
    let repeats = args.get(2).copied().unwrap_or(5);
    let runs: Vec<(Duration, u64)> = (0..repeats).map(|i| run(n, rounds, i as u64)).collect();
    let mut times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    times.sort();
    let median = times[times.len() / 2];
    let messages = runs.iter().map(|r| r.1).sum::<u64>() / runs.len().max(1) as u64;
    println!(
        "engine_churn n={n} rounds={rounds} median_ms={:.2} relay_messages={messages}",
        median.as_secs_f64() * 1e3
    );
}
