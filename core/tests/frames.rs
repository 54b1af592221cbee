//! Integration tests of media frame encryption (`spec/frames.md`), run against every AEAD
//! backend, and the test vectors of `spec/vectors/frames.json`.
//!
//! Regenerate the vectors with
//! `CONCLAVE_REGENERATE_VECTORS=1 cargo test -p conclave-core --test frames vectors` or
//! `cargo test -p conclave-core --test frames -- --ignored regenerate`.

use core::time::Duration;
use std::sync::Arc;

use conclave_core::Secret;
use conclave_core::frame::{
    AeadBackend, FrameConfig, FrameCrypto, FrameError, FrameHeader, MAX_CLEAR_PREFIX,
    MAX_FRAME_COUNTER, MAX_FRAME_PLAINTEXT, MAX_STREAMS_PER_SENDER, RustCryptoBackend, TAG_LEN,
    TooOldCause, max_frame_len,
};
use conclave_core::protocol::limits::MAX_TREE_LEAVES;
use conclave_core::schedule::SenderKeys;

const T0: Duration = Duration::ZERO;

fn secret(e: u64) -> Secret<32> {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&e.to_be_bytes());
    b[8] = 0xA5;
    Secret::from_bytes(b)
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn crypto<B: AeadBackend>(own: u32, config: FrameConfig) -> FrameCrypto<B> {
    let c = FrameCrypto::<B>::with_backend(config).unwrap();
    c.set_own_sender(own).unwrap();
    c
}

/// Alice (sender 0) and Bob (sender 1), both in epoch `epoch`.
fn pair_with<B: AeadBackend>(epoch: u64, config: FrameConfig) -> (FrameCrypto<B>, FrameCrypto<B>) {
    let a = crypto::<B>(0, config.clone());
    let b = crypto::<B>(1, config);
    a.install_epoch(epoch, &secret(epoch), T0).unwrap();
    b.install_epoch(epoch, &secret(epoch), T0).unwrap();
    (a, b)
}

fn pair<B: AeadBackend>() -> (FrameCrypto<B>, FrameCrypto<B>) {
    pair_with(1, FrameConfig::default())
}

fn window(n: u32) -> FrameConfig {
    FrameConfig {
        replay_window: n,
        ..FrameConfig::default()
    }
}

fn is_too_old(r: &Result<impl Sized, FrameError>) -> bool {
    matches!(r, Err(FrameError::TooOld { .. }))
}

// ---------------------------------------------------------------------------------------------
// Generic test bodies, instantiated per backend below.

fn round_trips<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let mut counter = 0;
    for len in [
        0usize,
        1,
        15,
        16,
        17,
        100,
        1200,
        16 * 1024,
        MAX_FRAME_PLAINTEXT,
    ] {
        for prefix in [0usize, 1, 10, MAX_CLEAR_PREFIX] {
            if prefix > len {
                continue;
            }
            let pt = payload(len, prefix as u8);
            let frame = a.encrypt(7, &pt, prefix).unwrap();
            let h = FrameHeader::parse(&frame).unwrap();
            assert_eq!(h.body_len, len);
            assert_eq!(h.prefix_len(), prefix);
            assert_eq!(&frame[..prefix], &pt[..prefix]);
            assert_eq!(frame.len(), len + h.header.fields_len(&h.clear) + TAG_LEN);
            assert!(frame.len() <= max_frame_len(len));
            let d = b.decrypt(&frame, T0).unwrap();
            assert_eq!((d.sender, d.stream, d.epoch, d.counter), (0, 7, 1, counter));
            assert_eq!(d.prefix_len, prefix);
            assert_eq!(d.plaintext, pt);
            counter += 1;
        }
    }
    // Both directions.
    let f = b.encrypt(0, b"hello", 0).unwrap();
    assert_eq!(a.decrypt(&f, T0).unwrap().plaintext, b"hello");
}

fn audio_overhead_is_23_bytes<B: AeadBackend>() {
    // Sender and stream below 128, counter below 2^21: at most 23 bytes.
    let config = FrameConfig {
        initial_send_counter: (1 << 21) - 1,
        ..FrameConfig::default()
    };
    let a = crypto::<B>(127, config);
    a.install_epoch(1, &secret(1), T0).unwrap();
    assert_eq!(a.encrypt(0, &[0u8; 100], 0).unwrap().len() - 100, 23);
    let (a, _) = pair::<B>();
    assert_eq!(a.encrypt(0, &[0u8; 100], 0).unwrap().len() - 100, 21);
    // With up to 16,384 participants: 24 bytes.
    let a = crypto::<B>(
        16_383,
        FrameConfig {
            initial_send_counter: (1 << 21) - 1,
            ..FrameConfig::default()
        },
    );
    a.install_epoch(1, &secret(1), T0).unwrap();
    assert_eq!(a.encrypt(0, &[0u8; 100], 0).unwrap().len() - 100, 24);
}

fn into_variants_do_not_need_allocation<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let pt = payload(1200, 3);
    let mut frame = [0u8; 1300];
    assert!(max_frame_len(1200) > 1200 + 21);
    let n = a.encrypt_into(1, &pt, 4, &mut frame).unwrap();
    let mut out = [0xEEu8; 1200];
    let info = b.decrypt_into(&frame[..n], &mut out, T0).unwrap();
    assert_eq!(info.len, 1200);
    assert_eq!(info.prefix_len, 4);
    assert_eq!(&out[..], &pt[..]);

    // Buffers too small: exact size needed reported, no counter consumed on encrypt.
    let mut small = [0u8; 100];
    let needed = match a.encrypt_into(1, &pt, 4, &mut small) {
        Err(FrameError::BufferTooSmall { needed }) => needed,
        other => panic!("{other:?}"),
    };
    let mut exact = vec![0u8; needed];
    assert_eq!(a.encrypt_into(1, &pt, 4, &mut exact).unwrap(), needed);
    assert_eq!(FrameHeader::parse(&exact).unwrap().header.counter, 1);
    let mut out = [0u8; 1199];
    assert_eq!(
        b.decrypt_into(&exact, &mut out, T0),
        Err(FrameError::BufferTooSmall { needed: 1200 })
    );
    // The failed attempt did not consume the counter in the replay window.
    let mut out = [0u8; 1200];
    assert!(b.decrypt_into(&exact, &mut out, T0).is_ok());
}

fn no_keys_and_no_sender<B: AeadBackend>() {
    let c = FrameCrypto::<B>::with_backend(FrameConfig::default()).unwrap();
    assert_eq!(c.encrypt(0, b"x", 0), Err(FrameError::NoOwnSender));
    c.set_own_sender(2).unwrap();
    assert_eq!(c.encrypt(0, b"x", 0), Err(FrameError::NoKeys));
    let (a, _) = pair::<B>();
    let f = a.encrypt(0, b"x", 0).unwrap();
    assert_eq!(c.decrypt(&f, T0), Err(FrameError::NoKeys));
    assert_eq!(
        c.set_own_sender(MAX_TREE_LEAVES),
        Err(FrameError::UnknownSender {
            sender: MAX_TREE_LEAVES,
            bound: MAX_TREE_LEAVES
        })
    );
    assert!(FrameCrypto::<B>::with_backend(window(63)).is_err());
    assert!(FrameCrypto::<B>::with_backend(window(65_537)).is_err());
    assert!(FrameCrypto::<B>::with_backend(window(64)).is_ok());
    assert!(FrameCrypto::<B>::with_backend(window(65_536)).is_ok());
}

fn size_limits<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let big = vec![0u8; MAX_FRAME_PLAINTEXT + 1];
    assert!(matches!(
        a.encrypt(0, &big, 0),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        a.encrypt(0, &[0u8; 300], 256),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        a.encrypt(0, &[0u8; 3], 4),
        Err(FrameError::TooLarge { .. })
    ));
    // A frame whose plaintext would exceed the limit is rejected before decryption.
    let f = a.encrypt(0, &vec![0u8; MAX_FRAME_PLAINTEXT], 0).unwrap();
    let mut longer = f.clone();
    longer.insert(0, 0); // one more body byte
    assert!(matches!(
        b.decrypt(&longer, T0),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(b.decrypt(&f, T0).is_ok());
}

fn own_and_unknown_senders<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let f = a.encrypt(3, b"x", 0).unwrap();
    assert_eq!(
        a.decrypt(&f, T0),
        Err(FrameError::OwnFrame {
            sender: 0,
            stream: 3
        })
    );
    b.set_sender_bound(0);
    assert_eq!(
        b.decrypt(&f, T0),
        Err(FrameError::UnknownSender {
            sender: 0,
            bound: 0
        })
    );
    b.set_sender_bound(1);
    assert!(b.decrypt(&f, T0).is_ok());
}

fn stream_limit<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let n = MAX_STREAMS_PER_SENDER as u32;
    // Forged frames of many streams do not use up the receiver's slots.
    for s in 100..100 + 2 * n {
        let f = a.encrypt(0, b"x", 0).unwrap();
        let p = FrameHeader::parse(&f).unwrap();
        let head = FrameHeader {
            stream: s,
            ..p.header
        }
        .relabel(&f)
        .unwrap();
        assert!(matches!(
            b.decrypt(&head, T0),
            Err(FrameError::Tampered { .. })
        ));
    }
    for s in 0..n {
        let f = a.encrypt(s, b"x", 0).unwrap();
        assert!(b.decrypt(&f, T0).is_ok());
    }
    assert_eq!(
        a.encrypt(n, b"x", 0),
        Err(FrameError::StreamLimit {
            sender: 0,
            stream: n
        })
    );
    let other = crypto::<B>(0, FrameConfig::default());
    other.install_epoch(1, &secret(1), T0).unwrap();
    let f = other.encrypt(n, b"x", 0).unwrap();
    assert_eq!(
        b.decrypt(&f, T0),
        Err(FrameError::StreamLimit {
            sender: 0,
            stream: n
        })
    );
    // The next epoch starts with empty tables.
    a.install_epoch(2, &secret(2), T0).unwrap();
    assert!(a.encrypt(n, b"x", 0).is_ok());
}

fn diagnostics_count_per_sender<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let c = crypto::<B>(2, FrameConfig::default());
    c.install_epoch(1, &secret(1), T0).unwrap();
    let f = a.encrypt(0, b"x", 0).unwrap();
    b.decrypt(&f, T0).unwrap();
    let _ = b.decrypt(&f, T0); // replayed
    let mut g = a.encrypt(0, b"x", 0).unwrap();
    *g.last_mut().unwrap() ^= 1;
    let _ = b.decrypt(&g, T0); // tampered
    let from_c = c.encrypt(0, b"y", 0).unwrap();
    b.decrypt(&from_c, T0).unwrap();
    let own = b.encrypt(0, b"z", 0).unwrap();
    let _ = b.decrypt(&own, T0); // own frame
    let _ = b.decrypt(&[0x55; 40], T0); // unattributed
    let mut bad = vec![0, 0x00, 0x80, 0, 1, 0x10]; // non-minimal counter of sender 0
    bad.extend_from_slice(&[0u8; TAG_LEN]);
    let _ = b.decrypt(&bad, T0); // malformed, sender 0
    let far = crypto::<B>(0, FrameConfig::default());
    far.install_epoch(3, &secret(3), T0).unwrap();
    let _ = b.decrypt(&far.encrypt(0, b"w", 0).unwrap(), T0); // unknown epoch
    let mut out = [0u8; 0];
    let _ = b.decrypt_into(&f, &mut out, T0); // buffer: not counted

    let stats = b.diagnostics();
    assert_eq!(stats.len(), 3, "{stats:?}");
    let s0 = stats[0];
    assert_eq!(s0.sender, 0);
    assert_eq!(s0.decrypted, 1);
    assert_eq!(s0.rejected.replayed, 1);
    assert_eq!(s0.rejected.tampered, 1);
    assert_eq!(s0.rejected.malformed, 1);
    assert_eq!(s0.rejected.unknown_epoch, 1);
    assert_eq!(s0.rejected.total(), 4);
    assert_eq!((stats[1].sender, stats[1].rejected.own_frame), (1, 1));
    assert_eq!((stats[2].sender, stats[2].decrypted), (2, 1));
    assert_eq!(b.unattributed_rejections().malformed, 1);
}

fn debug_output_has_no_secrets<B: AeadBackend>() {
    let c = crypto::<B>(0, FrameConfig::default());
    let s = Secret::from_bytes([0xAB; 32]);
    c.install_epoch(1, &s, T0).unwrap();
    let f = c.encrypt(0, b"secret plaintext", 0).unwrap();
    let printed = format!("{c:?}");
    assert!(!printed.to_lowercase().contains("ab, ab"), "{printed}");
    assert!(!printed.contains("171"), "{printed}");
    let keys = SenderKeys::derive(&s, 0, 0);
    let key_hex = hex::encode(keys.key.expose());
    assert!(!printed.contains(&key_hex));
    let d = crypto::<B>(1, FrameConfig::default());
    d.install_epoch(1, &s, T0).unwrap();
    let got = d.decrypt(&f, T0).unwrap();
    assert!(!format!("{got:?}").contains("secret"));
    for e in [
        FrameError::Tampered {
            sender: 1,
            stream: 2,
            epoch: 3,
        },
        FrameError::NoKeys,
    ] {
        assert!(!e.to_string().contains(&key_hex));
    }
}

macro_rules! backend_tests {
    ($module:ident, $backend:ty) => {
        mod $module {
            #[test]
            fn round_trips() {
                super::round_trips::<$backend>();
            }
            #[test]
            fn audio_overhead_is_23_bytes() {
                super::audio_overhead_is_23_bytes::<$backend>();
            }
            #[test]
            fn into_variants_do_not_need_allocation() {
                super::into_variants_do_not_need_allocation::<$backend>();
            }
            #[test]
            fn no_keys_and_no_sender() {
                super::no_keys_and_no_sender::<$backend>();
            }
            #[test]
            fn size_limits() {
                super::size_limits::<$backend>();
            }
            #[test]
            fn own_and_unknown_senders() {
                super::own_and_unknown_senders::<$backend>();
            }
            #[test]
            fn malformed_frames() {
                super::malformed_frames::<$backend>();
            }
            #[test]
            fn every_modified_byte_fails() {
                super::every_modified_byte_fails::<$backend>();
            }
            #[test]
            fn relabelled_frames_fail() {
                super::relabelled_frames_fail::<$backend>();
            }
            #[test]
            fn replay_window_edges() {
                super::replay_window_edges::<$backend>();
            }
            #[test]
            fn counter_exhaustion() {
                super::counter_exhaustion::<$backend>();
            }
            #[test]
            fn counters_reset_per_epoch() {
                super::counters_reset_per_epoch::<$backend>();
            }
            #[test]
            fn epoch_grace() {
                super::epoch_grace::<$backend>();
            }
            #[test]
            fn unknown_epoch_vs_too_old() {
                super::unknown_epoch_vs_too_old::<$backend>();
            }
            #[test]
            fn deferred_send_switch() {
                super::deferred_send_switch::<$backend>();
            }
            #[test]
            fn tag_collision_drops_previous() {
                super::tag_collision_drops_previous::<$backend>();
            }
            #[test]
            fn stream_limit() {
                super::stream_limit::<$backend>();
            }
            #[test]
            fn diagnostics_count_per_sender() {
                super::diagnostics_count_per_sender::<$backend>();
            }
            #[test]
            fn debug_output_has_no_secrets() {
                super::debug_output_has_no_secrets::<$backend>();
            }
            #[test]
            fn concurrent_use() {
                super::concurrent_use::<$backend>();
            }
            #[test]
            fn vectors_decrypt() {
                super::vectors_decrypt::<$backend>();
            }

            proptest::proptest! {
                #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
                #[test]
                fn reordered_frames_decrypt_once(
                    (n, order) in super::reorder_strategy()
                ) {
                    super::reordered_frames_decrypt_once::<$backend>(n, &order);
                }
            }
        }
    };
}

backend_tests!(rustcrypto, conclave_core::frame::RustCryptoBackend);
#[cfg(feature = "ring")]
backend_tests!(ring, conclave_core::frame::RingBackend);

#[test]
fn frame_crypto_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FrameCrypto<RustCryptoBackend>>();
    assert_send_sync::<FrameCrypto>();
}

#[cfg(feature = "ring")]
#[test]
fn backends_interoperate() {
    use conclave_core::frame::RingBackend;
    let a = crypto::<RingBackend>(0, FrameConfig::default());
    let b = crypto::<RustCryptoBackend>(1, FrameConfig::default());
    a.install_epoch(1, &secret(1), T0).unwrap();
    b.install_epoch(1, &secret(1), T0).unwrap();
    for len in [0usize, 1, 100, 1200, 16 * 1024] {
        let pt = payload(len, 1);
        let f = a.encrypt(0, &pt, len.min(3)).unwrap();
        assert_eq!(b.decrypt(&f, T0).unwrap().plaintext, pt);
        let g = b.encrypt(0, &pt, 0).unwrap();
        assert_eq!(a.decrypt(&g, T0).unwrap().plaintext, pt);
    }
}

// ---------------------------------------------------------------------------------------------
// Reordering property.

fn reorder_strategy() -> impl proptest::strategy::Strategy<Value = (usize, Vec<usize>)> {
    use proptest::prelude::*;
    (1usize..150).prop_flat_map(|n| {
        (
            Just(n),
            proptest::collection::vec(0..n, 0..40).prop_flat_map(move |dups| {
                let mut all: Vec<usize> = (0..n).collect();
                all.extend(dups);
                Just(all).prop_shuffle()
            }),
        )
    })
}

/// Delivers frames `0..n` in `order` (a permutation with duplicates): the first copy of each
/// decrypts, later copies are `Replayed`.
fn reordered_frames_decrypt_once<B: AeadBackend>(n: usize, order: &[usize]) {
    let (a, b) = pair_with::<B>(1, window(n.max(64) as u32));
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| a.encrypt(2, &payload(i % 50, i as u8), 0).unwrap())
        .collect();
    let mut seen = vec![false; n];
    for &i in order {
        let r = b.decrypt(&frames[i], T0);
        if seen[i] {
            assert!(
                matches!(r, Err(FrameError::Replayed { counter, .. }) if counter == i as u64),
                "{r:?}"
            );
        } else {
            let d = r.unwrap();
            assert_eq!(d.counter, i as u64);
            assert_eq!(d.plaintext, payload(i % 50, i as u8));
            seen[i] = true;
        }
    }
    assert!(seen.iter().all(|s| *s));
    let s = b.diagnostics();
    assert_eq!(s[0].decrypted, n as u64);
    assert_eq!(s[0].rejected.replayed, (order.len() - n) as u64);
}

#[path = "frames/concurrent.rs"]
mod concurrent;
#[path = "frames/epochs.rs"]
mod epochs;
#[path = "frames/forged.rs"]
mod forged;
#[path = "frames/media.rs"]
mod media;
#[path = "frames/vectors.rs"]
mod vectors;
use concurrent::concurrent_use;
use epochs::{
    counter_exhaustion, counters_reset_per_epoch, deferred_send_switch, epoch_grace,
    replay_window_edges, tag_collision_drops_previous, unknown_epoch_vs_too_old,
};
use forged::{every_modified_byte_fails, malformed_frames, relabelled_frames_fail};
use vectors::vectors_decrypt;
