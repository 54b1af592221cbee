//! Codec-aware frames (`spec/frames.md` section 5): round trips, start-code emulation,
//! authentication of clear bytes, keyframe detection on encrypted frames, malformed input.

use conclave_core::frame::codec::{av1_canonical, clear_ranges, is_keyframe};
use conclave_core::frame::{
    Codec, FrameConfig, FrameError, FrameHeader, RustCryptoBackend, TAG_LEN,
};

use super::vectors::{
    AV1_DELTA, AV1_KEY, H264_AVCC, H264_DELTA, H264_KEY, H264_SLICES, H265_DELTA, H265_KEY,
    four_byte_start_codes,
};
use super::{T0, crypto, pair, payload, secret};

type B = RustCryptoBackend;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// One sample frame per codec and frame type.
fn samples() -> Vec<(Codec, Vec<u8>)> {
    vec![
        (Codec::Opus, payload(100, 1)),
        (
            Codec::Vp8,
            hex("502d019d012a4001f000a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        ),
        (Codec::Vp8, hex("310500a1b2c3d4e5f60718293a4b5c6d7e8f90")),
        (
            Codec::Vp9,
            hex("8249834200013f00ef00a1b2c3d4e5f60718293a4b5c6d"),
        ),
        (Codec::Vp9, hex("86a1b2c3d4e5f60718293a4b5c6d")),
        (Codec::H264, hex(H264_KEY)),
        (Codec::H264, hex(H264_DELTA)),
        (Codec::H264Avcc, hex(H264_AVCC)),
        (Codec::H265, hex(H265_KEY)),
        (Codec::H265, hex(H265_DELTA)),
        (Codec::Av1, hex(AV1_KEY)),
        (Codec::Av1, hex(AV1_DELTA)),
    ]
}

/// An Annex B H.264 frame: SPS, PPS, then an IDR slice whose payload is `n` pseudo-random
/// bytes with the emulation prevention an encoder would apply.
fn big_h264(n: usize, seed: u64) -> Vec<u8> {
    let mut f = hex("0000000167640016acd940a00000000168ebecb22c000001658884");
    let mut x = seed | 1;
    let mut zeros = 0;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x as u8;
        if zeros >= 2 && b <= 3 {
            f.push(3);
            zeros = 0;
        }
        f.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if f.last() == Some(&0) {
        f.push(0x80);
    }
    f
}

/// Whether an Annex B frame has exactly `starts` start codes (at those offsets) and no
/// `00 00 00`/`00 00 02` or trailing zero inside a NAL unit: the check of section 5.4, written
/// independently.
fn start_codes_exact(frame: &[u8], starts: &[usize]) -> bool {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < frame.len() {
        if frame[i] == 0 && frame[i + 1] == 0 && frame[i + 2] <= 2 {
            if frame[i + 2] == 1 {
                found.push(i + 3);
            } else if frame[i + 2] == 2 || (i + 3 < frame.len() && frame[i + 3] != 1) {
                // 00 00 02, or 00 00 00 that does not lead into a start code.
                if frame[i + 2] == 2 || frame[i + 3] != 0 {
                    return false;
                }
            }
        }
        i += 1;
    }
    found == starts && frame.last() != Some(&0)
}

fn nal_starts(frame: &[u8]) -> Vec<usize> {
    (0..frame.len().saturating_sub(2))
        .filter(|&i| frame[i] == 0 && frame[i + 1] == 0 && frame[i + 2] == 1)
        .map(|i| i + 3)
        .collect()
}

#[test]
fn every_codec_round_trips() {
    let (a, b) = pair::<B>();
    for (codec, frame) in samples() {
        let sealed = a.encrypt_media(codec, 1, &frame).unwrap();
        let d = b.decrypt_media(codec, &sealed, T0).unwrap();
        let expected = match codec {
            Codec::Av1 => frame[2..].to_vec(), // without the temporal delimiter
            Codec::H264 | Codec::H265 => four_byte_start_codes(&frame),
            _ => frame.clone(),
        };
        assert_eq!(d.plaintext, expected, "{codec}");
        // The clear ranges are in place in the encrypted frame, everything else changed.
        let body = if codec == Codec::Av1 {
            av1_canonical(&frame).unwrap()
        } else {
            expected.clone()
        };
        let ranges = clear_ranges(codec, &body).unwrap();
        let p = FrameHeader::parse(&sealed).unwrap();
        assert_eq!(p.clear, ranges, "{codec}");
        for (s, e) in ranges.iter() {
            if codec != Codec::H264Avcc {
                assert_eq!(&sealed[s..e], &body[s..e], "{codec}");
            }
        }
        // Generic decryption gives the body (for Annex B, VP8/9 and Opus the frame itself).
        let g = b
            .decrypt(&a.encrypt_media(codec, 1, &frame).unwrap(), T0)
            .unwrap();
        if !matches!(codec, Codec::Av1 | Codec::H264Avcc) {
            assert_eq!(g.plaintext, expected, "{codec}");
        }
    }
}

#[test]
fn clear_ranges_per_codec() {
    let r = |c, f: &str| clear_ranges(c, &hex(f)).unwrap().iter().collect::<Vec<_>>();
    assert_eq!(r(Codec::Opus, "78aabb"), vec![]);
    // SPS (4 + 8) and PPS (4 + 5) whole, SEI start code and header, IDR start code, header and
    // 2 slice header bytes: merged where adjacent.
    assert_eq!(r(Codec::H264, H264_KEY), vec![(0, 25), (54, 60)]);
    assert_eq!(r(Codec::H264, H264_DELTA), vec![(0, 6)]);
    assert_eq!(r(Codec::H264Avcc, H264_AVCC), vec![(0, 32)]);
    // VPS (17), SPS (15), PPS (9) whole; IDR start code, 2-byte header and 1 slice header byte.
    assert_eq!(r(Codec::H265, H265_KEY), vec![(0, 47)]);
    assert_eq!(r(Codec::H265, H265_DELTA), vec![(0, 7)]);
    let av1 = av1_canonical(&hex(AV1_KEY)).unwrap();
    assert_eq!(
        clear_ranges(Codec::Av1, &av1)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![(0, 14)]
    );
}

#[test]
fn audio_overhead_is_at_most_24_bytes() {
    let (a, _) = pair::<B>();
    let f = a.encrypt_media(Codec::Opus, 0, &payload(100, 1)).unwrap();
    assert_eq!(f.len() - 100, 21);
    let a = crypto::<B>(
        16_383,
        FrameConfig {
            initial_send_counter: (1 << 21) - 1,
            ..FrameConfig::default()
        },
    );
    a.install_epoch(1, &secret(1), T0).unwrap();
    let f = a.encrypt_media(Codec::Opus, 0, &payload(100, 1)).unwrap();
    assert_eq!(f.len() - 100, 24);
}

#[test]
fn h26x_output_never_emulates_a_start_code() {
    let (a, b) = pair::<B>();
    // 256 KiB of ciphertext emulates a start code with probability about 1 - e^(-256Ki * 3 /
    // 2^24), about 4.6 %: 100 frames re-seal a few times.
    let mut resealed = 0;
    let mut last = None;
    for seed in 1..=100u64 {
        let f = four_byte_start_codes(&big_h264(256 * 1024, seed));
        let starts = nal_starts(&f);
        let sealed = a.encrypt_media(Codec::H264, 3, &f).unwrap();
        assert!(start_codes_exact(&sealed, &starts), "seed {seed}");
        let counter = FrameHeader::parse(&sealed).unwrap().header.counter;
        if let Some(prev) = last
            && counter > prev + 1
        {
            resealed += counter - prev - 1;
        }
        last = Some(counter);
        assert_eq!(
            b.decrypt_media(Codec::H264, &sealed, T0).unwrap().plaintext,
            f
        );
        assert!(is_keyframe(Codec::H264, &sealed).unwrap());
    }
    assert!(resealed > 0, "no re-seal in 100 frames of 256 KiB");
    assert!(resealed < 20);
}

#[test]
fn every_clear_byte_is_authenticated() {
    let (a, b) = pair::<B>();
    for (codec, frame) in samples() {
        let sealed = a.encrypt_media(codec, 1, &frame).unwrap();
        let body_len = FrameHeader::parse(&sealed).unwrap().body_len;
        for i in 0..sealed.len() {
            let mut g = sealed.clone();
            g[i] ^= 0x01;
            let r = b.decrypt_media(codec, &g, T0);
            assert!(r.is_err(), "{codec}: byte {i} accepted");
            // A body byte: the tag fails, or (codecs with a canonical form) the changed start
            // code or header no longer parses.
            if i < body_len {
                let parses = matches!(codec, Codec::Av1 | Codec::H264 | Codec::H265)
                    && matches!(r, Err(FrameError::InvalidMedia { .. }));
                assert!(
                    parses || matches!(r, Err(FrameError::Tampered { .. })),
                    "{codec} byte {i}: {r:?}"
                );
            }
        }
        assert!(b.decrypt_media(codec, &sealed, T0).is_ok(), "{codec}");
    }
}

#[test]
fn keyframes_detected_on_encrypted_frames() {
    let (a, _) = pair::<B>();
    for (codec, frame) in samples() {
        let clear = is_keyframe(codec, &frame).unwrap();
        let sealed = a.encrypt_media(codec, 1, &frame).unwrap();
        assert_eq!(is_keyframe(codec, &sealed).unwrap(), clear, "{codec}");
    }
    let key = |c, f: &str| is_keyframe(c, &hex(f)).unwrap();
    assert!(key(Codec::H264, H264_KEY) && !key(Codec::H264, H264_DELTA));
    assert!(key(Codec::H265, H265_KEY) && !key(Codec::H265, H265_DELTA));
    assert!(key(Codec::Av1, AV1_KEY) && !key(Codec::Av1, AV1_DELTA));
    assert!(key(Codec::H264Avcc, H264_AVCC));
}

#[test]
fn avcc_last_length_covers_the_trailer() {
    let (a, b) = pair::<B>();
    let f = hex(H264_AVCC);
    let sealed = a.encrypt_media(Codec::H264Avcc, 1, &f).unwrap();
    // Walk the length prefixes of the encrypted frame: they end exactly at its end.
    let mut pos = 0;
    while pos < sealed.len() {
        let n = u32::from_be_bytes(sealed[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4 + n;
    }
    assert_eq!(pos, sealed.len());
    assert_eq!(
        b.decrypt_media(Codec::H264Avcc, &sealed, T0)
            .unwrap()
            .plaintext,
        f
    );
}

#[test]
fn av1_survives_what_depacketizers_do() {
    let (a, b) = pair::<B>();
    let f = hex(AV1_KEY);
    let sealed = a.encrypt_media(Codec::Av1, 1, &f).unwrap();
    // A depacketizer may prepend a temporal delimiter and give the last OBU a size field.
    let last_header = 13; // the frame OBU's header in the canonical form (after the 13-byte sequence header)
    assert_eq!(sealed[last_header] & 0x02, 0);
    let mut g = hex("1200");
    g.extend_from_slice(&sealed[..last_header]);
    g.push(sealed[last_header] | 0x02);
    let rest = &sealed[last_header + 1..];
    let mut size = rest.len();
    loop {
        let byte = (size & 0x7F) as u8;
        size >>= 7;
        g.push(if size > 0 { byte | 0x80 } else { byte });
        if size == 0 {
            break;
        }
    }
    g.extend_from_slice(rest);
    assert_eq!(
        b.decrypt_media(Codec::Av1, &g, T0).unwrap().plaintext,
        f[2..]
    );
}

#[test]
fn malformed_media_is_an_error_never_a_panic() {
    let (a, b) = pair::<B>();
    let invalid =
        |r: Result<Vec<u8>, FrameError>| matches!(r, Err(FrameError::InvalidMedia { .. }));
    assert!(invalid(a.encrypt_media(Codec::Opus, 0, &[])));
    assert!(invalid(a.encrypt_media(Codec::H264, 1, &hex("0102030405"))));
    assert!(invalid(a.encrypt_media(Codec::H264, 1, &hex("0000000141"))));
    assert!(invalid(a.encrypt_media(
        Codec::H264,
        1,
        &hex("00000001419a00")
    )));
    assert!(invalid(a.encrypt_media(
        Codec::H264Avcc,
        1,
        &hex("000000ff41")
    )));
    assert!(invalid(a.encrypt_media(Codec::H265, 1, &hex("0000000102"))));
    assert!(invalid(a.encrypt_media(Codec::Av1, 1, &hex("1200"))));
    assert!(invalid(a.encrypt_media(Codec::Vp8, 1, &hex("50"))));
    assert!(invalid(a.encrypt_media(Codec::Vp9, 1, &hex("42"))));
    let mut x: u32 = 7;
    for len in 0..300usize {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as u8) & if len % 3 == 0 { 0x03 } else { 0xFF }
            })
            .collect();
        for codec in Codec::ALL {
            let _ = is_keyframe(codec, &junk);
            let _ = clear_ranges(codec, &junk);
            if let Ok(f) = a.encrypt_media(codec, 1, &junk) {
                b.decrypt_media(codec, &f, T0).unwrap();
            }
            assert!(b.decrypt_media(codec, &junk, T0).is_err());
        }
    }
    // A frame too short for its own trailer.
    assert!(b.decrypt_media(Codec::H264, &[0u8; TAG_LEN], T0).is_err());
}

#[test]
fn into_variants_report_sizes() {
    let (a, b) = pair::<B>();
    let f = hex(H264_KEY);
    let mut small = [0u8; 10];
    assert!(matches!(
        a.encrypt_media_into(Codec::H264, 1, &f, &mut small),
        Err(FrameError::BufferTooSmall { .. })
    ));
    let mut out = vec![0u8; conclave_core::frame::max_frame_len(f.len())];
    let n = a.encrypt_media_into(Codec::H264, 1, &f, &mut out).unwrap();
    let mut plain = vec![0u8; n - TAG_LEN];
    let info = b
        .decrypt_media_into(Codec::H264, &out[..n], &mut plain, T0)
        .unwrap();
    assert_eq!(&plain[..info.len], &four_byte_start_codes(&f)[..]);
    assert_eq!(info.counter, 1);
}

/// `frame` with every 4-byte start code written with 3 bytes, as some depayloaders write them.
fn three_byte_start_codes(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in frame.iter().enumerate() {
        if b == 0 && frame.get(i..i + 4) == Some(&[0, 0, 0, 1]) {
            continue;
        }
        out.push(b);
    }
    out
}

/// An H.264 or H.265 frame with mixed start codes (3 bytes, 4 bytes and a longer zero run) is
/// sealed with 4-byte ones, and decrypts after a depayloader rewrote them to 4 or 3 bytes.
fn start_codes_of_any_length(codec: Codec, frame: &[u8]) {
    // A new receiver for each decryption (each would be a replay for the previous one).
    let receiver = || {
        let c = crypto::<B>(1, FrameConfig::default());
        c.install_epoch(1, &secret(1), T0).unwrap();
        c
    };
    let (a, _) = pair::<B>();
    let canonical = four_byte_start_codes(frame);
    assert_ne!(
        canonical, frame,
        "the sample has 3-byte or longer start codes"
    );
    let sealed = a.encrypt_media(codec, 1, frame).unwrap();
    let body_len = FrameHeader::parse(&sealed).unwrap().body_len;
    assert_eq!(
        body_len,
        canonical.len(),
        "{codec}: one byte more per 3-byte start code"
    );
    assert!(
        start_codes_exact(&sealed, &nal_starts(&canonical)),
        "{codec}"
    );
    assert_eq!(
        receiver()
            .decrypt_media(codec, &sealed, T0)
            .unwrap()
            .plaintext,
        canonical,
        "{codec}: as sealed"
    );
    // `rtph264depay` writes 4-byte start codes (as sealed), others 3-byte ones; a longer zero
    // run (trailing_zero_8bits before a start code) is a start code too.
    let three = three_byte_start_codes(&sealed);
    assert!(three.len() < sealed.len());
    let mut long = vec![0, 0];
    long.extend_from_slice(&three);
    for (what, rx) in [("3-byte", three), ("longer zero run", long)] {
        let d = receiver().decrypt_media(codec, &rx, T0);
        assert_eq!(d.unwrap().plaintext, canonical, "{codec}: {what}");
        // The _into variant: `max_plaintext_len` is enough; the 3-byte frame minus its tag is
        // not (its canonical form is longer) and fails before the counter is used up.
        let c = receiver();
        if what == "3-byte" {
            let mut short = vec![0u8; rx.len() - TAG_LEN];
            assert!(matches!(
                c.decrypt_media_into(codec, &rx, &mut short, T0),
                Err(FrameError::BufferTooSmall { .. })
            ));
        }
        let mut out = vec![0u8; conclave_core::frame::max_plaintext_len(rx.len())];
        let info = c.decrypt_media_into(codec, &rx, &mut out, T0).unwrap();
        assert_eq!(&out[..info.len], &canonical[..], "{codec}: {what} into");
    }
    // A zero byte added in front of the last unit's start code is normalized away; one added
    // in the ciphertext makes the frame fail.
    let mut bad = sealed.clone();
    bad.insert(body_len - 1, 0);
    assert!(receiver().decrypt_media(codec, &bad, T0).is_err());
}

#[test]
fn h264_start_codes_of_any_length() {
    // SPS (4), PPS (4), SEI (3), IDR (3), then a slice after a 5-byte zero run.
    let mut f = hex(H264_KEY);
    f.extend_from_slice(&hex("000000000001419a2426d8a0b7c9daebfc0d1e2f"));
    start_codes_of_any_length(Codec::H264, &f);
    start_codes_of_any_length(Codec::H264, &hex(H264_SLICES));
}

#[test]
fn h265_start_codes_of_any_length() {
    // VPS, SPS, PPS (4), IDR (3), then a second IDR slice segment after a 6-byte zero run.
    let mut f = hex(H265_KEY);
    f.extend_from_slice(&hex("000000000001260120b3d4f5a6b7c8d9eafb0c1d2e"));
    start_codes_of_any_length(Codec::H265, &f);
}

#[test]
fn h26x_survives_what_payloaders_do() {
    let (a, b) = pair::<B>();
    // An access unit delimiter in front (RTP payloaders drop it): not sealed.
    let mut f = hex("0000000109f0");
    f.extend_from_slice(&hex(H264_KEY));
    let sealed = a.encrypt_media(Codec::H264, 1, &f).unwrap();
    assert_eq!(
        FrameHeader::parse(&sealed).unwrap().body_len,
        four_byte_start_codes(&hex(H264_KEY)).len()
    );
    // A depayloader inserts the parameter sets it learnt from the session in front.
    let sps_pps = hex("0000000167640016acd940a00000000168ebecb22c");
    let mut rx = sps_pps.clone();
    rx.extend_from_slice(&sealed);
    let d = b.decrypt_media(Codec::H264, &rx, T0).unwrap();
    assert_eq!(d.plaintext, four_byte_start_codes(&hex(H264_KEY)));
    // A parameter set that is not a copy is not dropped: the frame does not authenticate.
    let f2 = a.encrypt_media(Codec::H264, 1, &hex(H264_KEY)).unwrap();
    let mut other = hex("0000000167640016acd940a1");
    other.extend_from_slice(&f2);
    assert!(matches!(
        b.decrypt_media(Codec::H264, &other, T0),
        Err(FrameError::Tampered { .. })
    ));
    // H.265: the same with an AUD (type 35).
    let mut f = hex("00000001460150");
    f.extend_from_slice(&hex(H265_KEY));
    let sealed = a.encrypt_media(Codec::H265, 1, &f).unwrap();
    assert_eq!(
        b.decrypt_media(Codec::H265, &sealed, T0).unwrap().plaintext,
        four_byte_start_codes(&hex(H265_KEY))
    );
}
