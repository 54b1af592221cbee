//! `FrameCrypto` shared between threads: senders and receivers running at once on one object.

use super::*;

pub(super) fn concurrent_use<B: AeadBackend>() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::mpsc;

    let alice = Arc::new(crypto::<B>(0, FrameConfig::default()));
    let bob = Arc::new(crypto::<B>(1, FrameConfig::default()));
    alice.install_epoch(1, &secret(1), T0).unwrap();
    bob.install_epoch(1, &secret(1), T0).unwrap();
    let clock_ms = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let installer = {
        let (alice, bob, clock_ms, done) =
            (alice.clone(), bob.clone(), clock_ms.clone(), done.clone());
        std::thread::spawn(move || {
            for e in 2..=40u64 {
                let now = Duration::from_millis(e * 100);
                clock_ms.store(e * 100, Ordering::SeqCst);
                if e % 2 == 0 {
                    alice.install_epoch(e, &secret(e), now).unwrap();
                    bob.install_epoch(e, &secret(e), now).unwrap();
                } else {
                    bob.install_epoch(e, &secret(e), now).unwrap();
                    alice.install_epoch(e, &secret(e), now).unwrap();
                }
                std::thread::yield_now();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let mut encoders = Vec::new();
    for stream in 0..3u32 {
        let (alice, tx) = (alice.clone(), tx.clone());
        encoders.push(std::thread::spawn(move || {
            for i in 0..400u32 {
                let pt = payload(50 + (i as usize % 200), stream as u8);
                tx.send(alice.encrypt(stream, &pt, (i % 3) as usize).unwrap())
                    .unwrap();
            }
        }));
    }
    drop(tx);
    let mut decoders = Vec::new();
    for _ in 0..2 {
        let (bob, rx, clock_ms) = (bob.clone(), rx.clone(), clock_ms.clone());
        decoders.push(std::thread::spawn(move || {
            let mut ok = 0u64;
            loop {
                let frame = match rx.lock().unwrap().recv() {
                    Ok(f) => f,
                    Err(_) => break,
                };
                let now = Duration::from_millis(clock_ms.load(Ordering::SeqCst));
                match bob.decrypt(&frame, now) {
                    Ok(d) => {
                        assert_eq!(d.plaintext, payload(d.plaintext.len(), d.stream as u8));
                        ok += 1;
                    }
                    Err(FrameError::UnknownEpoch { .. }) => {}
                    Err(FrameError::TooOld {
                        cause: TooOldCause::EpochDropped { .. },
                        ..
                    }) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
                // Bob also sends while keys change.
                let _ = bob.encrypt(9, b"bob", 0).unwrap();
            }
            ok
        }));
    }
    for e in encoders {
        e.join().unwrap();
    }
    let ok: u64 = decoders.into_iter().map(|d| d.join().unwrap()).sum();
    installer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    let stats = bob.diagnostics();
    let s0 = stats.iter().find(|s| s.sender == 0).unwrap();
    assert_eq!(s0.decrypted, ok);
    assert_eq!(s0.decrypted + s0.rejected.total(), 1200);
    // After the churn, both sides agree again.
    let f = alice.encrypt(0, b"final", 0).unwrap();
    assert_eq!(bob.decrypt(&f, Duration::from_secs(5)).unwrap().epoch, 40);
}
