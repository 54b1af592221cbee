//! The worst-case memory of one participant under relay input (`spec/README.md`, "Unverified
//! input a participant holds"), measured through a counting global allocator: whatever the relay
//! sends, the heap a member keeps for unverified input stays within
//! `MAX_PENDING_COMMIT_BYTES + MAX_PENDING_WELCOMES * MAX_ENVELOPE_SIZE`, and the peak while it
//! processes one envelope adds at most the decoding of that envelope.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conclave_core::meeting::{MAX_PENDING_COMMIT_BYTES, MAX_PENDING_WELCOMES, MeetingConfig};
use conclave_core::protocol::encode;
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use conclave_core::protocol::v1::{self as pb, CommitReason, envelope::Body};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MID: &[u8] = b"memory-bound-meeting-000001";

/// A commit envelope of about `size` bytes for `epoch` (unsigned: the relay cannot sign).
fn commit(epoch: u64, size: usize) -> Vec<u8> {
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        prev_transcript_hash: vec![1; 32],
        leader_leaf: 0,
        reason: CommitReason::Rotation as i32,
        leaf_count: 2,
        updates_root: vec![0; 32],
        // Padding that decodes as one (unverified) add.
        adds: vec![pb::Add {
            leaf: 1,
            announcement: vec![9; size.saturating_sub(256)],
        }],
        ..Default::default()
    };
    encode(&pb::Envelope {
        body: Some(Body::Commit(pb::CommitBundle {
            commit: Some(pb::SignedMessage {
                content: encode(&c),
                signature: vec![2; 64],
            }),
            updates: vec![],
            proof: vec![],
        })),
    })
}

/// A Welcome without group info for `epoch`, of about `size` bytes.
fn welcome(epoch: u64, leaf: u32, size: usize) -> Vec<u8> {
    let w = pb::Welcome {
        version: PROTOCOL_VERSION,
        suite: 1,
        meeting_id: MID.to_vec(),
        epoch,
        leaf,
        transcript_hash: vec![0; 32],
        enc: vec![4; 65],
        ciphertext: vec![5; size],
        group_info: vec![],
    };
    encode(&pb::Envelope {
        body: Some(Body::Welcome(pb::SignedMessage {
            content: encode(&w),
            signature: vec![6; 64],
        })),
    })
}

#[test]
fn a_member_holds_bounded_unverified_input() {
    let mut s = Sim::new(MID, MeetingConfig::default(), ChaCha20Rng::seed_from_u64(5));
    s.create("alice").unwrap();
    s.join("bob").unwrap();
    s.settle();
    s.advance(Duration::from_secs(3), Duration::from_secs(1));
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (epoch, leaf) = {
        let b = &s.participants["bob"];
        (b.epoch(), b.own_leaf())
    };
    let big = MAX_ENVELOPE_SIZE - 4096;
    // Inputs prepared before measuring, so only bob's own allocations count.
    let commits: Vec<Vec<u8>> = (0..64u64).map(|i| commit(epoch + 2 + i % 8, big)).collect();
    let far: Vec<Vec<u8>> = (0..16u64).map(|i| commit(epoch + 100 + i, big)).collect();
    let welcomes: Vec<Vec<u8>> = (0..8).map(|_| welcome(epoch + 1, leaf, big)).collect();
    let bob = s.participants.get_mut("bob").unwrap();
    let now = Duration::from_secs(100);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let kept_bound = MAX_PENDING_COMMIT_BYTES + MAX_PENDING_WELCOMES * MAX_ENVELOPE_SIZE;
    let mut worst_kept = 0usize;
    for input in commits.iter().chain(&far).chain(&welcomes) {
        let _ = bob.handle_message(input, now, &mut rng);
        let kept = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
        worst_kept = worst_kept.max(kept);
        assert!(
            kept <= kept_bound + 1024 * 1024,
            "bob keeps {kept} bytes of relay input (bound {kept_bound})"
        );
        assert!(bob.buffered_bytes() <= kept_bound);
    }
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    // Processing one envelope adds at most its decoding (wire.md 3.1: here a 4 MiB bundle whose
    // commit holds one 4 MiB add decodes to a few copies of it) on top of what is kept.
    let peak_bound = kept_bound + 4 * MAX_ENVELOPE_SIZE;
    eprintln!(
        "kept at most {worst_kept} bytes (bound {kept_bound}), peak {peak} bytes (bound {peak_bound})"
    );
    assert!(peak <= peak_bound, "peak {peak} over {peak_bound}");
    assert!(
        worst_kept >= MAX_PENDING_COMMIT_BYTES / 2,
        "the test did not fill the buffer"
    );
}
