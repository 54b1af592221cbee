//! Cost of the strict pre-pass against prost's decode, on a large commit bundle. Timing only,
//! so ignored by default; run with
//! `cargo test -p conclave-protocol --release --test check_cost -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use conclave_protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_protocol::v1 as pb;
use conclave_protocol::{MessageKind, check_strict, decode_bounded, encode};
use prost::Message;

fn bundle(updates: u32) -> Vec<u8> {
    let b = pb::CommitBundle {
        commit: Some(pb::SignedMessage {
            content: vec![1; 200],
            signature: vec![2; 64],
        }),
        updates: (0..updates)
            .map(|i| pb::IndexedUpdate {
                index: i,
                update: Some(pb::NodeUpdate {
                    node: i,
                    child: i + 1,
                    ciphertext: vec![3; 48],
                }),
            })
            .collect(),
        proof: vec![vec![4; 32]; 16],
    };
    encode(&pb::Envelope {
        body: Some(pb::envelope::Body::Commit(b)),
    })
}

fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed() / iters
}

#[test]
#[ignore = "timing"]
fn check_costs_well_under_decode() {
    for n in [1_000u32, 10_000] {
        let bytes = bundle(n);
        let iters = 2_000_000 / n;
        let check = time(iters, || {
            check_strict::<pb::Envelope>(MessageKind::Envelope, &bytes).unwrap();
        });
        let prost = time(iters, || {
            std::hint::black_box(pb::Envelope::decode(bytes.as_slice()).unwrap());
        });
        let both = time(iters, || {
            std::hint::black_box(
                decode_bounded::<pb::Envelope>(MessageKind::Envelope, &bytes, MAX_ENVELOPE_SIZE)
                    .unwrap(),
            );
        });
        println!(
            "{n} updates ({} bytes): check {check:?}, prost decode {prost:?}, decode_bounded \
             {both:?} (check = {:.0}% of prost decode)",
            bytes.len(),
            100.0 * check.as_secs_f64() / prost.as_secs_f64()
        );
    }
}
