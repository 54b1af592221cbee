//! The crypto providers side by side (`conclave_core::provider::all`): identity sign and
//! verify, HPKE seal and open (suite 1, P-256; and suite 2, X-Wing), and the failover rebuild at
//! N = 1,000: the new leader seals each of the 999 other members its path secrets and signs the
//! Welcome, as `Meeting::welcome_or_job` + `SealJob::run` do (`LeaderTree::rebuild`, HPKE seal
//! of the encoded `PathSecrets`, encode, sign). The rebuild runs serially and split over 2
//! threads with `std::thread::scope` (the engine never starts threads; the application can, with
//! `MeetingConfig::offload_rebuild_sealing` and `Meeting::poll_seal_job`).
//!
//! Interleaved for ratios on a noisy machine: each primitive is measured for every provider
//! in turn (`provider/<op>/<provider>`, adjacent in time), and with `CONCLAVE_REBUILD_ROUNDS=R`
//! the rebuild runs round-robin instead of under Criterion: R rounds, each timing every
//! (threads, provider) once in a rotating order, then the median and minimum of each and the
//! per-round ratio to RustCrypto (median over the rounds).
//!
//! `cargo bench -p conclave-core --bench provider --features ring,aws-lc -- --warm-up-time 1
//! --measurement-time 3 provider/` and
//! `CONCLAVE_REBUILD_ROUNDS=7 cargo bench -p conclave-core --bench provider --features ring,aws-lc`

use std::hint::black_box;
use std::time::{Duration, Instant};

use conclave_core::CipherSuite;
use conclave_core::hpke::{HpkeKeyPair, seal_with};
use conclave_core::identity::IdentityKey;
use conclave_core::meeting::welcome_info;
use conclave_core::protocol::encode;
use conclave_core::protocol::limits::PROTOCOL_VERSION;
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::provider::{self, Provider};
use conclave_core::schedule::labels;
use conclave_core::tree::{LeaderTree, Occupancy};
use criterion::{BenchmarkId, Criterion, criterion_group};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"meeting-0123456789abcdef";
const TRANSCRIPT: [u8; 32] = [0x7a; 32];
const EPOCH: u64 = 1_001;
/// Members of the rebuilt meeting (the new leader seals to the N - 1 others).
const N: u32 = 1_000;
/// A PathSecrets of a member at N = 1,000 is about 400 bytes; a signed commit about 300.
const MESSAGE: [u8; 300] = [0x5c; 300];

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn suites() -> [(CipherSuite, &'static str); 2] {
    [
        (CipherSuite::P256Sha256ChaCha20Poly1305, "p256"),
        (CipherSuite::XWingSha256ChaCha20Poly1305, "xwing"),
    ]
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("provider");
    let all = provider::all();
    let keys: Vec<IdentityKey> = all
        .iter()
        .map(|p| IdentityKey::generate(&mut rng(1)).with_provider(*p))
        .collect();
    let sig = keys[0].sign(labels::COMMIT, &MESSAGE);
    for (p, key) in all.iter().zip(&keys) {
        assert_eq!(key.sign(labels::COMMIT, &MESSAGE), sig, "{p:?}");
        g.bench_function(BenchmarkId::new("sign", p.name()), |b| {
            b.iter(|| key.sign(labels::COMMIT, black_box(&MESSAGE)))
        });
    }
    for (p, key) in all.iter().zip(&keys) {
        g.bench_function(BenchmarkId::new("verify", p.name()), |b| {
            b.iter(|| {
                key.public()
                    .verify(labels::COMMIT, black_box(&MESSAGE), &sig)
                    .unwrap()
            })
        });
    }
    for (suite, name) in suites() {
        let pairs: Vec<HpkeKeyPair> = all
            .iter()
            .map(|p| HpkeKeyPair::generate_with(*p, suite, &mut rng(2)).unwrap())
            .collect();
        let pk = pairs[0].public_key();
        let seal = |p: Provider, r: &mut ChaCha20Rng| {
            seal_with(p, suite, pk, b"info", &TRANSCRIPT, &MESSAGE, r).unwrap()
        };
        let (enc, ct) = seal(all[0], &mut rng(3));
        for p in &all {
            assert_eq!(seal(*p, &mut rng(3)), (enc.clone(), ct.clone()), "{p:?}");
            let mut r = rng(3);
            g.bench_function(BenchmarkId::new(format!("seal/{name}"), p.name()), |b| {
                b.iter(|| seal(*p, &mut r))
            });
        }
        for (p, kp) in all.iter().zip(&pairs) {
            g.bench_function(BenchmarkId::new(format!("open/{name}"), p.name()), |b| {
                b.iter(|| kp.open(&enc, b"info", &TRANSCRIPT, black_box(&ct)).unwrap())
            });
        }
    }
    g.finish();
}

/// The members' HPKE public keys (suite 1) by leaf, and the new leader's identity.
struct Members {
    keys: Vec<(u32, Vec<u8>)>,
    leader: IdentityKey,
}

fn members() -> Members {
    let mut r = rng(4);
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    Members {
        keys: (1..N)
            .map(|leaf| {
                let kp = HpkeKeyPair::generate(suite, &mut r);
                (leaf, kp.public_key().to_vec())
            })
            .collect(),
        leader: IdentityKey::generate(&mut r),
    }
}

/// One Welcome: seal the member's path secrets, encode, sign.
fn welcome(p: Provider, id: &IdentityKey, t: &LeaderTree, leaf: u32, pk: &[u8]) -> Vec<u8> {
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    let path = t.path_secrets(leaf).unwrap();
    let pt = encode(&pb::PathSecrets {
        leaf,
        nodes: path
            .iter()
            .map(|(node, key)| pb::NodeSecret {
                node: *node,
                key: key.expose().to_vec(),
            })
            .collect(),
        echoed_nonce: vec![0x33; 24],
    });
    let info = welcome_info(MID, EPOCH, leaf);
    let mut r = rng(u64::from(leaf));
    let (enc, ciphertext) = seal_with(p, suite, pk, &info, &TRANSCRIPT, &pt, &mut r).unwrap();
    let w = pb::Welcome {
        version: PROTOCOL_VERSION,
        suite: suite.id(),
        meeting_id: MID.to_vec(),
        epoch: EPOCH,
        leaf,
        transcript_hash: TRANSCRIPT.to_vec(),
        enc,
        ciphertext,
        group_info: vec![],
    };
    let content = encode(&w);
    let signature = id.sign(labels::WELCOME, &content).to_vec();
    encode(&pb::Envelope {
        body: Some(Body::Welcome(pb::SignedMessage { content, signature })),
    })
}

fn rebuild(p: Provider, m: &Members, threads: usize) -> usize {
    let occ = Occupancy::from_parts(N.next_power_of_two(), 0..N).unwrap();
    let t = LeaderTree::rebuild(occ, &mut rng(5));
    let id = m.leader.clone().with_provider(p);
    let chunk = m.keys.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = m
            .keys
            .chunks(chunk)
            .map(|part| {
                let (t, id) = (&t, &id);
                s.spawn(move || {
                    part.iter()
                        .map(|(leaf, pk)| welcome(p, id, t, *leaf, pk).len())
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn failover_rebuild(c: &mut Criterion) {
    let m = members();
    let mut g = c.benchmark_group("rebuild_n1000_p256");
    g.sample_size(10);
    for threads in [1, 2] {
        for p in provider::all() {
            g.bench_function(
                BenchmarkId::new(format!("threads{threads}"), p.name()),
                |b| b.iter(|| rebuild(p, &m, threads)),
            );
        }
    }
    g.finish();
}

/// The rebuild round-robin: `rounds` rounds, each timing every (threads, provider) once, the
/// order rotated by one each round; prints the median and minimum of each and the median over
/// the rounds of its ratio to RustCrypto's time in the same round.
fn interleaved_rebuild(rounds: usize) {
    let m = members();
    let mut configs = Vec::new();
    for threads in [1usize, 2] {
        for p in provider::all() {
            configs.push((threads, p));
        }
    }
    // Warm-up: one of each (page faults, lazy tables).
    for (threads, p) in &configs {
        black_box(rebuild(*p, &m, *threads));
    }
    let mut times = vec![Vec::new(); configs.len()];
    for round in 0..rounds {
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let (threads, p) = configs[i];
            let start = Instant::now();
            black_box(rebuild(p, &m, threads));
            times[i].push(start.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("rebuild_n1000_p256, {rounds} interleaved rounds (seconds)");
    println!("threads provider    median    min    ratio-to-rustcrypto (median of per-round)");
    for (i, (threads, p)) in configs.iter().enumerate() {
        let base = configs
            .iter()
            .position(|(t, q)| t == threads && *q == Provider::rust_crypto())
            .unwrap();
        let mut ratios: Vec<f64> = times[i]
            .iter()
            .zip(&times[base])
            .map(|(a, b)| a / b)
            .collect();
        let mut t = times[i].clone();
        let min = t.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "{threads:>7} {:<10} {:>7.3} {:>7.3} {:>6.3}",
            p.name(),
            median(&mut t),
            min,
            median(&mut ratios)
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = primitives, failover_rebuild
}

fn main() {
    if let Ok(rounds) = std::env::var("CONCLAVE_REBUILD_ROUNDS") {
        interleaved_rebuild(rounds.parse().expect("CONCLAVE_REBUILD_ROUNDS is a count"));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
