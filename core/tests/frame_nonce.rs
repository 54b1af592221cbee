//! FR-SEND (`spec/frames.md`): a `FrameCrypto` never seals two frames under the same (key,
//! nonce), whatever sequence of installs, clears, re-installs and send-epoch switches it sees.
//!
//! The property test drives random operation sequences over two "branches" of the same epoch
//! numbers (two different secrets per number, as a fork or a resync into another branch would
//! give) and identifies the key of every sealed frame by trial decryption, so it does not depend
//! on the frame layout.

use std::collections::BTreeSet;
use std::time::Duration;

use conclave_core::Secret;
use conclave_core::frame::{FrameConfig, FrameCrypto, FrameError};
use proptest::prelude::*;

const SENDER: u32 = 3;

fn secret(epoch: u64, branch: u8) -> Secret<32> {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&epoch.to_be_bytes());
    b[8] = branch;
    b[31] = 0x5a;
    Secret::from_bytes(b)
}

fn sender() -> FrameCrypto {
    let f = FrameCrypto::new(FrameConfig::default()).unwrap();
    f.set_own_sender(SENDER).unwrap();
    f
}

/// The (epoch, branch, stream, counter) a frame was sealed under, found by decrypting it with a
/// fresh receiver for each candidate key.
fn identify(frame: &[u8], candidates: &BTreeSet<(u64, u8)>) -> (u64, u8, u32, u64) {
    for &(epoch, branch) in candidates {
        let r = FrameCrypto::new(FrameConfig::default()).unwrap();
        r.set_own_sender(SENDER + 1).unwrap();
        r.install_epoch(epoch, &secret(epoch, branch), Duration::ZERO)
            .unwrap();
        if let Ok(d) = r.decrypt(frame, Duration::ZERO) {
            return (epoch, branch, d.stream, d.counter);
        }
    }
    panic!("a sealed frame decrypts under no installed key");
}

#[test]
fn reinstalled_epoch_is_refused_for_sending() {
    let f = sender();
    f.install_epoch(1, &secret(1, 0), Duration::ZERO).unwrap();
    f.encrypt(0, b"hello", 0).unwrap();
    assert!(f.can_encrypt());
    // The fork/resync path that broke confidentiality: drop every key, install the same epoch.
    f.clear();
    f.install_epoch(1, &secret(1, 0), Duration::ZERO).unwrap();
    assert!(!f.can_encrypt());
    assert!(matches!(
        f.encrypt(0, b"hello", 0),
        Err(FrameError::EpochRetired { epoch: 1, floor: 1 })
    ));
    // The same number from another branch is refused too; a later epoch is fine.
    f.clear();
    f.install_epoch(1, &secret(1, 1), Duration::ZERO).unwrap();
    assert!(matches!(
        f.encrypt(0, b"x", 0),
        Err(FrameError::EpochRetired { .. })
    ));
    f.install_epoch(2, &secret(2, 0), Duration::ZERO).unwrap();
    assert!(f.can_encrypt());
    f.encrypt(0, b"x", 0).unwrap();
    assert_eq!(f.send_floor(), Some(2));
    // Decryption of a refused epoch is unaffected.
    let other = FrameCrypto::new(FrameConfig::default()).unwrap();
    other.set_own_sender(9).unwrap();
    other
        .install_epoch(1, &secret(1, 0), Duration::ZERO)
        .unwrap();
    let frame = other.encrypt(0, b"media", 0).unwrap();
    let r = sender();
    r.install_epoch(1, &secret(1, 0), Duration::ZERO).unwrap();
    r.encrypt(0, b"a", 0).unwrap();
    r.clear();
    r.install_epoch(1, &secret(1, 0), Duration::ZERO).unwrap();
    assert_eq!(
        r.decrypt(&frame, Duration::ZERO).unwrap().plaintext,
        b"media"
    );
}

#[test]
fn an_epoch_object_keeps_sealing_after_a_newer_one() {
    // Deferred install: keep sending under 1, then switch to 2, then back to 1 (still retained):
    // the same epoch object continues its counters, so that is allowed.
    let f = sender();
    f.install_epoch(1, &secret(1, 0), Duration::ZERO).unwrap();
    let a = f.encrypt(0, b"a", 0).unwrap();
    f.install_epoch_deferred(2, &secret(2, 0), Duration::ZERO)
        .unwrap();
    assert!(f.activate_send_epoch(2));
    f.encrypt(0, b"b", 0).unwrap();
    assert!(f.activate_send_epoch(1));
    let c = f.encrypt(0, b"c", 0).unwrap();
    let keys: BTreeSet<_> = [(1, 0), (2, 0)].into_iter().collect();
    assert_eq!(identify(&a, &keys), (1, 0, 0, 0));
    assert_eq!(identify(&c, &keys), (1, 0, 0, 1));
}

#[derive(Debug, Clone)]
enum Op {
    Install {
        epoch: u64,
        branch: u8,
        deferred: bool,
    },
    Clear,
    Activate {
        epoch: u64,
    },
    Encrypt {
        stream: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..6, 0u8..2, any::<bool>()).prop_map(|(epoch, branch, deferred)| Op::Install {
            epoch,
            branch,
            deferred
        }),
        Just(Op::Clear),
        (1u64..6).prop_map(|epoch| Op::Activate { epoch }),
        (0u32..2).prop_map(|stream| Op::Encrypt { stream }),
        (0u32..2).prop_map(|stream| Op::Encrypt { stream }),
        (0u32..2).prop_map(|stream| Op::Encrypt { stream }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No (key, nonce) is ever sealed twice by one FrameCrypto.
    #[test]
    fn no_key_nonce_is_sealed_twice(ops in proptest::collection::vec(op(), 1..60)) {
        let f = sender();
        let mut installed = BTreeSet::new();
        let mut sealed = BTreeSet::new();
        for (i, op) in ops.iter().enumerate() {
            let now = Duration::from_millis(i as u64);
            match *op {
                Op::Install { epoch, branch, deferred } => {
                    let s = secret(epoch, branch);
                    let r = if deferred {
                        f.install_epoch_deferred(epoch, &s, now)
                    } else {
                        f.install_epoch(epoch, &s, now)
                    };
                    if r.is_ok() {
                        installed.insert((epoch, branch));
                    }
                }
                Op::Clear => f.clear(),
                Op::Activate { epoch } => {
                    f.activate_send_epoch(epoch);
                }
                Op::Encrypt { stream } => {
                    let can = f.can_encrypt();
                    match f.encrypt(stream, b"frame", 0) {
                        Ok(frame) => {
                            prop_assert!(can, "can_encrypt said no but a frame was sealed");
                            let id = identify(&frame, &installed);
                            prop_assert!(sealed.insert(id), "(key, nonce) sealed twice: {id:?}");
                        }
                        Err(FrameError::EpochRetired { .. } | FrameError::NoKeys) => {
                            prop_assert!(!can, "can_encrypt said yes but sealing failed");
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
            }
        }
    }
}
