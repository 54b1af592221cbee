//! One 1,200-byte frame encrypted by one participant and decrypted by another, in Rust: through
//! the engine's `FrameCrypto` and through the bindings' `FrameCrypto` object (the Rust side of
//! the FFI, with its argument and result copies). Compare with
//! `bindings/python/bench_frames.py`, which makes the same calls through the Python binding.
//!
//! `cargo bench -p conclave-ffi --bench frame_roundtrip`

use std::hint::black_box;
use std::sync::Arc;

use conclave_ffi::{Identity, Meeting};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MEETING_ID: &[u8] = b"bench-meeting-0001";
const FRAME_LEN: usize = 1200;

/// Alice and Bob in one meeting, both sending with its newest epoch.
fn two_in_a_meeting() -> (Arc<Meeting>, Arc<Meeting>) {
    let id = || Identity::generate().expect("identity");
    let a = Meeting::create(MEETING_ID.to_vec(), "alice".into(), id(), 0, None).expect("create");
    let b = Meeting::join(MEETING_ID.to_vec(), "bob".into(), id(), 0, None).expect("join");
    let parts = [&a, &b];
    for now in [0i64, 1, 2, 3_000, 3_001, 3_002] {
        for m in parts {
            if m.poll_timeout_ms().is_some_and(|t| t <= now) {
                m.handle_timeout(now).expect("timers");
            }
        }
        for (i, m) in parts.iter().enumerate() {
            while let Some(t) = m.poll_transmit() {
                // Messages not meant for the other side are refused; that is fine here.
                let _ = parts[1 - i].handle_message(t.payload, now);
            }
        }
    }
    assert_eq!(a.security_code(), b.security_code());
    (a, b)
}

fn bench(c: &mut Criterion) {
    let (a, b) = two_in_a_meeting();
    let plaintext = vec![0x5au8; FRAME_LEN];
    let mut g = c.benchmark_group("frame_1200B_encrypt_decrypt");
    g.throughput(Throughput::Bytes(FRAME_LEN as u64));

    let (ea, eb) = (a.frame_crypto(), b.frame_crypto());
    g.bench_function("ffi_object_rust_side", |bench| {
        bench.iter(|| {
            let f = ea
                .encrypt(1, black_box(plaintext.clone()), 0)
                .expect("encrypt");
            black_box(eb.decrypt(f, 5_000).expect("decrypt"))
        })
    });

    // The same keys through the engine directly (borrowed plaintext, no wrapper).
    let (ca, cb) = (ea.engine(), eb.engine());
    g.bench_function("core", |bench| {
        bench.iter(|| {
            let f = ca.encrypt(1, black_box(&plaintext), 0).expect("encrypt");
            black_box(
                cb.decrypt(&f, std::time::Duration::from_millis(5_000))
                    .expect("decrypt"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
