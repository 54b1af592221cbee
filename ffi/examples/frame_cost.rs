//! The Rust side of `bindings/python/bench_frames.py`: one 1,200-byte frame encrypted by one
//! participant and decrypted by another, per frame, through the engine (`core`), the bindings'
//! object (`ffi`, with the argument copies a foreign caller makes) and the bindings' batch calls
//! (`ffi_batch`, `BATCH` frames per call, packing and unpacking included). Prints one line of
//! `name=nanoseconds` pairs: the best of short alternating blocks over about `SECONDS` (the
//! machine is shared; interference only adds time).
//!
//! `cargo run --release -p conclave-ffi --example frame_cost [-- SECONDS]`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::Secret;
use conclave_core::frame::{FrameConfig, FrameCrypto as Engine};
use conclave_ffi::{BATCH_OK, FrameCrypto};

const FRAME_LEN: usize = 1200;
const BATCH: usize = 50;
const BLOCK: usize = 200;
const NOW: Duration = Duration::from_secs(5);

fn member(leaf: u32) -> Arc<Engine> {
    let e = Engine::new(FrameConfig::default()).expect("config");
    e.set_own_sender(leaf).expect("leaf");
    e.install_epoch(1, &Secret::from_bytes([3u8; 32]), Duration::ZERO)
        .expect("epoch");
    Arc::new(e)
}

/// Time per frame (ns) of `iters` frames run by `op`.
fn per_frame(frames: usize, mut op: impl FnMut()) -> f64 {
    let t = Instant::now();
    op();
    t.elapsed().as_nanos() as f64 / frames as f64
}

/// `encrypt_batch` + `decrypt_batch` of `BATCH` plaintexts, with the caller's packing.
fn batch_round_trip(a: &FrameCrypto, b: &FrameCrypto, plaintext: &[u8]) {
    let mut packed = Vec::with_capacity(BATCH * (FRAME_LEN + 12));
    for _ in 0..BATCH {
        packed.extend_from_slice(&1i32.to_le_bytes());
        packed.extend_from_slice(&0i32.to_le_bytes());
        packed.extend_from_slice(&(FRAME_LEN as u32).to_le_bytes());
        packed.extend_from_slice(plaintext);
    }
    let sealed = a.encrypt_batch(&packed).expect("encrypt_batch");
    // The sealed entries (status, len, frame) become decrypt entries (len, frame).
    let mut frames = Vec::with_capacity(sealed.packed.len());
    let mut at = 0;
    while at < sealed.packed.len() {
        assert_eq!(sealed.packed[at], BATCH_OK);
        let len = u32::from_le_bytes(sealed.packed[at + 1..at + 5].try_into().unwrap()) as usize;
        frames.extend_from_slice(&sealed.packed[at + 1..at + 5 + len]);
        at += 5 + len;
    }
    let opened = b.decrypt_batch(&frames, 5_000).expect("decrypt_batch");
    assert!(opened.failures.is_empty());
    black_box(opened);
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seconds"))
        .unwrap_or(1.0);
    let (ca, cb) = (member(0), member(1));
    let (fa, fb) = (
        FrameCrypto::from_engine(Arc::clone(&ca)),
        FrameCrypto::from_engine(Arc::clone(&cb)),
    );
    let plaintext = vec![0x5au8; FRAME_LEN];
    let mut core = || {
        for _ in 0..BLOCK {
            let f = ca.encrypt(1, black_box(&plaintext), 0).expect("encrypt");
            black_box(cb.decrypt(&f, NOW).expect("decrypt"));
        }
    };
    let mut ffi = || {
        for _ in 0..BLOCK {
            // A foreign caller's bytes arrive as a fresh Vec, like uniffi lowers them.
            let f = fa
                .encrypt(1, black_box(plaintext.clone()), 0)
                .expect("encrypt");
            black_box(fb.decrypt(f, 5_000).expect("decrypt"));
        }
    };
    let mut ffi_batch = || {
        for _ in 0..BLOCK / BATCH {
            batch_round_trip(&fa, &fb, &plaintext);
        }
    };
    let (mut best_core, mut best_ffi, mut best_batch) = (f64::MAX, f64::MAX, f64::MAX);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        best_core = best_core.min(per_frame(BLOCK, &mut core));
        best_ffi = best_ffi.min(per_frame(BLOCK, &mut ffi));
        best_batch = best_batch.min(per_frame(BLOCK, &mut ffi_batch));
    }
    println!(
        "backend={} core={best_core:.0} ffi={best_ffi:.0} ffi_batch={best_batch:.0}",
        <conclave_core::frame::DefaultBackend as conclave_core::frame::AeadBackend>::NAME
    );
}
