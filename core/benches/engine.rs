//! Meeting-engine benchmarks: what a leader pays for a join, a leave, a periodic rotation and a
//! failover rebuild, what a member pays to process a leave, and how many bytes each member
//! receives per leave, at N = 10, 100, 1,000 and 10,000.
//!
//! Setting up a meeting of N through the full `Meeting` engine costs O(N^2) signature checks, so
//! state is built directly at the tree layer (`LeaderTree`, `MemberPath`) and the messages are
//! built from the real wire types exactly as `Meeting::leader_commit` builds them. A small engine
//! cross-check (N = 10 through `Sim`) confirms the replicated commit has the engine's size.
//!
//! `cargo bench -p conclave-core --bench engine -- --warm-up-time 1 --measurement-time 3`

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conclave_core::CipherSuite;
use conclave_core::hpke::{self, HpkeKeyPair};
use conclave_core::identity::{IdentityKey, PublicIdentity};
use conclave_core::meeting::{MeetingConfig, commit_bundle_for_leaf, update_leaf, welcome_info};
use conclave_core::merkle;
use conclave_core::protocol::limits::PROTOCOL_VERSION;
use conclave_core::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded, encode};
use conclave_core::schedule::labels;
use conclave_core::sim::{Sim, TapAction};
use conclave_core::tree::{self, LeaderTree, MemberPath, NodeKey, Occupancy, Plan, Updates};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const MID: &[u8] = b"meeting-0123456789abcdef";
const SUITE: CipherSuite = CipherSuite::P256Sha256ChaCha20Poly1305;
/// Epoch of the benchmarked commit (the fixture tree was built at epoch 1).
const EPOCH: u64 = 1_000;
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const LEAVE_SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const TRANSCRIPT: [u8; 32] = [0x7a; 32];

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A meeting of `n` members at leaves `0..n`, the leader at leaf 0.
struct Fixture {
    n: usize,
    tree: LeaderTree,
    leader: IdentityKey,
}

impl Fixture {
    fn new(n: usize, rng: &mut ChaCha20Rng) -> Self {
        let mut tree = LeaderTree::create(rng);
        let p = tree::plan(tree.occupancy(), &[], n - 1, false).unwrap();
        tree.apply(&p, MID, 1, rng).unwrap();
        assert_eq!(tree.occupancy().len(), n);
        Self {
            n,
            tree,
            leader: IdentityKey::generate(rng),
        }
    }

    fn occupancy(&self) -> &Occupancy {
        self.tree.occupancy()
    }

    /// The member that leaves in the leave benchmarks: mid-tree, like `leave_updates_are_logarithmic`.
    fn leaver(&self) -> u32 {
        (self.n / 2) as u32
    }

    fn member_path(&self, leaf: u32) -> MemberPath {
        let secrets = self.tree.path_secrets(leaf).unwrap();
        MemberPath::from_secrets(leaf, self.occupancy().width(), secrets).unwrap()
    }
}

/// A signed `Announcement` as a joiner sends it (the bytes a join commit carries).
fn announcement(rng: &mut ChaCha20Rng, hpke_public: &[u8]) -> Vec<u8> {
    let id = IdentityKey::generate(rng);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let a = pb::Announcement {
        version: PROTOCOL_VERSION,
        meeting_id: MID.to_vec(),
        participant_id: "participant-00042".into(),
        identity_key: id.public().as_bytes().to_vec(),
        hpke_keys: vec![pb::SuiteKey {
            suite: SUITE.id(),
            public_key: hpke_public.to_vec(),
        }],
        liveness_nonce: nonce.to_vec(),
        recent_heartbeat: vec![],
    };
    let content = encode(&a);
    let signature = id.sign(labels::ANNOUNCEMENT, &content).to_vec();
    encode(&pb::SignedMessage { content, signature })
}

/// `pb::Commit` content as `Meeting::leader_commit` encodes it.
fn commit_content(
    plan: &Plan,
    reason: CommitReason,
    removes: &[u32],
    adds: Vec<pb::Add>,
    leaf_hashes: &[[u8; 32]],
) -> Vec<u8> {
    encode(&pb::Commit {
        version: PROTOCOL_VERSION,
        suite: SUITE.id(),
        meeting_id: MID.to_vec(),
        epoch: EPOCH,
        prev_transcript_hash: TRANSCRIPT.to_vec(),
        leader_leaf: 0,
        reason: reason as i32,
        removes: removes
            .iter()
            .map(|&leaf| pb::Remove {
                leaf,
                reason: RemoveReason::Left as i32,
            })
            .collect(),
        adds,
        locked: false,
        leaf_count: plan.after.width(),
        updates_root: merkle::root(leaf_hashes).to_vec(),
        update_count: u32::try_from(leaf_hashes.len()).unwrap(),
        rebuild: false,
        votes: vec![],
        stable_heartbeat: None,
    })
}

fn leaf_hashes(updates: &Updates) -> Vec<[u8; 32]> {
    updates
        .iter()
        .map(|(n, c, ct)| update_leaf(*n, *c, ct))
        .collect()
}

/// The full `CommitBundle` as the leader broadcasts it.
fn bundle(content: Vec<u8>, signature: [u8; 64], updates: Updates) -> pb::CommitBundle {
    pb::CommitBundle {
        commit: Some(pb::SignedMessage {
            content,
            signature: signature.to_vec(),
        }),
        updates: updates
            .into_iter()
            .enumerate()
            .map(|(i, (node, child, ciphertext))| pb::IndexedUpdate {
                index: u32::try_from(i).unwrap(),
                update: Some(pb::NodeUpdate {
                    node,
                    child,
                    ciphertext,
                }),
            })
            .collect(),
        proof: vec![],
    }
}

fn envelope_len(b: &pb::CommitBundle) -> usize {
    encode(&pb::Envelope {
        body: Some(Body::Commit(b.clone())),
    })
    .len()
}

/// Leader side of a membership or rotation commit: plan, apply, Merkle root, encode, sign, and
/// encode the broadcast envelope. Returns the tree (dropped outside the timing) and the envelope.
fn leader_commit(
    mut t: LeaderTree,
    leader: &IdentityKey,
    removes: &[u32],
    rotate: bool,
    rng: &mut ChaCha20Rng,
) -> (LeaderTree, Vec<u8>) {
    let p = tree::plan(t.occupancy(), removes, 0, rotate).unwrap();
    let updates = t.apply(&p, MID, EPOCH, rng).unwrap();
    let hashes = leaf_hashes(&updates);
    let reason = if rotate {
        CommitReason::Rotation
    } else {
        CommitReason::Membership
    };
    let content = commit_content(&p, reason, removes, vec![], &hashes);
    let sig = leader.sign(labels::COMMIT, &content);
    let env = encode(&pb::Envelope {
        body: Some(Body::Commit(bundle(content, sig, updates))),
    });
    (t, env)
}

/// `pb::PathSecrets` of `leaf`, encoded, as `make_welcome` seals it.
fn path_secrets_plaintext(t: &LeaderTree, leaf: u32) -> Vec<u8> {
    let path = t.path_secrets(leaf).unwrap();
    encode(&pb::PathSecrets {
        leaf,
        nodes: path
            .iter()
            .map(|(node, key)| pb::NodeSecret {
                node: *node,
                key: key.expose().to_vec(),
            })
            .collect(),
        echoed_nonce: vec![0x33; 24],
    })
}

fn seal_path(t: &LeaderTree, leaf: u32, pk: &[u8], rng: &mut ChaCha20Rng) -> (Vec<u8>, Vec<u8>) {
    let pt = path_secrets_plaintext(t, leaf);
    let info = welcome_info(MID, EPOCH, leaf);
    hpke::seal(SUITE, pk, &info, &TRANSCRIPT, &pt, rng).unwrap()
}

// ----- 1. leader join -----

/// Leader side of a one-member join: plan, apply, Merkle root, commit encode and sign, the
/// joiner's path secrets sealed to its HPKE key. Returns the tree (dropped outside the timing).
fn leader_join(
    mut t: LeaderTree,
    leader: &IdentityKey,
    ann: &[u8],
    pk: &[u8],
    rng: &mut ChaCha20Rng,
) -> (LeaderTree, [u8; 64], (Vec<u8>, Vec<u8>)) {
    let p = tree::plan(t.occupancy(), &[], 1, false).unwrap();
    let updates = t.apply(&p, MID, EPOCH, rng).unwrap();
    let leaf = p.added_leaves[0];
    let hashes = leaf_hashes(&updates);
    let adds = vec![pb::Add {
        leaf,
        announcement: ann.to_vec(),
    }];
    let content = commit_content(&p, CommitReason::Membership, &[], adds, &hashes);
    let sig = leader.sign(labels::COMMIT, &content);
    let sealed = seal_path(&t, leaf, pk, rng);
    (t, sig, sealed)
}

fn bench_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("leader_join");
    g.sample_size(20);
    for n in SIZES {
        let mut r = rng(n as u64);
        let f = Fixture::new(n, &mut r);
        let joiner_hpke = HpkeKeyPair::generate(SUITE, &mut r);
        let ann = announcement(&mut r, joiner_hpke.public_key());
        let pk = joiner_hpke.public_key().to_vec();
        {
            // Size of what is signed, for the record.
            let p = tree::plan(f.occupancy(), &[], 1, false).unwrap();
            let content = commit_content(
                &p,
                CommitReason::Membership,
                &[],
                vec![pb::Add {
                    leaf: p.added_leaves[0],
                    announcement: ann.clone(),
                }],
                &[],
            );
            eprintln!(
                "join N={n}: commit content {} B (announcement {} B), wraps {}",
                content.len(),
                ann.len(),
                p.wraps.len()
            );
        }
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || f.tree.clone(),
                |t| leader_join(t, &f.leader, &ann, &pk, &mut r),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // What the engine's Welcome adds on top: a GroupInfo carrying every roster entry (N signed
    // announcements), signed, inside a Welcome that is signed again.
    let mut g = c.benchmark_group("join_welcome_groupinfo");
    g.sample_size(20);
    for n in SIZES {
        let mut r = rng(n as u64 + 1);
        let leader = IdentityKey::generate(&mut r);
        let hk = HpkeKeyPair::generate(SUITE, &mut r);
        let ann = announcement(&mut r, hk.public_key());
        let roster: Vec<pb::RosterEntry> = (0..=n as u32)
            .map(|leaf| pb::RosterEntry {
                leaf,
                admitted_epoch: 1,
                announcement: ann.clone(),
            })
            .collect();
        let sealed = (vec![4u8; 65], vec![5u8; 400]);
        let gi_len = encode(&pb::GroupInfo {
            version: PROTOCOL_VERSION,
            suite: SUITE.id(),
            meeting_id: MID.to_vec(),
            epoch: EPOCH,
            transcript_hash: TRANSCRIPT.to_vec(),
            leader_leaf: 0,
            locked: false,
            leaf_count: 1024,
            roster: roster.clone(),
            previous_roster_size: 0,
        })
        .len();
        eprintln!("join N={n}: GroupInfo {gi_len} B");
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let gi = pb::GroupInfo {
                    version: PROTOCOL_VERSION,
                    suite: SUITE.id(),
                    meeting_id: MID.to_vec(),
                    epoch: EPOCH,
                    transcript_hash: TRANSCRIPT.to_vec(),
                    leader_leaf: 0,
                    locked: false,
                    leaf_count: 1024,
                    roster: roster.clone(),
                    previous_roster_size: 0,
                };
                let content = encode(&gi);
                let signature = leader.sign(labels::GROUP_INFO, &content).to_vec();
                let group_info = encode(&pb::SignedMessage { content, signature });
                let w = pb::Welcome {
                    version: PROTOCOL_VERSION,
                    suite: SUITE.id(),
                    meeting_id: MID.to_vec(),
                    epoch: EPOCH,
                    leaf: n as u32,
                    transcript_hash: TRANSCRIPT.to_vec(),
                    enc: sealed.0.clone(),
                    ciphertext: sealed.1.clone(),
                    group_info,
                };
                let content = encode(&w);
                let signature = leader.sign(labels::WELCOME, &content).to_vec();
                black_box(encode(&pb::Envelope {
                    body: Some(Body::Welcome(pb::SignedMessage { content, signature })),
                }))
            })
        });
    }
    g.finish();
}

// ----- 2 and 3. leader leave and rotation -----

fn bench_leave_and_rotation(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("leader_leave");
    g.sample_size(20);
    for f in fixtures {
        let mut r = rng(f.n as u64 + 2);
        let leaver = f.leaver();
        g.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            b.iter_batched(
                || f.tree.clone(),
                |t| leader_commit(t, &f.leader, &[leaver], false, &mut r),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // Where a leave's time goes.
    let mut g = c.benchmark_group("leave_parts");
    g.sample_size(20);
    for f in fixtures {
        let mut r = rng(f.n as u64 + 3);
        let leaver = f.leaver();
        g.bench_function(BenchmarkId::new("plan", f.n), |b| {
            b.iter(|| black_box(tree::plan(f.occupancy(), &[leaver], 0, false).unwrap()))
        });
        let p = tree::plan(f.occupancy(), &[leaver], 0, false).unwrap();
        g.bench_function(BenchmarkId::new("apply", f.n), |b| {
            b.iter_batched(
                || f.tree.clone(),
                |mut t| {
                    let u = t.apply(&p, MID, EPOCH, &mut r).unwrap();
                    (t, u)
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("tree_clone", f.n), |b| {
            b.iter(|| black_box(f.tree.clone()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("leader_rotation");
    g.sample_size(10);
    for f in fixtures {
        let mut r = rng(f.n as u64 + 4);
        g.bench_function(BenchmarkId::from_parameter(f.n), |b| {
            b.iter_batched(
                || f.tree.clone(),
                |t| leader_commit(t, &f.leader, &[], true, &mut r),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

// ----- 4. failover rebuild -----

type Sealed = (Vec<u8>, Vec<u8>);

/// Failover: fresh keys for the whole tree, then every other member's path sealed to it.
fn rebuild_serial(occ: &Occupancy, keys: &[(u32, Vec<u8>)], r: &mut ChaCha20Rng) -> Vec<Sealed> {
    let t = LeaderTree::rebuild(occ.clone(), r);
    keys.iter()
        .map(|(leaf, pk)| seal_path(&t, *leaf, pk, r))
        .collect()
}

/// The same with the sealing split over two threads, each with its own random source.
fn rebuild_2_threads(
    occ: &Occupancy,
    keys: &[(u32, Vec<u8>)],
    r: &mut ChaCha20Rng,
) -> Vec<Vec<Sealed>> {
    let t = LeaderTree::rebuild(occ.clone(), r);
    let half = keys.len().div_ceil(2).max(1);
    let seeds = [r.next_u64(), r.next_u64()];
    std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .chunks(half)
            .zip(seeds)
            .map(|(chunk, seed)| {
                let t = &t;
                s.spawn(move || {
                    let mut cr = rng(seed);
                    chunk
                        .iter()
                        .map(|(leaf, pk)| seal_path(t, *leaf, pk, &mut cr))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The failover's rebuild-and-seal input at `f`: leaf 0 failed, leaf 1 takes over.
fn rebuild_input(f: &Fixture, r: &mut ChaCha20Rng) -> (Occupancy, Vec<(u32, Vec<u8>)>) {
    let occ = tree::plan(f.occupancy(), &[0], 0, false).unwrap().after;
    let me = 1u32;
    let keys = occ
        .leaves()
        .filter(|&l| l != me)
        .map(|l| (l, HpkeKeyPair::generate(SUITE, r).public_key().to_vec()))
        .collect();
    (occ, keys)
}

fn bench_rebuild(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("failover_rebuild");
    g.sample_size(10);
    for f in fixtures.iter().filter(|f| f.n <= 1_000) {
        let mut r = rng(f.n as u64 + 5);
        let (occ, keys) = rebuild_input(f, &mut r);
        eprintln!("rebuild N={}: {} seals", f.n, keys.len());
        g.bench_function(BenchmarkId::new("serial", f.n), |b| {
            b.iter(|| rebuild_serial(&occ, &keys, &mut r))
        });
        g.bench_function(BenchmarkId::new("2_threads", f.n), |b| {
            b.iter(|| rebuild_2_threads(&occ, &keys, &mut r))
        });
    }
    g.finish();
}

// ----- 5. member processing a leave -----

/// A leave as a member receives it: the commit sliced to its path, its path before the commit.
struct MemberCase {
    leaf: u32,
    wraps: usize,
    sliced: pb::CommitBundle,
    path: MemberPath,
}

struct LeaveCase {
    occ: Occupancy,
    leader: PublicIdentity,
    plan: Plan,
    full: pb::CommitBundle,
    sibling: MemberCase,
    typical: MemberCase,
    /// The sibling's leaf key (to time one unwrap alone).
    sibling_leaf_key: NodeKey,
}

impl LeaveCase {
    fn new(f: &Fixture, rng: &mut ChaCha20Rng) -> Self {
        let leaver = f.leaver();
        let mut t = f.tree.clone();
        let p = tree::plan(f.occupancy(), &[leaver], 0, false).unwrap();
        let updates = t.apply(&p, MID, EPOCH, rng).unwrap();
        let hashes = leaf_hashes(&updates);
        let content = commit_content(&p, CommitReason::Membership, &[leaver], vec![], &hashes);
        let sig = f.leader.sign(labels::COMMIT, &content);
        let full = bundle(content, sig, updates);
        let case = |leaf: u32| {
            let w = p.wraps_for_leaf(leaf);
            MemberCase {
                leaf,
                wraps: w.len(),
                sliced: commit_bundle_for_leaf(&full, &w),
                path: f.member_path(leaf),
            }
        };
        let sibling = leaver ^ 1;
        // A typical member: the median number of updates over the members.
        let mut counts: Vec<(usize, u32)> = p
            .after
            .leaves()
            .filter(|&l| l != 0)
            .map(|l| (p.wraps_for_leaf(l).len(), l))
            .collect();
        counts.sort_unstable();
        let typical = counts[counts.len() / 2].1;
        let sibling_leaf_key = f.tree.path_secrets(sibling).unwrap()[0].1.clone();
        let (sibling, typical) = (case(sibling), case(typical));
        Self {
            occ: f.occupancy().clone(),
            leader: f.leader.public().clone(),
            plan: p.clone(),
            full,
            sibling,
            typical,
            sibling_leaf_key,
        }
    }

    /// What `Meeting::apply_commit` does with a leave, minus roster bookkeeping: decode, verify
    /// the signature, plan, check the updates against the signed Merkle root, unwrap the path.
    fn process(&self, m: &MemberCase) -> MemberPath {
        let signed = m.sliced.commit.as_ref().unwrap();
        let commit: pb::Commit =
            decode_bounded(MessageKind::Commit, &signed.content, 1 << 20).expect("commit decodes");
        self.leader
            .verify(labels::COMMIT, &signed.content, &signed.signature)
            .unwrap();
        let removed: Vec<u32> = commit.removes.iter().map(|r| r.leaf).collect();
        let p = tree::plan(&self.occ, &removed, commit.adds.len(), false).unwrap();
        let entries: Vec<(usize, [u8; 32])> = m
            .sliced
            .updates
            .iter()
            .map(|iu| {
                let u = iu.update.as_ref().unwrap();
                assert_eq!(p.wraps[iu.index as usize], (u.node, u.child));
                (
                    iu.index as usize,
                    update_leaf(u.node, u.child, &u.ciphertext),
                )
            })
            .collect();
        let proof: Vec<[u8; 32]> = m
            .sliced
            .proof
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap())
            .collect();
        let root = merkle::compute_root(commit.update_count as usize, &entries, &proof).unwrap();
        assert_eq!(root.as_slice(), commit.updates_root.as_slice());
        let mut path = m.path.clone();
        path.apply(&p, MID, commit.epoch, |n, c| {
            m.sliced
                .updates
                .iter()
                .filter_map(|iu| iu.update.as_ref())
                .find(|u| u.node == n && u.child == c)
                .map(|u| u.ciphertext.as_slice())
        })
        .unwrap();
        path
    }
}

fn bench_member_leave(c: &mut Criterion, fixtures: &[Fixture]) {
    let mut g = c.benchmark_group("member_leave");
    for f in fixtures {
        let mut r = rng(f.n as u64 + 6);
        let case = LeaveCase::new(f, &mut r);
        // Sanity: both members end on the leader's new root.
        let mut t = f.tree.clone();
        t.apply(&case.plan, MID, EPOCH, &mut rng(f.n as u64 + 6))
            .unwrap();
        for m in [&case.sibling, &case.typical] {
            let p = case.process(m);
            assert_eq!(p.leaf(), m.leaf);
        }
        eprintln!(
            "member leave N={}: sibling leaf {} ({} unwraps, proof {} hashes), typical leaf {} ({} unwraps, proof {} hashes)",
            f.n,
            case.sibling.leaf,
            case.sibling.wraps,
            case.sibling.sliced.proof.len(),
            case.typical.leaf,
            case.typical.wraps,
            case.typical.sliced.proof.len()
        );
        g.bench_function(BenchmarkId::new("sibling", f.n), |b| {
            b.iter(|| black_box(case.process(&case.sibling)))
        });
        g.bench_function(BenchmarkId::new("typical", f.n), |b| {
            b.iter(|| black_box(case.process(&case.typical)))
        });
        let signed = case.full.commit.as_ref().unwrap();
        g.bench_function(BenchmarkId::new("verify_only", f.n), |b| {
            b.iter(|| {
                case.leader
                    .verify(labels::COMMIT, &signed.content, &signed.signature)
                    .unwrap()
            })
        });
        let first = case.sibling.sliced.updates.iter().find_map(|iu| {
            iu.update
                .as_ref()
                .filter(|u| u.child == tree::leaf_node(case.sibling.leaf))
        });
        let u = first.expect("the sibling's first update is under its leaf");
        g.bench_function(BenchmarkId::new("unwrap_only", f.n), |b| {
            b.iter(|| {
                black_box(
                    tree::unwrap(
                        &case.sibling_leaf_key,
                        &u.ciphertext,
                        MID,
                        EPOCH,
                        u.node,
                        u.child,
                    )
                    .unwrap(),
                )
            })
        });
        g.bench_function(BenchmarkId::new("plan_only", f.n), |b| {
            b.iter(|| black_box(tree::plan(&case.occ, &[f.leaver()], 0, false).unwrap()))
        });
    }
    g.finish();
}

// ----- 6. bytes per member per leave -----

fn leave_bytes(fixtures: &[Fixture]) {
    eprintln!("| N | full bundle (B) | updates | per-member min (B) | median (B) | max (B) |");
    eprintln!("|---|---|---|---|---|---|");
    for f in fixtures {
        let mut r = rng(f.n as u64 + 7);
        let case = LeaveCase::new(f, &mut r);
        let full = envelope_len(&case.full);
        let mut sizes: Vec<(usize, u32)> = case
            .plan
            .after
            .leaves()
            .filter(|&l| l != 0)
            .map(|l| {
                let b = commit_bundle_for_leaf(&case.full, &case.plan.wraps_for_leaf(l));
                (envelope_len(&b), l)
            })
            .collect();
        sizes.sort_unstable();
        let (min, med, max) = (sizes[0], sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
        // Where the worst member's bytes go: the signed commit, its updates, the multiproof.
        let worst = commit_bundle_for_leaf(&case.full, &case.plan.wraps_for_leaf(max.1));
        let mut bare = worst.clone();
        bare.proof.clear();
        let no_proof = envelope_len(&bare);
        bare.updates.clear();
        let commit_only = envelope_len(&bare);
        eprintln!(
            "N={}: worst member (leaf {}): {} B = commit {} B + {} updates {} B + {} proof hashes {} B",
            f.n,
            max.1,
            max.0,
            commit_only,
            worst.updates.len(),
            no_proof - commit_only,
            worst.proof.len(),
            max.0 - no_proof
        );
        let over_1000 = sizes.iter().filter(|(b, _)| *b > 1000).count();
        eprintln!(
            "N={}: {over_1000} of {} members receive more than 1,000 B",
            f.n,
            sizes.len()
        );
        eprintln!(
            "| {} | {full} | {} | {} (leaf {}) | {} | {} (leaf {}) |",
            f.n,
            case.full.updates.len(),
            min.0,
            min.1,
            med.0,
            max.0,
            max.1
        );
    }
}

/// The same leave through the real engine at N = 10: the size of the commit envelope the leader
/// broadcasts, to check that the replicated commit above matches.
fn engine_cross_check() {
    let n = 10usize;
    let mut s = Sim::new(MID, MeetingConfig::default(), rng(99));
    s.create("p00").unwrap();
    for i in 1..n {
        s.join(&format!("p{i:02}")).unwrap();
        s.settle();
    }
    assert_eq!(s.active().len(), n);
    let seen: Rc<RefCell<Vec<usize>>> = Rc::default();
    let seen2 = seen.clone();
    s.tap = Some(Box::new(move |m| {
        if m.from == "p00"
            && let Ok(env) =
                decode_bounded::<pb::Envelope>(MessageKind::Envelope, &m.payload, 1 << 22)
            && matches!(env.body, Some(Body::Commit(_)))
        {
            seen2.borrow_mut().push(m.payload.len());
        }
        TapAction::Deliver
    }));
    let leaver = format!("p{:02}", n / 2);
    s.act(&leaver, |m, now, rng| m.leave(now, rng)).unwrap();
    s.settle();
    let sizes = seen.borrow();
    eprintln!(
        "engine cross-check N={n}: leave commit envelope {:?} B (one per recipient), converged at epoch {:?}",
        sizes.first(),
        s.converged()
    );
}

// ----- memory -----

/// Counts the bytes allocated and freed while [`retained`] measures (and only then, so the timed
/// benchmarks pay one relaxed load per allocation, not an atomic add).
struct Counting;

/// Net bytes (allocated minus freed) while counting; signed, as a measured closure may free
/// blocks allocated before it ran.
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            LIVE.fetch_add(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            LIVE.fetch_sub(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        // SAFETY: `p` was allocated by `alloc` above with `l`.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes retained by the value `f` builds (measured single-threaded, at startup): what it
/// allocated minus what it freed while it ran.
fn retained<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LIVE.store(0, std::sync::atomic::Ordering::Relaxed);
    COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
    let v = f();
    COUNTING.store(false, std::sync::atomic::Ordering::Relaxed);
    let net = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    (usize::try_from(net).unwrap_or(0), v)
}

/// What the key tree costs in memory: a member's path keys and occupancy bitmap, and the
/// leader's whole tree. (The engine's roster, one entry per participant, comes on top: see
/// BENCHMARKS.md.)
fn tree_memory(fixtures: &[Fixture]) {
    eprintln!(
        "| N | member: path keys + occupancy (B) | leader: tree (B) | leader per member (B) |"
    );
    for f in fixtures {
        let leaf = (f.n / 2) as u32;
        let (member, m) = retained(|| {
            let path = MemberPath::from_secrets(
                leaf,
                f.occupancy().width(),
                f.tree.path_secrets(leaf).unwrap(),
            )
            .unwrap();
            (path, f.occupancy().clone())
        });
        let (leader, t) = retained(|| f.tree.clone());
        eprintln!(
            "| {} | {} | {} | {:.0} |",
            f.n,
            member,
            leader,
            leader as f64 / f.n as f64
        );
        drop((m, t));
    }
}

// ----- ratios measured interleaved -----
//
// The machine is shared, so load drifts over the minutes a criterion run takes. The ratios the
// goals ask for are therefore also measured with the compared operations interleaved round by
// round (medians of many rounds), which cancels the drift.

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn interleaved_ratios(fixtures: &[Fixture]) {
    let mut r = rng(21);
    const ROUNDS: usize = 101;
    // Leader leave and join at every N, interleaved.
    let hk = HpkeKeyPair::generate(SUITE, &mut r);
    let ann = announcement(&mut r, hk.public_key());
    let mut leave: Vec<Vec<Duration>> = vec![Vec::new(); fixtures.len()];
    let mut join: Vec<Vec<Duration>> = vec![Vec::new(); fixtures.len()];
    let mut rotation: Vec<Vec<Duration>> = vec![Vec::new(); fixtures.len()];
    for round in 0..ROUNDS {
        for (i, f) in fixtures.iter().enumerate() {
            let t = f.tree.clone();
            let (d, out) = timed(|| leader_commit(t, &f.leader, &[f.leaver()], false, &mut r));
            drop(out);
            leave[i].push(d);
            let t = f.tree.clone();
            let (d, out) = timed(|| leader_join(t, &f.leader, &ann, hk.public_key(), &mut r));
            drop(out);
            join[i].push(d);
            // A rotation at N = 10,000 takes tens of milliseconds: every fifth round.
            if round % 5 == 0 {
                let t = f.tree.clone();
                let (d, out) = timed(|| leader_commit(t, &f.leader, &[], true, &mut r));
                drop(out);
                rotation[i].push(d);
            }
        }
    }
    let rotation: Vec<Duration> = rotation.into_iter().map(median).collect();
    let leave: Vec<Duration> = leave.into_iter().map(median).collect();
    let join: Vec<Duration> = join.into_iter().map(median).collect();
    eprintln!("interleaved ({ROUNDS} rounds), median:");
    for (i, f) in fixtures.iter().enumerate() {
        eprintln!(
            "| N = {} | leader leave {} ({:.2}x N=10) | leader join {} ({:.2}x N=10) | leader rotation {} ({:.1}x N=10) |",
            f.n,
            us(leave[i]),
            leave[i].as_secs_f64() / leave[0].as_secs_f64(),
            us(join[i]),
            join[i].as_secs_f64() / join[0].as_secs_f64(),
            us(rotation[i]),
            rotation[i].as_secs_f64() / rotation[0].as_secs_f64(),
        );
    }
    // Failover sealing, serial against two threads, at N = 100.
    let f = fixtures.iter().find(|f| f.n == 100).unwrap();
    let (occ, keys) = rebuild_input(f, &mut r);
    let (mut ser, mut par) = (vec![], vec![]);
    for _ in 0..21 {
        ser.push(timed(|| rebuild_serial(&occ, &keys, &mut r)).0);
        par.push(timed(|| rebuild_2_threads(&occ, &keys, &mut r)).0);
    }
    let (ser, par) = (median(ser), median(par));
    eprintln!(
        "| failover N = 100 ({} seals) | serial {} | 2 threads {} | speed-up {:.2}x |",
        keys.len(),
        us(ser),
        us(par),
        ser.as_secs_f64() / par.as_secs_f64()
    );
    // Member leave against one verify plus its path's unwraps, interleaved per N.
    for f in fixtures {
        let case = LeaveCase::new(f, &mut r);
        let signed = case.full.commit.clone().unwrap();
        let u = case
            .sibling
            .sliced
            .updates
            .iter()
            .find_map(|iu| {
                iu.update
                    .clone()
                    .filter(|u| u.child == tree::leaf_node(case.sibling.leaf))
            })
            .unwrap();
        let unwraps = |k: usize| {
            for _ in 0..k {
                black_box(
                    tree::unwrap(
                        &case.sibling_leaf_key,
                        &u.ciphertext,
                        MID,
                        EPOCH,
                        u.node,
                        u.child,
                    )
                    .unwrap(),
                );
            }
        };
        let (mut sib, mut typ, mut ver, mut un_s, mut un_t, mut pl) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..2 * ROUNDS {
            sib.push(timed(|| case.process(&case.sibling)).0);
            typ.push(timed(|| case.process(&case.typical)).0);
            ver.push(
                timed(|| {
                    case.leader
                        .verify(labels::COMMIT, &signed.content, &signed.signature)
                        .unwrap()
                })
                .0,
            );
            un_s.push(timed(|| unwraps(case.sibling.wraps)).0);
            un_t.push(timed(|| unwraps(case.typical.wraps)).0);
            pl.push(timed(|| tree::plan(&case.occ, &[f.leaver()], 0, false).unwrap()).0);
        }
        let (sib, typ, ver, un_s, un_t, pl) = (
            median(sib),
            median(typ),
            median(ver),
            median(un_s),
            median(un_t),
            median(pl),
        );
        eprintln!(
            "| N = {} | sibling {} / (verify {} + {} unwraps {}) = {:.2}x | typical {} / (verify + {} unwraps {}) = {:.2}x | member plan {} |",
            f.n,
            us(sib),
            us(ver),
            case.sibling.wraps,
            us(un_s),
            sib.as_secs_f64() / (ver + un_s).as_secs_f64(),
            us(typ),
            case.typical.wraps,
            us(un_t),
            typ.as_secs_f64() / (ver + un_t).as_secs_f64(),
            us(pl),
        );
    }
}

fn benches(c: &mut Criterion) {
    let fixtures: Vec<Fixture> = LEAVE_SIZES
        .iter()
        .map(|&n| Fixture::new(n, &mut rng(n as u64)))
        .collect();
    engine_cross_check();
    leave_bytes(&fixtures);
    if std::env::var("CONCLAVE_BENCH_BYTES_ONLY").is_ok() {
        return;
    }
    tree_memory(&fixtures);
    interleaved_ratios(&fixtures);
    if std::env::var("CONCLAVE_BENCH_RATIOS_ONLY").is_ok() {
        return;
    }
    bench_join(c);
    bench_leave_and_rotation(c, &fixtures);
    bench_rebuild(c, &fixtures);
    bench_member_leave(c, &fixtures);
    let mut g = c.benchmark_group("primitives");
    let mut r = rng(11);
    let id = IdentityKey::generate(&mut r);
    let msg = vec![0x42u8; 400];
    g.bench_function("sign_400B", |b| {
        b.iter(|| black_box(id.sign(labels::COMMIT, &msg)))
    });
    let kp = HpkeKeyPair::generate(SUITE, &mut r);
    let pt = vec![0x42u8; 400];
    g.bench_function("hpke_seal_400B", |b| {
        b.iter(|| {
            black_box(hpke::seal(
                SUITE,
                kp.public_key(),
                b"info",
                b"aad",
                &pt,
                &mut r,
            ))
        })
    });
    g.finish();
}

criterion_group! {
    name = engine;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(engine);
