//! Frames that must not decrypt (`spec/frames.md` section 4): malformed headers and lengths, any
//! modified byte, and frames relabelled to another sender, stream or epoch.

use super::*;

pub(super) fn malformed_frames<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let f = a.encrypt(0, b"payload", 2).unwrap();
    let flags = f.len() - TAG_LEN - 1;
    let with_flags = |v: u8| {
        let mut g = f.clone();
        g[flags] = v;
        g
    };
    for bad in [
        vec![],
        vec![0x10],
        f[1..].to_vec(),
        f[..f.len() - 1].to_vec(),
        with_flags(0x13),
        with_flags(0x20),
        // Remove the prefix flag: the prefix length is parsed as ciphertext: still a
        // well-formed frame, but it fails authentication.
        with_flags(0x10),
        // Ranges instead of a prefix: the prefix length 2 is read as a count of 2 ranges.
        with_flags(0x12),
    ] {
        let r = b.decrypt(&bad, T0);
        assert!(r.is_err(), "{bad:?}");
        assert!(!matches!(r, Err(FrameError::Replayed { .. })));
    }
    // Never panics on arbitrary bytes.
    let mut x: u32 = 1;
    for len in 0..200usize {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = b.decrypt(&junk, T0);
        if len < f.len() {
            assert!(b.decrypt(&f[..len], T0).is_err());
        }
    }
}

pub(super) fn every_modified_byte_fails<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let pt = payload(40, 9);
    let f = a.encrypt(5, &pt, 6).unwrap();
    for i in 0..f.len() {
        for bit in [0x01u8, 0x80] {
            let mut g = f.clone();
            g[i] ^= bit;
            let r = b.decrypt(&g, T0);
            assert!(r.is_err(), "byte {i} bit {bit:#x} accepted");
            if i < 40 || i >= f.len() - TAG_LEN {
                // Prefix, ciphertext and tag bytes: authenticated.
                assert!(
                    matches!(r, Err(FrameError::Tampered { .. })),
                    "byte {i}: {r:?}"
                );
            }
        }
    }
    // Forged frames did not move the replay window.
    assert_eq!(b.decrypt(&f, T0).unwrap().plaintext, pt);
}

pub(super) fn relabelled_frames_fail<B: AeadBackend>() {
    let (a, b) = pair::<B>();
    let c = crypto::<B>(2, FrameConfig::default());
    c.install_epoch(1, &secret(1), T0).unwrap();
    let f = a.encrypt(5, &payload(64, 1), 0).unwrap();
    let p = FrameHeader::parse(&f).unwrap();
    let relabel = |h: FrameHeader| h.relabel(&f).unwrap();
    let other_sender = relabel(FrameHeader {
        sender: 3,
        ..p.header
    });
    let other_stream = relabel(FrameHeader {
        stream: 6,
        ..p.header
    });
    let other_counter = relabel(FrameHeader {
        counter: 1,
        ..p.header
    });
    for g in [other_sender, other_stream, other_counter] {
        assert!(matches!(
            c.decrypt(&g, T0),
            Err(FrameError::Tampered { .. })
        ));
    }
    // The forged (sender 3, stream 6) streams were not cached: the genuine frame still passes.
    assert!(b.decrypt(&f, T0).is_ok());
    assert!(c.decrypt(&f, T0).is_ok());
}
