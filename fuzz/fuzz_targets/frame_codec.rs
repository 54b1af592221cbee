//! Codec processors (`spec/frames.md` section 6) on hostile bitstreams.
//!
//! Input: byte 0 selects the codec (modulo the number of codecs), byte 1 a byte to flip in the
//! encrypted frame, the rest is the codec frame. For every input:
//! - computing its clear ranges and keyframe flag, and decrypting it as a received frame, must
//!   not panic;
//! - if it encrypts, the encrypted frame decrypts back to its canonical form (AV1: with the last
//!   size field back; H.26x: without delimiters and repeated parameter sets), keeps its keyframe flag and clear ranges, and with one byte flipped
//!   does not decrypt.
#![no_main]

use std::time::Duration;

use conclave_core::Secret;
use conclave_core::frame::codec::{av1_canonical, canonical_form, clear_ranges, is_keyframe};
use conclave_core::frame::{Codec, FrameConfig, FrameCrypto, FrameHeader};
use libfuzzer_sys::fuzz_target;

fn party(leaf: u32) -> FrameCrypto {
    let c = FrameCrypto::new(FrameConfig::default()).expect("config");
    c.set_own_sender(leaf).expect("sender");
    c.install_epoch(1, &Secret::from_bytes([7; 32]), Duration::ZERO)
        .expect("epoch");
    c
}

fuzz_target!(|data: &[u8]| {
    let [selector, flip, frame @ ..] = data else {
        return;
    };
    let codec = Codec::ALL[usize::from(*selector) % Codec::ALL.len()];
    let now = Duration::ZERO;
    let (tx, rx) = (party(0), party(1));
    let canonical = canonical_form(codec, frame);
    let key = is_keyframe(codec, frame);
    let _ = rx.decrypt_media(codec, frame, now);
    let Ok(sealed) = tx.encrypt_media(codec, 3, frame) else {
        return;
    };
    let canonical = canonical.expect("an encrypted frame has a canonical form");
    if codec != Codec::Av1 {
        let ranges = clear_ranges(codec, &canonical).expect("and clear ranges");
        assert_eq!(FrameHeader::parse(&sealed).expect("parses").clear, ranges);
    }
    assert_eq!(is_keyframe(codec, &sealed).ok(), key.ok());
    let mut forged = sealed.clone();
    let i = usize::from(*flip) * 7919 % forged.len();
    forged[i] ^= 0x40;
    assert!(rx.decrypt_media(codec, &forged, now).is_err());
    let d = rx
        .decrypt_media(codec, &sealed, now)
        .expect("a genuine frame decrypts after a forgery");
    if codec == Codec::Av1 {
        assert_eq!(
            av1_canonical(&d.plaintext).expect("canonical"),
            av1_canonical(frame).expect("canonical")
        );
    } else {
        assert_eq!(d.plaintext, canonical);
    }
});
