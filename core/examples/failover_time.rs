//! Failover through the real engine (`conclave_core::sim::Sim`): virtual time from a leader
//! crash to the moment every live member holds the new epoch's keys, and the wall-clock CPU
//! each participant spends in `handle_message` / `handle_timeout` during that window.
//!
//! The leader is crashed (`Sim::pause`) a chosen number of seconds after its last heartbeat was
//! delivered; virtual time then advances 1 s at a time (delivery is instant, so the times are
//! the protocol's timers only, quantized to 1 s). After a failover converges, the new leader is
//! crashed in turn at the next phase, so each N gives one row per phase.
//!
//! `cargo run --release -p conclave-core --example failover_time -- [N ...]` (default 10 100);
//! with `CONCLAVE_HINT=1` the relay tells every member at the crash that the leader's
//! connection closed (VOTE-0) and time advances 100 ms at a time. Only public `Sim`/`Meeting`
//! API is used (the hint needs an engine that has it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use conclave_core::meeting::MeetingConfig;
use conclave_core::protocol::v1 as pb;
use conclave_core::protocol::{MessageKind, decode_bounded};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"meeting-failover-time";
/// Seconds after the leader's last delivered heartbeat at which it crashes, one row each.
const PHASES: [u64; 3] = [1, 5, 9];
/// Give up on a failover after this much virtual time.
const LIMIT: Duration = Duration::from_secs(300);

type S = Sim<ChaCha20Rng>;

fn id(i: usize) -> String {
    format!("p{i:04}")
}

/// CPU spent by each participant, in total and per message kind.
#[derive(Default)]
struct Cpu {
    total: BTreeMap<String, Duration>,
    /// (participant, kind) -> (count, time)
    kinds: BTreeMap<(String, String), (usize, Duration)>,
    rejections: usize,
    /// Virtual time of the last heartbeat the leader sent that was delivered.
    last_heartbeat: Option<Duration>,
    leader: String,
}

impl Cpu {
    fn add(&mut self, who: &str, kind: Option<String>, d: Duration) {
        *self.total.entry(who.to_string()).or_default() += d;
        if let Some(k) = kind {
            let e = self.kinds.entry((who.to_string(), k)).or_default();
            e.0 += 1;
            e.1 += d;
        }
    }
}

/// The envelope body's variant name ("Commit", "FailoverVote", ...), from its `Debug` form so
/// that this file compiles against engines with other message sets.
fn kind_of(payload: &[u8]) -> String {
    match decode_bounded::<pb::Envelope>(MessageKind::Envelope, payload, 1 << 26) {
        Ok(env) => match env.body {
            Some(b) => {
                let s = format!("{b:?}");
                s.split('(').next().unwrap_or("?").to_string()
            }
            None => "empty".into(),
        },
        Err(_) => "undecodable".into(),
    }
}

/// Collects every participant's transmits into the in-flight queue (`Sim::collect`).
fn collect(s: &mut S) {
    if let Some(any) = s.participants.keys().next().cloned() {
        let _ = s.act(&any, |_, _, _| Ok(()));
    }
}

/// `Sim::tick` with each participant's `handle_timeout` timed.
fn tick(s: &mut S, cpu: &mut Cpu, paused: &[String]) {
    let now = s.now;
    let ids: Vec<String> = s.participants.keys().cloned().collect();
    for who in ids {
        if paused.contains(&who) {
            continue;
        }
        let S {
            participants, rng, ..
        } = s;
        let Some(m) = participants.get_mut(&who) else {
            continue;
        };
        if m.poll_timeout().is_some_and(|t| t <= now) {
            let start = Instant::now();
            let r = m.handle_timeout(now, rng);
            let d = start.elapsed();
            cpu.rejections += usize::from(r.is_err());
            cpu.add(&who, Some("timers".into()), d);
        }
    }
    collect(s);
}

/// `Sim::deliver_all` (no faults, no tap) with each delivery timed.
fn deliver_all(s: &mut S, cpu: &mut Cpu) -> usize {
    let mut delivered = 0;
    while let Some(msg) = s.in_flight.pop_front() {
        let active = s.participants.get(&msg.to).is_some_and(|m| !m.is_ended());
        let kind = kind_of(&msg.payload);
        if msg.from == cpu.leader && kind == "Heartbeat" && active {
            cpu.last_heartbeat = Some(s.now);
        }
        let to = msg.to.clone();
        let before = s.rejections.len();
        let start = Instant::now();
        s.deliver_one(msg);
        let d = start.elapsed();
        cpu.rejections += s.rejections.len() - before;
        cpu.add(&to, Some(kind), d);
        delivered += 1;
        collect(s);
    }
    delivered
}

/// `Sim::settle` with timing.
fn settle(s: &mut S, cpu: &mut Cpu, paused: &[String]) {
    for _ in 0..64 {
        tick(s, cpu, paused);
        if deliver_all(s, cpu) == 0 && s.in_flight.is_empty() {
            tick(s, cpu, paused);
            if s.in_flight.is_empty() {
                break;
            }
        }
    }
}

fn step(s: &mut S, cpu: &mut Cpu, paused: &[String]) {
    step_by(s, cpu, paused, Duration::from_secs(1));
}

fn step_by(s: &mut S, cpu: &mut Cpu, paused: &[String], d: Duration) {
    s.now += d;
    settle(s, cpu, paused);
}

fn build(n: usize, seed: u64) -> S {
    let mut s = Sim::new(
        MID,
        MeetingConfig::default(),
        ChaCha20Rng::seed_from_u64(seed),
    );
    s.create(&id(0)).expect("create");
    for i in 1..n {
        s.join(&id(i)).expect("join");
        s.settle();
    }
    assert_eq!(s.active().len(), n, "everyone joined");
    assert!(s.converged().is_some(), "converged after joins");
    s
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

struct Row {
    n: usize,
    phase: u64,
    leads: Option<u64>,
    converged: Option<u64>,
    since_heartbeat: Option<u64>,
    candidate_cpu: Duration,
    member_median: Duration,
    member_max: Duration,
    observer_commit: Option<(usize, Duration)>,
    candidate_kinds: Vec<(String, usize, Duration)>,
    rejections: usize,
}

/// Crashes the current leader `phase` s after its last heartbeat and runs until every live
/// member converges on a new epoch under a new leader.
fn failover(s: &mut S, phase: u64, paused: &mut Vec<String>) -> Row {
    let leader = s.leader().expect("one leader").to_string();
    let mut cpu = Cpu {
        leader: leader.clone(),
        ..Cpu::default()
    };
    // Find a fresh heartbeat, then wait `phase` seconds.
    let mut guard = 0;
    while cpu
        .last_heartbeat
        .is_none_or(|t| s.now < t + Duration::from_secs(phase))
    {
        step(s, &mut cpu, paused);
        guard += 1;
        assert!(guard < 100, "no heartbeat seen");
    }
    let before = s.converged().expect("converged before the crash");
    let last_hb = cpu.last_heartbeat.expect("heartbeat");
    let n = s.active().len();
    let active: Vec<String> = s
        .active()
        .iter()
        .map(|x| x.to_string())
        .filter(|x| *x != leader)
        .collect();
    let observer = active.last().expect("a member").clone();
    s.pause(&leader);
    paused.push(leader.clone());
    let crash = s.now;
    let hint = hint_enabled();
    if hint {
        // The relay saw the leader's connection close and says so (VOTE-0).
        for m in &active {
            let _ = s.act(m, |m, now, rng| {
                m.leader_connection_closed(now, rng);
                Ok(())
            });
        }
    }
    let tick = if hint {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    let mut cpu = Cpu {
        leader: leader.clone(),
        ..Cpu::default()
    };
    let (mut leads, mut converged, mut successor) = (None, None, None);
    while s.now < crash + LIMIT {
        step_by(s, &mut cpu, paused, tick);
        let t = (s.now - crash).as_millis() as u64;
        if leads.is_none()
            && let Some(l) = s.leader()
        {
            leads = Some(t);
            successor = Some(l.to_string());
        }
        if leads.is_some() && s.converged().is_some_and(|e| e > before) {
            converged = Some(t);
            break;
        }
    }
    let candidate = successor.clone().unwrap_or_default();
    let mut members: Vec<Duration> = active
        .iter()
        .filter(|x| **x != candidate)
        .map(|x| cpu.total.get(x).copied().unwrap_or_default())
        .collect();
    members.sort_unstable();
    let candidate_kinds = cpu
        .kinds
        .iter()
        .filter(|((who, _), _)| *who == candidate)
        .map(|((_, k), (c, d))| (k.clone(), *c, *d))
        .collect();
    Row {
        n,
        phase,
        leads,
        converged,
        since_heartbeat: converged.map(|c| (crash - last_hb).as_millis() as u64 + c),
        candidate_cpu: cpu.total.get(&candidate).copied().unwrap_or_default(),
        member_median: members.get(members.len() / 2).copied().unwrap_or_default(),
        member_max: members.last().copied().unwrap_or_default(),
        observer_commit: cpu.kinds.get(&(observer, "Commit".into())).copied(),
        candidate_kinds,
        rejections: cpu.rejections,
    }
}

/// Milliseconds as seconds with one decimal.
fn opt(v: Option<u64>) -> String {
    v.map_or("—".into(), |x| format!("{:.1} s", x as f64 / 1000.0))
}

/// `CONCLAVE_HINT=1`: the relay tells every member the leader's connection closed at the crash
/// (`Meeting::leader_connection_closed`, VOTE-0); time then advances 100 ms at a time.
fn hint_enabled() -> bool {
    std::env::var("CONCLAVE_HINT").is_ok_and(|v| v == "1")
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100]
    } else {
        sizes
    };
    let c = MeetingConfig::default();
    println!(
        "config: heartbeat every {:?}, missed-heartbeat limit {}, relay hint: {}",
        c.heartbeat_interval,
        c.missed_heartbeats_limit,
        hint_enabled()
    );
    println!(
        "| N | crash after last heartbeat | successor leads | all members on the new epoch | last heartbeat → new epoch | successor CPU | member CPU median / max | one member's failover commit |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut details = Vec::new();
    for n in sizes {
        let start = Instant::now();
        let mut s = build(n, n as u64);
        eprintln!(
            "N={n}: built in {:.1} s (wall)",
            start.elapsed().as_secs_f64()
        );
        let mut paused = Vec::new();
        for phase in PHASES {
            let r = failover(&mut s, phase, &mut paused);
            println!(
                "| {} | {} s | {} | {} | {} | {} | {} / {} | {} |",
                r.n,
                r.phase,
                opt(r.leads),
                opt(r.converged),
                opt(r.since_heartbeat),
                ms(r.candidate_cpu),
                ms(r.member_median),
                ms(r.member_max),
                r.observer_commit
                    .map_or("—".into(), |(c, d)| format!("{} ({c} msg)", ms(d))),
            );
            details.push((r.n, r.phase, r.candidate_kinds, r.rejections));
        }
    }
    println!();
    println!("successor CPU by what it handled (count, time):");
    for (n, phase, kinds, rejections) in details {
        let parts: Vec<String> = kinds
            .iter()
            .map(|(k, c, d)| format!("{k} {c} × = {}", ms(*d)))
            .collect();
        println!(
            "N={n} phase {phase} s: {} (rejections in the window: {rejections})",
            parts.join(", ")
        );
    }
}
