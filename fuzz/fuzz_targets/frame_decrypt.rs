//! Media frames from a hostile relay. A receiver with installed epochs decrypts:
//! - the raw input as a frame (must not panic; if it decrypts, the result must be consistent
//!   with the header and the frame length), and
//! - a valid frame built from the input, then mutated (byte flips, truncation, extension, trailer
//!   varints re-encoded); a mutated frame must never decrypt, and must not stop the genuine
//!   frame from decrypting afterwards (no replay-window or state damage from forgeries).
//!
//! Input: byte 0 selects the mode (even: raw frame in the rest; odd: structured, the rest is
//! an `arbitrary`-decoded [`Case`]).
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use conclave_core::Secret;
use conclave_core::frame::{
    FrameConfig, FrameCrypto, FrameError, FrameHeader, MAX_CLEAR_PREFIX, TAG_LEN, write_bvarint,
};
use libfuzzer_sys::fuzz_target;

/// The `frame_secret` of `spec/vectors/frames.json` (bytes 0..32), so its frames are seeds.
fn vector_secret() -> Secret<32> {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8;
    }
    Secret::from_bytes(b)
}

fn other_secret() -> Secret<32> {
    Secret::from_bytes([0xA5; 32])
}

/// A receiver (leaf 2) holding epoch 0 (the vectors' secret, in grace) and epoch 1 (the
/// vectors' secret, current): every frame of `frames.json` for epochs 0, 1 and 256 parses.
fn receiver() -> FrameCrypto {
    let r = FrameCrypto::new(FrameConfig::default()).expect("config");
    r.set_own_sender(2).expect("sender");
    r.install_epoch(0, &vector_secret(), Duration::ZERO)
        .expect("epoch 0");
    r.install_epoch(1, &vector_secret(), Duration::from_secs(1))
        .expect("epoch 1");
    r
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Flip {
        index: u16,
        bit: u8,
    },
    Set {
        index: u16,
        value: u8,
    },
    Truncate {
        len: u16,
    },
    Extend {
        bytes: Vec<u8>,
    },
    /// Re-encode the trailer with changed fields (same body, clear layout and tag).
    Header {
        epoch_tag: u8,
        sender: u16,
        stream: u32,
        counter: u64,
    },
    /// Make one trailer varint (0 sender, 1 counter, 2 stream) non-minimal.
    Pad {
        which: u8,
    },
    Swap {
        a: u16,
        b: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Case {
    sender: u8,
    stream: u32,
    plaintext: Vec<u8>,
    prefix_len: u8,
    /// Frames sent before the one under test (counter above 0, multi-byte varints).
    skip: u8,
    /// Encrypt with the receiver's key (true) or an unrelated key (false).
    same_key: bool,
    mutations: Vec<Mutation>,
}

fn check_ok(frame: &[u8], d: &conclave_core::frame::Decrypted) {
    let h = FrameHeader::parse(frame).expect("a decrypted frame parses");
    assert_eq!(h.header.sender, d.sender);
    assert_eq!(h.header.stream, d.stream);
    assert_eq!(h.header.counter, d.counter);
    assert_eq!(h.prefix_len(), d.prefix_len);
    assert_eq!(d.epoch as u8, h.header.epoch_tag);
    assert_eq!(d.plaintext.len(), h.body_len);
    for (s, e) in h.clear.iter() {
        assert_eq!(&d.plaintext[s..e], &frame[s..e]);
    }
}

/// Re-encodes varint `which` of the trailer non-minimally (one extra 0x80-continued byte).
fn pad(frame: &[u8], which: u8) -> Option<Vec<u8>> {
    let p = FrameHeader::parse(frame).ok()?;
    let h = p.header;
    // The fields after the clear layout, in memory order: stream, counter, sender.
    let vals = [u64::from(h.stream), h.counter, u64::from(h.sender)];
    let fields_end = frame.len() - TAG_LEN - 2;
    let mut fields_start = fields_end;
    let mut lens = [0usize; 3];
    for (i, v) in vals.iter().enumerate() {
        let mut b = [0u8; 11];
        let mut end = 11;
        write_bvarint(&mut b, &mut end, *v)?;
        lens[i] = 11 - end;
        fields_start -= lens[i];
    }
    let mut out = frame[..fields_start].to_vec();
    for (i, v) in vals.iter().enumerate() {
        let mut b = [0u8; 11];
        let mut end = 11;
        write_bvarint(&mut b, &mut end, *v)?;
        if i == usize::from(which % 3) {
            // The most significant group gains a zero group in front: non-minimal.
            b[end] |= 0x80;
            end -= 1;
            b[end] = 0;
        }
        out.extend_from_slice(&b[end..]);
    }
    out.extend_from_slice(&frame[fields_end..]);
    Some(out)
}

fn mutate(frame: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip { index, bit } => {
            if !frame.is_empty() {
                let i = usize::from(*index) % frame.len();
                frame[i] ^= 1 << (bit % 8);
            }
        }
        Mutation::Set { index, value } => {
            if !frame.is_empty() {
                let i = usize::from(*index) % frame.len();
                frame[i] = *value;
            }
        }
        Mutation::Truncate { len } => {
            let n = usize::from(*len) % (frame.len() + 1);
            frame.truncate(n);
        }
        Mutation::Extend { bytes } => frame.extend_from_slice(&bytes[..bytes.len().min(64)]),
        Mutation::Header {
            epoch_tag,
            sender,
            stream,
            counter,
        } => {
            let h = FrameHeader {
                epoch_tag: *epoch_tag,
                sender: u32::from(*sender) % 16_384,
                stream: *stream,
                counter: counter & ((1 << 48) - 1),
            };
            if let Ok(f) = h.relabel(frame) {
                *frame = f;
            }
        }
        Mutation::Pad { which } => {
            if let Some(f) = pad(frame, *which) {
                *frame = f;
            }
        }
        Mutation::Swap { a, b } => {
            if !frame.is_empty() {
                let (a, b) = (usize::from(*a) % frame.len(), usize::from(*b) % frame.len());
                frame.swap(a, b);
            }
        }
    }
}

fn structured(c: Case) {
    let now = Duration::from_secs(2);
    let rx = receiver();
    let tx = FrameCrypto::new(FrameConfig::default()).expect("config");
    let sender = u32::from(c.sender % 8);
    if sender == 2 {
        return; // the receiver's own leaf: OwnFrame, tested elsewhere
    }
    tx.set_own_sender(sender).expect("sender");
    let key = if c.same_key {
        vector_secret()
    } else {
        other_secret()
    };
    tx.install_epoch(1, &key, Duration::ZERO).expect("epoch");
    let plaintext = &c.plaintext[..c.plaintext.len().min(2048)];
    let prefix = usize::from(c.prefix_len)
        .min(plaintext.len())
        .min(MAX_CLEAR_PREFIX);
    for _ in 0..c.skip % 130 {
        tx.encrypt(c.stream, b"", 0).expect("encrypt");
    }
    let frame = tx.encrypt(c.stream, plaintext, prefix).expect("encrypt");
    let mut forged = frame.clone();
    for m in c.mutations.iter().take(8) {
        mutate(&mut forged, m);
    }
    let r = rx.decrypt(&forged, now);
    if forged != frame || !c.same_key {
        assert!(
            r.is_err(),
            "a mutated or foreign frame decrypted: {:?} (mutations {:?})",
            r,
            c.mutations
        );
    } else {
        check_ok(&frame, r.as_ref().expect("genuine frame decrypts"));
    }
    if c.same_key {
        if forged == frame {
            // Decrypted already: a second time is a replay.
            assert!(matches!(
                rx.decrypt(&frame, now),
                Err(FrameError::Replayed { .. })
            ));
        } else {
            // The forgery must not have burnt the genuine frame's counter.
            let d = rx
                .decrypt(&frame, now)
                .expect("genuine frame decrypts after a rejected forgery");
            assert_eq!(d.plaintext, plaintext);
            assert_eq!((d.sender, d.stream, d.epoch), (sender, c.stream, 1));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let rx = receiver();
        let now = Duration::from_secs(u64::from(mode / 2) % 16);
        if let Ok(d) = rx.decrypt(rest, now) {
            check_ok(rest, &d);
            // The same bytes again are a replay.
            assert!(rx.decrypt(rest, now).is_err());
        }
        let mut out = vec![0u8; rest.len().saturating_sub(TAG_LEN) / 2];
        let _ = rx.decrypt_into(rest, &mut out, now);
    } else if let Ok(c) = Case::arbitrary_take_rest(Unstructured::new(rest)) {
        structured(c);
    }
});
