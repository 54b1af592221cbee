//! Failover CPU under the quorum rule (`spec/state-machine.md` section 12.3) against the old
//! rule (the successor took over alone), at N = 100 and 1,000, one core.
//!
//! A meeting of 1,000 through `Sim` costs O(N^2) signature checks, so, like `engine.rs`, this
//! builds the state directly and replays the cryptographic work the engine does, message by
//! message, with the real wire types:
//!
//! - **candidate, old rule**: `LeaderTree::rebuild`, the failover commit (encode, sign), and one
//!   Welcome per other member (HPKE seal of its `PathSecrets`, Welcome encode, sign), as
//!   `Meeting::leader_commit` does for a rebuild (no `GroupInfo`).
//! - **candidate, quorum rule**: the same with the binding votes inside the commit, plus what
//!   `on_failover_vote` / `advance_ballot` do before it: decode and verify the N - 2 pre-votes,
//!   sign the calls (one when the pre-votes first form a quorum, then one per later pre-vote),
//!   and decode and verify the `maj(N) - 1` binding votes that complete the quorum.
//! - **member, old rule**: decode the failover commit and verify its signature, then its
//!   Welcome (verify the signature, HPKE open).
//! - **member, quorum rule**: the same plus FO-3: decode and verify each of the `maj(N) - 1`
//!   votes the commit carries.
//!
//! Not included on either side (the same under both rules): tree planning, roster bookkeeping,
//! the heartbeat after the commit, and answers to resync requests.
//!
//! Before the criterion groups it prints the ratios with old and new alternated round by round,
//! timed in on-CPU time from the scheduler (the machine is shared; see `cpu_now`).
//!
//! `cargo bench -p conclave-core --bench failover -- --warm-up-time 1 --measurement-time 5`
//! (`CONCLAVE_BENCH_INTERLEAVED_ONLY=1` stops after the interleaved ratios.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use conclave_core::CipherSuite;
use conclave_core::hpke::{self, HpkeKeyPair};
use conclave_core::identity::{IdentityKey, PublicIdentity};
use conclave_core::meeting::welcome_info;
use conclave_core::protocol::limits::PROTOCOL_VERSION;
use conclave_core::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded, encode};
use conclave_core::schedule::labels;
use conclave_core::tree::{self, LeaderTree, Occupancy};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MID: &[u8] = b"meeting-0123456789abcdef";
const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;
/// The epoch the failover builds on.
const EPOCH: u64 = 1_000;
const TRANSCRIPT: [u8; 32] = [0x7a; 32];
const SIZES: [usize; 2] = [100, 1_000];
/// Leaf of the crashed leader and of its successor (the candidate).
const LEADER: u32 = 0;
const CANDIDATE: u32 = 1;
/// Decode bound for the failover commit (a vote is about 170 B; 1,000 members fit easily).
const MAX_COMMIT: usize = 1 << 20;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

fn signed(id: &IdentityKey, label: &'static str, content: Vec<u8>) -> pb::SignedMessage {
    let signature = id.sign(label, &content).to_vec();
    pb::SignedMessage { content, signature }
}

fn vote(id: &IdentityKey, voter: u32, binding: bool) -> pb::SignedMessage {
    let v = pb::FailoverVote {
        version: PROTOCOL_VERSION,
        meeting_id: MID.to_vec(),
        epoch: EPOCH,
        transcript_hash: TRANSCRIPT.to_vec(),
        voter_leaf: voter,
        candidate_leaf: CANDIDATE,
        failed_leaves: vec![LEADER],
        binding,
    };
    signed(id, labels::FAILOVER_VOTE, encode(&v))
}

/// A meeting of `n` members at leaves `0..n` whose leader (leaf 0) crashed; leaf 1 succeeds.
struct Setup {
    n: usize,
    /// Identity public keys by leaf.
    public: Vec<PublicIdentity>,
    candidate: IdentityKey,
    /// The tree after removing the leader.
    occ: Occupancy,
    /// HPKE public keys of the members the candidate welcomes (all but leaves 0 and 1).
    hpke_keys: Vec<(u32, Vec<u8>)>,
    /// Every other member's pre-vote, in leaf order, as they arrive.
    pre_votes: Vec<pb::SignedMessage>,
    /// The first `maj(n) - 1` binding votes: with the candidate, a quorum.
    binding: Vec<pb::SignedMessage>,
    /// The member whose acceptance is timed (the last leaf), and its HPKE key pair.
    member: u32,
    member_hpke: HpkeKeyPair,
}

impl Setup {
    fn new(n: usize) -> Self {
        let mut r = rng(n as u64);
        let ids: Vec<IdentityKey> = (0..n).map(|_| IdentityKey::generate(&mut r)).collect();
        let mut t = LeaderTree::create(&mut r);
        let p = tree::plan(t.occupancy(), &[], n - 1, false).unwrap();
        t.apply(&p, MID, 1, &mut r).unwrap();
        let occ = tree::plan(t.occupancy(), &[LEADER], 0, false)
            .unwrap()
            .after;
        let member = (n - 1) as u32;
        let member_hpke = HpkeKeyPair::generate(SUITE, &mut r);
        let hpke_keys = (2..n as u32)
            .map(|l| {
                let pk = if l == member {
                    member_hpke.public_key().to_vec()
                } else {
                    HpkeKeyPair::generate(SUITE, &mut r).public_key().to_vec()
                };
                (l, pk)
            })
            .collect();
        let pre_votes = (2..n).map(|l| vote(&ids[l], l as u32, false)).collect();
        let binding = (2..n)
            .take(majority(n) - 1)
            .map(|l| vote(&ids[l], l as u32, true))
            .collect();
        let public = ids.iter().map(|k| k.public().clone()).collect();
        let candidate = ids.into_iter().nth(CANDIDATE as usize).unwrap();
        Self {
            n,
            public,
            candidate,
            occ,
            hpke_keys,
            pre_votes,
            binding,
            member,
            member_hpke,
        }
    }

    /// Calls the candidate signs: one when `maj(n) - 1` pre-votes are in, then one for each
    /// later pre-vote (`advance_ballot` calls each new pre-voter separately).
    fn calls(&self) -> usize {
        1 + self.pre_votes.len() - (majority(self.n) - 1)
    }
}

/// What `quorum::read_vote` + the signature check do for one vote.
fn check_vote(s: &Setup, v: &pb::SignedMessage, binding: bool) {
    let fv: pb::FailoverVote =
        decode_bounded(MessageKind::FailoverVote, &v.content, 1 << 12).unwrap();
    assert!(fv.epoch == EPOCH && fv.transcript_hash == TRANSCRIPT && fv.binding == binding);
    assert!(fv.candidate_leaf == CANDIDATE && fv.failed_leaves == [LEADER]);
    s.public[fv.voter_leaf as usize]
        .verify(labels::FAILOVER_VOTE, &v.content, &v.signature)
        .unwrap();
}

/// The candidate's work before its commit under the quorum rule: every pre-vote verified,
/// the calls signed, the binding votes that complete the quorum verified.
fn candidate_votes(s: &Setup) {
    for v in &s.pre_votes {
        check_vote(s, v, false);
    }
    for _ in 0..s.calls() {
        black_box(vote(&s.candidate, CANDIDATE, true));
    }
    for v in &s.binding {
        check_vote(s, v, true);
    }
}

fn failover_commit(s: &Setup, t: &LeaderTree, votes: &[pb::SignedMessage]) -> pb::SignedMessage {
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: SUITE.id(),
        meeting_id: MID.to_vec(),
        epoch: EPOCH + 1,
        prev_transcript_hash: TRANSCRIPT.to_vec(),
        leader_leaf: CANDIDATE,
        reason: CommitReason::Failover as i32,
        removes: vec![pb::Remove {
            leaf: LEADER,
            reason: RemoveReason::LeaderFailed as i32,
        }],
        adds: vec![],
        locked: false,
        leaf_count: t.occupancy().width(),
        updates_root: vec![0; 32],
        update_count: 0,
        rebuild: true,
        votes: votes.to_vec(),
        stable_heartbeat: None,
    };
    signed(&s.candidate, labels::COMMIT, encode(&c))
}

/// One rebuild Welcome, as `welcome_or_job` + `SealJob::run` build it (no `GroupInfo`).
fn welcome(s: &Setup, t: &LeaderTree, leaf: u32, pk: &[u8], r: &mut ChaCha20Rng) -> Vec<u8> {
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
    let info = welcome_info(MID, EPOCH + 1, leaf);
    let (enc, ciphertext) = hpke::seal(SUITE, pk, &info, &TRANSCRIPT, &pt, r).unwrap();
    let w = pb::Welcome {
        version: PROTOCOL_VERSION,
        suite: SUITE.id(),
        meeting_id: MID.to_vec(),
        epoch: EPOCH + 1,
        leaf,
        transcript_hash: TRANSCRIPT.to_vec(),
        enc,
        ciphertext,
        group_info: vec![],
    };
    encode(&pb::Envelope {
        body: Some(Body::Welcome(signed(
            &s.candidate,
            labels::WELCOME,
            encode(&w),
        ))),
    })
}

/// The failover leader's commit and Welcomes. `votes` is empty under the old rule.
fn candidate_rebuild(
    s: &Setup,
    votes: &[pb::SignedMessage],
    r: &mut ChaCha20Rng,
) -> (pb::SignedMessage, Vec<Vec<u8>>) {
    let t = LeaderTree::rebuild(s.occ.clone(), r);
    let commit = failover_commit(s, &t, votes);
    let welcomes = s
        .hpke_keys
        .iter()
        .map(|(leaf, pk)| welcome(s, &t, *leaf, pk, r))
        .collect();
    (commit, welcomes)
}

fn candidate_old(s: &Setup, r: &mut ChaCha20Rng) -> (pb::SignedMessage, Vec<Vec<u8>>) {
    candidate_rebuild(s, &[], r)
}

fn candidate_new(s: &Setup, r: &mut ChaCha20Rng) -> (pb::SignedMessage, Vec<Vec<u8>>) {
    candidate_votes(s);
    candidate_rebuild(s, &s.binding, r)
}

/// A member accepting the failover: the commit (its signature, and FO-3 on its votes), then
/// its Welcome (signature, HPKE open).
fn member_accept(s: &Setup, commit: &pb::SignedMessage, welcome: &[u8]) {
    let c: pb::Commit = decode_bounded(MessageKind::Commit, &commit.content, MAX_COMMIT).unwrap();
    s.public[CANDIDATE as usize]
        .verify(labels::COMMIT, &commit.content, &commit.signature)
        .unwrap();
    for v in &c.votes {
        check_vote(s, v, true);
    }
    assert!(c.votes.is_empty() || c.votes.len() + 1 >= majority(s.n));
    let env: pb::Envelope = decode_bounded(MessageKind::Envelope, welcome, 1 << 16).unwrap();
    let Some(Body::Welcome(sw)) = env.body else {
        panic!("a Welcome")
    };
    s.public[CANDIDATE as usize]
        .verify(labels::WELCOME, &sw.content, &sw.signature)
        .unwrap();
    let w: pb::Welcome = decode_bounded(MessageKind::Welcome, &sw.content, 1 << 16).unwrap();
    let info = welcome_info(MID, w.epoch, w.leaf);
    black_box(
        s.member_hpke
            .open(&w.enc, &info, &TRANSCRIPT, &w.ciphertext)
            .unwrap(),
    );
}

/// Both rules' outputs for the member benchmarks: (old commit, new commit, the member's Welcome).
fn member_inputs(s: &Setup) -> (pb::SignedMessage, pb::SignedMessage, Vec<u8>) {
    let mut r = rng(7);
    let t = LeaderTree::rebuild(s.occ.clone(), &mut r);
    let pk = s.member_hpke.public_key().to_vec();
    (
        failover_commit(s, &t, &[]),
        failover_commit(s, &t, &s.binding),
        welcome(s, &t, s.member, &pk, &mut r),
    )
}

/// On-CPU time of this thread so far, from the scheduler (`/proc/thread-self/schedstat`, first
/// field, ns). Unlike wall time it excludes time spent waiting for a core, which on this shared
/// machine (load 7 to 8 on 2 cores) inflates long operations several times over. The kernel
/// updates it at scheduler ticks, so one reading can lag by a tick: [`cpu`] measures batches
/// of at least [`MIN_BATCH`].
fn cpu_now() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// A batch is repeated until it used this much CPU, so a tick of lag is under 2 %.
const MIN_BATCH: Duration = Duration::from_millis(200);

/// CPU time of one run of `f`, averaged over a batch of at least [`MIN_BATCH`].
fn cpu<T>(mut f: impl FnMut() -> T) -> Duration {
    let start = cpu_now();
    let mut runs = 0u32;
    loop {
        black_box(f());
        runs += 1;
        let used = cpu_now().saturating_sub(start);
        if used >= MIN_BATCH {
            return used / runs;
        }
    }
}

fn wall<T>(f: impl FnOnce() -> T) -> Duration {
    let t = Instant::now();
    black_box(f());
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Old and new rule alternated round by round (load drifts over a criterion run; alternating
/// cancels the drift), timed in on-CPU time (and, for the candidate, wall time as well).
/// Prints medians and ratios.
fn interleaved(setups: &[Setup]) {
    let mut r = rng(21);
    for s in setups {
        let rounds = if s.n >= 1_000 { 5 } else { 11 };
        let (commit_old, commit_new, w) = member_inputs(s);
        eprintln!(
            "N = {}: {} pre-votes, {} calls signed, {} binding votes; failover commit {} B old, {} B quorum",
            s.n,
            s.pre_votes.len(),
            s.calls(),
            s.binding.len(),
            encode(&commit_old).len(),
            encode(&commit_new).len()
        );
        let mut t: [Vec<Duration>; 8] = Default::default();
        for round in 0..rounds {
            t[0].push(cpu(|| candidate_old(s, &mut r)));
            t[1].push(cpu(|| candidate_new(s, &mut r)));
            t[2].push(cpu(|| candidate_votes(s)));
            t[3].push(cpu(|| member_accept(s, &commit_old, &w)));
            t[4].push(cpu(|| member_accept(s, &commit_new, &w)));
            let v = &s.binding[round % s.binding.len()];
            t[5].push(cpu(|| check_vote(s, v, true)));
            t[6].push(wall(|| candidate_old(s, &mut r)));
            t[7].push(wall(|| candidate_new(s, &mut r)));
        }
        let [co, cn, cv, mo, mn, ver, wo, wn] = t.map(median);
        let x = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        eprintln!(
            "| {} | candidate CPU: old {} | quorum {} (votes alone {}) | {:.2}x | member CPU: old {} | quorum {} | {:.1}x | one vote check {} | candidate wall: old {} quorum {} ({:.2}x) |",
            s.n,
            ms(co),
            ms(cn),
            ms(cv),
            x(cn, co),
            ms(mo),
            ms(mn),
            x(mn, mo),
            ms(ver),
            ms(wo),
            ms(wn),
            x(wn, wo),
        );
    }
}

fn benches(c: &mut Criterion) {
    let setups: Vec<Setup> = SIZES.iter().map(|&n| Setup::new(n)).collect();
    // Sanity: a member accepts both rules' commits and its Welcome.
    for s in &setups {
        let (old, new, w) = member_inputs(s);
        member_accept(s, &old, &w);
        member_accept(s, &new, &w);
    }
    interleaved(&setups);
    if std::env::var("CONCLAVE_BENCH_INTERLEAVED_ONLY").is_ok() {
        return;
    }
    let mut g = c.benchmark_group("failover_candidate");
    g.sample_size(10);
    for s in &setups {
        let mut r = rng(s.n as u64 + 1);
        g.bench_function(BenchmarkId::new("old_rule", s.n), |b| {
            b.iter(|| candidate_old(s, &mut r))
        });
        g.bench_function(BenchmarkId::new("quorum", s.n), |b| {
            b.iter(|| candidate_new(s, &mut r))
        });
        g.bench_function(BenchmarkId::new("quorum_votes_only", s.n), |b| {
            b.iter(|| candidate_votes(s))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("failover_member");
    g.sample_size(10);
    for s in &setups {
        let (old, new, w) = member_inputs(s);
        g.bench_function(BenchmarkId::new("old_rule", s.n), |b| {
            b.iter(|| member_accept(s, &old, &w))
        });
        g.bench_function(BenchmarkId::new("quorum", s.n), |b| {
            b.iter(|| member_accept(s, &new, &w))
        });
    }
    g.finish();
}

criterion_group! {
    name = failover;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(failover);
