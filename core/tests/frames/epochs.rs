//! Counters, replay windows and epochs (`spec/frames.md` sections 3 and 4): the replay window's
//! edges, counter exhaustion, counters per epoch, the grace period of the previous epoch,
//! unknown versus dropped epochs, the deferred send switch and epoch-tag collisions.

use super::*;

pub(super) fn replay_window_edges<B: AeadBackend>() {
    let (a, b) = pair_with::<B>(1, window(64));
    let frames: Vec<Vec<u8>> = (0..300)
        .map(|i| a.encrypt(0, &payload(10, i as u8), 0).unwrap())
        .collect();
    let ctr = |r: Result<conclave_core::frame::Decrypted, FrameError>| r.unwrap().counter;
    assert_eq!(ctr(b.decrypt(&frames[100], T0)), 100);
    assert_eq!(
        b.decrypt(&frames[100], T0),
        Err(FrameError::Replayed {
            sender: 0,
            stream: 0,
            epoch: 1,
            counter: 100
        })
    );
    // Oldest counter inside the window (100 - 63), then one below it.
    assert_eq!(ctr(b.decrypt(&frames[37], T0)), 37);
    assert!(matches!(
        b.decrypt(&frames[37], T0),
        Err(FrameError::Replayed { .. })
    ));
    assert_eq!(
        b.decrypt(&frames[36], T0),
        Err(FrameError::TooOld {
            sender: 0,
            stream: 0,
            counter: 36,
            cause: TooOldCause::BelowWindow {
                epoch: 1,
                highest: 100
            }
        })
    );
    // Reordering inside the window, each accepted once.
    for i in (60..100).rev() {
        assert_eq!(ctr(b.decrypt(&frames[i], T0)), i as u64);
    }
    for f in &frames[60..100] {
        assert!(matches!(b.decrypt(f, T0), Err(FrameError::Replayed { .. })));
    }
    // Window slides by one: 37 falls out.
    assert_eq!(ctr(b.decrypt(&frames[101], T0)), 101);
    assert!(is_too_old(&b.decrypt(&frames[37], T0)));
    assert_eq!(ctr(b.decrypt(&frames[38], T0)), 38);
    // Far jump: everything before 299 - 63 is too old, the rest fresh.
    assert_eq!(ctr(b.decrypt(&frames[299], T0)), 299);
    assert!(is_too_old(&b.decrypt(&frames[235], T0)));
    assert!(is_too_old(&b.decrypt(&frames[102], T0)));
    assert_eq!(ctr(b.decrypt(&frames[236], T0)), 236);
    assert_eq!(ctr(b.decrypt(&frames[298], T0)), 298);
    // Streams have separate windows.
    let s1 = a.encrypt(1, b"x", 0).unwrap();
    assert_eq!(b.decrypt(&s1, T0).unwrap().counter, 0);
}

pub(super) fn counter_exhaustion<B: AeadBackend>() {
    let config = FrameConfig {
        initial_send_counter: MAX_FRAME_COUNTER - 1,
        ..FrameConfig::default()
    };
    let (a, b) = pair_with::<B>(1, config);
    let f1 = a.encrypt(0, b"a", 0).unwrap();
    let f2 = a.encrypt(0, b"b", 0).unwrap();
    assert_eq!(
        a.encrypt(0, b"c", 0),
        Err(FrameError::CounterExhausted {
            stream: 0,
            epoch: 1
        })
    );
    assert_eq!(
        a.encrypt(0, b"c", 0),
        Err(FrameError::CounterExhausted {
            stream: 0,
            epoch: 1
        })
    );
    let mut out = [0u8; 64];
    assert!(matches!(
        a.encrypt_into(0, b"c", 0, &mut out),
        Err(FrameError::CounterExhausted { .. })
    ));
    assert_eq!(b.decrypt(&f1, T0).unwrap().counter, MAX_FRAME_COUNTER - 1);
    assert_eq!(b.decrypt(&f2, T0).unwrap().counter, MAX_FRAME_COUNTER);
    // Another stream has its own counter; the next epoch resets the counters.
    assert!(a.encrypt(1, b"d", 0).is_ok());
    a.install_epoch(2, &secret(2), T0).unwrap();
    b.install_epoch(2, &secret(2), T0).unwrap();
    let f3 = a.encrypt(0, b"e", 0).unwrap();
    let d = b.decrypt(&f3, T0).unwrap();
    assert_eq!((d.epoch, d.counter), (2, MAX_FRAME_COUNTER - 1));
    assert!(
        FrameCrypto::<B>::with_backend(FrameConfig {
            initial_send_counter: MAX_FRAME_COUNTER + 1,
            ..FrameConfig::default()
        })
        .is_err()
    );
}

pub(super) fn counters_reset_per_epoch<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    for i in 0..5 {
        let f = a.encrypt(0, b"x", 0).unwrap();
        assert_eq!(b.decrypt(&f, T0).unwrap().counter, i);
    }
    a.install_epoch(2, &secret(2), T0).unwrap();
    b.install_epoch(2, &secret(2), T0).unwrap();
    let f = a.encrypt(0, b"x", 0).unwrap();
    assert_eq!(b.decrypt(&f, T0).unwrap().counter, 0);
    // Re-installing the current epoch with the same secret keeps the counters.
    a.install_epoch(2, &secret(2), T0).unwrap();
    let f = a.encrypt(0, b"x", 0).unwrap();
    assert_eq!(b.decrypt(&f, T0).unwrap().counter, 1);
    assert_eq!(
        a.install_epoch(2, &secret(3), T0),
        Err(FrameError::EpochNotNewer {
            epoch: 2,
            current: 2
        })
    );
    assert_eq!(
        a.install_epoch(1, &secret(1), T0),
        Err(FrameError::EpochNotNewer {
            epoch: 1,
            current: 2
        })
    );
}

pub(super) fn epoch_grace<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let old1 = a.encrypt(0, b"old1", 0).unwrap();
    let old2 = a.encrypt(0, b"old2", 0).unwrap();
    let old3 = a.encrypt(0, b"old3", 0).unwrap();
    let t = Duration::from_secs(100);
    b.install_epoch(2, &secret(2), t).unwrap();
    assert_eq!(b.retained_epochs(t), vec![2, 1]);
    // Within the grace period the previous epoch decrypts.
    let d = b.decrypt(&old1, t + Duration::from_millis(9_999)).unwrap();
    assert_eq!((d.epoch, d.plaintext.as_slice()), (1, &b"old1"[..]));
    // At the end of the grace period it is dropped.
    let end = t + conclave_core::frame::DEFAULT_EPOCH_GRACE;
    assert_eq!(
        b.decrypt(&old2, end),
        Err(FrameError::TooOld {
            sender: 0,
            stream: 0,
            counter: 1,
            cause: TooOldCause::EpochDropped { epoch_tag: 1 }
        })
    );
    assert_eq!(b.retained_epochs(end), vec![2]);
    assert!(is_too_old(&b.decrypt(&old3, t)));
    // Current epoch frames are unaffected.
    a.install_epoch(2, &secret(2), t).unwrap();
    assert!(b.decrypt(&a.encrypt(0, b"new", 0).unwrap(), end).is_ok());

    // At most two epochs: installing a third drops the first at once.
    let (a, b) = pair::<B>();
    let e1 = a.encrypt(0, b"e1", 0).unwrap();
    a.install_epoch(2, &secret(2), T0).unwrap();
    let e2 = a.encrypt(0, b"e2", 0).unwrap();
    b.install_epoch(2, &secret(2), T0).unwrap();
    b.install_epoch(3, &secret(3), T0).unwrap();
    assert_eq!(b.retained_epochs(T0), vec![3, 2]);
    assert!(is_too_old(&b.decrypt(&e1, T0)));
    assert_eq!(b.decrypt(&e2, T0).unwrap().epoch, 2);
    // Explicit expiry.
    b.expire(conclave_core::frame::DEFAULT_EPOCH_GRACE);
    assert_eq!(b.retained_epochs(T0), vec![3]);
}

pub(super) fn unknown_epoch_vs_too_old<B: AeadBackend>() {
    let receiver = crypto::<B>(1, FrameConfig::default());
    receiver.install_epoch(10, &secret(10), T0).unwrap();
    let frame_in = |epoch: u64| {
        let s = crypto::<B>(0, FrameConfig::default());
        s.install_epoch(epoch, &secret(epoch), T0).unwrap();
        s.encrypt(0, b"x", 0).unwrap()
    };
    for ahead in [1u64, 2, 100, 127] {
        let tag = ((10 + ahead) % 256) as u8;
        assert_eq!(
            receiver.decrypt(&frame_in(10 + ahead), T0),
            Err(FrameError::UnknownEpoch { tag, current: 10 }),
            "ahead {ahead}"
        );
    }
    for epoch in [138u64, 200, 255, 256 + 9, 9, 0] {
        assert!(
            matches!(
                receiver.decrypt(&frame_in(epoch), T0),
                Err(FrameError::TooOld {
                    cause: TooOldCause::EpochDropped { .. },
                    ..
                })
            ),
            "epoch {epoch}"
        );
    }
    // Wrapping: current 250, frame from 260 (tag 4) is 10 ahead.
    let receiver = crypto::<B>(1, FrameConfig::default());
    receiver.install_epoch(250, &secret(250), T0).unwrap();
    assert_eq!(
        receiver.decrypt(&frame_in(260), T0),
        Err(FrameError::UnknownEpoch {
            tag: 4,
            current: 250
        })
    );
    assert!(is_too_old(&receiver.decrypt(&frame_in(249), T0)));
    // Same tag, other epoch (current 250, frame from epoch 506): a different key.
    assert!(matches!(
        receiver.decrypt(&frame_in(506), T0),
        Err(FrameError::Tampered { epoch: 250, .. })
    ));
}

pub(super) fn deferred_send_switch<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let t = Duration::from_secs(1);
    a.install_epoch_deferred(2, &secret(2), t).unwrap();
    b.install_epoch_deferred(2, &secret(2), t).unwrap();
    assert_eq!((a.current_epoch(), a.send_epoch()), (Some(2), Some(1)));
    // Still sending in epoch 1; receiving epoch 2 already works.
    assert_eq!(
        b.decrypt(&a.encrypt(0, b"x", 0).unwrap(), t).unwrap().epoch,
        1
    );
    assert!(!b.activate_send_epoch(7));
    assert!(b.activate_send_epoch(2));
    assert_eq!(
        a.decrypt(&b.encrypt(0, b"y", 0).unwrap(), t).unwrap().epoch,
        2
    );
    // The send epoch outlives its grace period for encryption.
    let late = t + Duration::from_secs(60);
    a.expire(late);
    assert_eq!(a.retained_epochs(late), vec![2]);
    assert_eq!(a.send_epoch(), Some(1));
    assert!(a.encrypt(0, b"z", 0).is_ok());
    assert!(!a.activate_send_epoch(1));
    // A further install moves sending to the oldest retained epoch.
    a.install_epoch_deferred(3, &secret(3), late).unwrap();
    assert_eq!(a.send_epoch(), Some(2));
    // Switching back to an older retained epoch is allowed; a plain install sends at once.
    assert!(a.activate_send_epoch(3));
    assert!(a.activate_send_epoch(2));
    a.install_epoch(4, &secret(4), late).unwrap();
    assert_eq!(a.send_epoch(), Some(4));
    // Counters of a send epoch continue across the switch.
    let c = crypto::<B>(5, FrameConfig::default());
    c.install_epoch(1, &secret(1), T0).unwrap();
    let f0 = c.encrypt(0, b"0", 0).unwrap();
    c.install_epoch_deferred(2, &secret(2), T0).unwrap();
    let f1 = c.encrypt(0, b"1", 0).unwrap();
    assert_eq!(FrameHeader::parse(&f0).unwrap().header.counter, 0);
    assert_eq!(FrameHeader::parse(&f1).unwrap().header.counter, 1);
    assert_eq!(FrameHeader::parse(&f1).unwrap().header.epoch_tag, 1);
}

pub(super) fn tag_collision_drops_previous<B: AeadBackend>() {
    let (a, b) = pair_with::<B>(5, FrameConfig::default());
    let old = a.encrypt(0, b"x", 0).unwrap();
    b.install_epoch(261, &secret(261), T0).unwrap();
    assert_eq!(b.retained_epochs(T0), vec![261]);
    assert!(matches!(
        b.decrypt(&old, T0),
        Err(FrameError::Tampered { .. })
    ));
}
