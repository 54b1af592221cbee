//! CPU of one receiver in a 50-person meeting: one simulated second of 49 senders × (30 fps
//! video of 16 KiB with a 10-byte clear prefix + 50 fps audio of 100 B with a 1-byte prefix) =
//! 3,920 frames (24 MB), all streams already keyed, as in `core/benches/frames.rs` (but each
//! sender at its own phase, not all at once).
//!
//! Paths, measured in alternating blocks in ONE process (the best block of each is kept: the
//! machine is shared and interference only adds time):
//! - `engine_ring` / `engine_rustcrypto`: the engine's `decrypt_into` with each backend (ring
//!   only when built with the `fast-frames` feature, the default);
//! - `binding`: the bindings' `FrameCrypto::decrypt` with the shipped backend, one call per frame,
//!   each frame handed over as a fresh `Vec` (what a Swift/Kotlin/Python call lowers to) and the
//!   plaintext returned in a new `Vec`;
//! - `binding_batch`: `FrameCrypto::decrypt_batch`, one call per 20 ms (about 78 frames, 480 KB),
//!   the caller's packing included.
//!
//! CPU share of one core = time per simulated second / 1 s.
//!
//! `cargo run --release -p conclave-ffi --example receiver_50 [-- SECONDS]`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::Secret;
use conclave_core::frame::{
    AeadBackend, DefaultBackend, FrameConfig, FrameCrypto as Engine, RustCryptoBackend,
};
use conclave_ffi::FrameCrypto;

const SENDERS: u32 = 49;
const VIDEO_FPS: usize = 30;
const VIDEO_BYTES: usize = 16 * 1024;
const AUDIO_FPS: usize = 50;
const AUDIO_BYTES: usize = 100;
const NOW: Duration = Duration::from_secs(1);
/// Ticks of 1/300 s per batch call (20 ms).
const TICKS_PER_BATCH: usize = 6;

fn member<B: AeadBackend>(leaf: u32) -> Engine<B> {
    let e = Engine::<B>::with_backend(FrameConfig::default()).expect("config");
    e.set_own_sender(leaf).expect("leaf");
    e.install_epoch(1, &Secret::from_bytes([0x42; 32]), Duration::ZERO)
        .expect("epoch");
    e
}

/// Warm-up frames (one per sender and stream) and one second of frames, grouped by 20 ms tick.
fn meeting_second() -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    let senders: Vec<Engine> = (1..=SENDERS).map(member::<DefaultBackend>).collect();
    let (video, audio) = (vec![0x11u8; VIDEO_BYTES], vec![0x22u8; AUDIO_BYTES]);
    let mut warm = Vec::new();
    for s in &senders {
        warm.push(s.encrypt(0, &audio, 1).expect("audio"));
        warm.push(s.encrypt(1, &video, 10).expect("video"));
    }
    let mut ticks = Vec::new();
    for tick in 0..300 {
        if tick % TICKS_PER_BATCH == 0 {
            ticks.push(Vec::new());
        }
        let batch = ticks.last_mut().expect("a batch");
        // Each sender at its own phase (as unsynchronised senders are), so that every 20 ms batch
        // holds about the same number of video frames.
        for (phase, s) in senders.iter().enumerate() {
            if (tick + phase) % (300 / AUDIO_FPS) == 0 {
                batch.push(s.encrypt(0, &audio, 1).expect("audio"));
            }
            if (tick + phase) % (300 / VIDEO_FPS) == 0 {
                batch.push(s.encrypt(1, &video, 10).expect("video"));
            }
        }
    }
    let n: usize = ticks.iter().map(Vec::len).sum();
    assert_eq!(n, SENDERS as usize * (VIDEO_FPS + AUDIO_FPS));
    (warm, ticks)
}

/// A receiver (leaf 0) whose key cache holds every sender's streams.
fn receiver<B: AeadBackend>(warm: &[Vec<u8>]) -> Engine<B> {
    let r = member::<B>(0);
    let mut out = vec![0u8; VIDEO_BYTES];
    for f in warm {
        r.decrypt_into(f, &mut out, NOW).expect("warm-up");
    }
    r
}

/// One simulated second through the engine with backend `B` (ns).
fn engine_second<B: AeadBackend>(warm: &[Vec<u8>], ticks: &[Vec<Vec<u8>>]) -> f64 {
    let r = receiver::<B>(warm);
    let mut out = vec![0u8; VIDEO_BYTES];
    let t = Instant::now();
    for f in ticks.iter().flatten() {
        black_box(r.decrypt_into(f, &mut out, NOW).expect("decrypt"));
    }
    t.elapsed().as_nanos() as f64
}

/// One simulated second through the binding object, one call per frame (ns).
fn binding_second(warm: &[Vec<u8>], ticks: &[Vec<Vec<u8>>]) -> f64 {
    let r = FrameCrypto::from_engine(Arc::new(receiver::<DefaultBackend>(warm)));
    let t = Instant::now();
    for f in ticks.iter().flatten() {
        black_box(r.decrypt(f.clone(), 1_000).expect("decrypt"));
    }
    t.elapsed().as_nanos() as f64
}

/// One simulated second through `decrypt_batch`, one call per 20 ms tick (ns).
fn batch_second(warm: &[Vec<u8>], ticks: &[Vec<Vec<u8>>]) -> f64 {
    let r = FrameCrypto::from_engine(Arc::new(receiver::<DefaultBackend>(warm)));
    let t = Instant::now();
    for tick in ticks {
        let mut packed = Vec::with_capacity(tick.iter().map(|f| f.len() + 4).sum());
        for f in tick {
            packed.extend_from_slice(&(f.len() as u32).to_le_bytes());
            packed.extend_from_slice(f);
        }
        let b = r.decrypt_batch(&packed, 1_000).expect("decrypt_batch");
        assert!(b.failures.is_empty());
        black_box(b);
    }
    t.elapsed().as_nanos() as f64
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seconds"))
        .unwrap_or(10.0);
    let (warm, ticks) = meeting_second();
    let mut best = [f64::MAX; 4];
    let mut blocks = 0;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline || blocks == 0 {
        #[cfg(feature = "fast-frames")]
        {
            best[0] = best[0].min(engine_second::<conclave_core::frame::RingBackend>(
                &warm, &ticks,
            ));
        }
        best[1] = best[1].min(engine_second::<RustCryptoBackend>(&warm, &ticks));
        best[2] = best[2].min(binding_second(&warm, &ticks));
        best[3] = best[3].min(batch_second(&warm, &ticks));
        blocks += 1;
    }
    println!(
        "receiver_50: {} frames per simulated second, best of {blocks} blocks each; binding \
         backend: {}",
        SENDERS as usize * (VIDEO_FPS + AUDIO_FPS),
        DefaultBackend::NAME
    );
    let names = [
        "engine_ring",
        "engine_rustcrypto",
        "binding",
        "binding_batch",
    ];
    for (name, ns) in names.iter().zip(best) {
        if ns < f64::MAX {
            // ns per simulated second / 1e9 ns = share of one core.
            println!(
                "{name:<18} {:>8.2} ms/s  {:>5.2} % of one core",
                ns / 1e6,
                ns / 1e7
            );
        }
    }
}
