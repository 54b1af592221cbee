//! Test vectors: `spec/vectors/frames.json`, generic frames and one or more frames per codec.
//!
//! Every frame is made twice: by the library (with the starting counter set to the case's
//! counter), and independently here from the text of `spec/frames.md` with the raw AEAD; the two
//! must be byte-identical.

use conclave_core::Secret;
use conclave_core::frame::codec::{av1_canonical, clear_ranges};
use conclave_core::frame::{
    AeadBackend, Codec, FrameConfig, FrameCrypto, FrameHeader, MAX_FRAME_COUNTER, RustCryptoBackend,
};
use conclave_core::schedule::{SenderKeys, frame_nonce};

use super::T0;

#[path = "rejected.rs"]
mod rejected;

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/frames.json");

/// What a case encrypts.
enum Input {
    /// `encrypt` of `(7 i + 3) mod 256` bytes with a clear prefix.
    Generic { len: usize, prefix: usize },
    /// `encrypt_media` of a codec frame (hex).
    Media { codec: Codec, frame: &'static str },
}

struct Case {
    description: &'static str,
    epoch: u64,
    sender: u32,
    stream: u32,
    counter: u64,
    input: Input,
}

const fn generic(
    description: &'static str,
    (epoch, sender, stream, counter): (u64, u32, u32, u64),
    len: usize,
    prefix: usize,
) -> Case {
    Case {
        description,
        epoch,
        sender,
        stream,
        counter,
        input: Input::Generic { len, prefix },
    }
}

const fn media(description: &'static str, codec: Codec, stream: u32, frame: &'static str) -> Case {
    Case {
        description,
        epoch: 5,
        sender: 2,
        stream,
        counter: 300,
        input: Input::Media { codec, frame },
    }
}

/// An Annex B frame without access unit delimiters or repeated parameter sets in canonical form
/// (`spec/frames.md` section 6.4), written from the spec's text: every run of two or more zero
/// bytes followed by `01` (a start code: emulation prevention keeps such runs out of NAL units)
/// becomes `00 00 00 01`.
pub(crate) fn four_byte_start_codes(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0;
    for &b in frame {
        if b == 0 {
            zeros += 1;
            continue;
        }
        if b == 1 && zeros >= 2 {
            out.extend_from_slice(&[0, 0, 0]);
        } else {
            out.extend(std::iter::repeat_n(0, zeros));
        }
        out.push(b);
        zeros = 0;
    }
    out.extend(std::iter::repeat_n(0, zeros));
    out
}

// Synthetic but well-formed codec frames: real headers, short payloads.
pub(crate) const H264_KEY: &str = concat!(
    "0000000167640016acd940a0", // SPS
    "0000000168ebecb22c",       // PPS
    "00000106051a47564adc5c4c433f94efc5113cd143a801ffccccff02004c4b4080", // SEI
    "000001658884",             // IDR slice: first_mb 0, slice_type 7, pps 0
    "2ff3b4f1a6a2a0b3c5d7e9fb0d1f3143556779",
);
pub(crate) const H264_DELTA: &str =
    "00000001419a2426d8a0b7c9daebfc0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9dadbecfd";
pub(crate) const H264_AVCC: &str = concat!(
    "0000000c67640016acd940a0ff112233",                   // SPS (12)
    "0000000568ebecb22c",                                 // PPS (5)
    "00000015658884af3b4f1a6a2a0b3c5d7e9fb0d1f314355677", // IDR (21)
);
pub(crate) const H265_KEY: &str = concat!(
    "0000000140010c01ffff01600000030090", // VPS
    "000000014201010160000003009000",     // SPS (truncated; whole unit clear)
    "0000000144c172b466",                 // PPS
    "0000012601af0b3d4f5a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9e", // IDR_W_RADL
);
pub(crate) const H264_SLICES: &str = concat!(
    "0000000001419a2426d8a0b7c9daebfc0d1e2f", // P slice after a 5-byte start code
    "000001419a2426d8a0b7c9daebfc0d1e2f3a",   // P slice after a 3-byte start code
);
pub(crate) const H265_DELTA: &str = "0000000102019a2b3c4d5e6f70819203a4b5c6d7e8f9";
pub(crate) const AV1_KEY: &str = concat!(
    "1200",                       // temporal delimiter (dropped)
    "0a0b00000024c4ffdf00680230", // sequence header
    "3214",                       // frame OBU, 20 bytes
    "10aa2bcc3dee4f60718293a4b5c6d7e8f90a1b2c",
);
pub(crate) const AV1_DELTA: &str = "12003210302b4c5d6e7f8091a2b3c4d5e6f7081a";

const CASES: &[Case] = &[
    generic(
        "empty plaintext, first frame of epoch 1",
        (1, 0, 0, 0),
        0,
        0,
    ),
    generic("audio frame, 100 bytes, no prefix", (1, 3, 0, 0), 100, 0),
    generic(
        "audio frame, 100 bytes, 1-byte clear prefix",
        (1, 3, 0, 1),
        100,
        1,
    ),
    generic("prefix only: empty ciphertext", (1, 3, 1, 5), 10, 10),
    generic(
        "video packet, 1200 bytes, 10-byte prefix, one-byte varints at their maximum",
        (42, 127, 1, 127),
        1200,
        10,
    ),
    generic(
        "two-byte varints, epoch tag 255",
        (255, 128, 128, 128),
        64,
        0,
    ),
    generic(
        "epoch 256 has tag 0; largest sender, stream, counter and prefix",
        (256, 16_383, u32::MAX, MAX_FRAME_COUNTER),
        300,
        255,
    ),
    generic(
        "counter 2^21 - 1 (three-byte varint)",
        (1000, 9, 2, (1 << 21) - 1),
        33,
        0,
    ),
    generic(
        "counter 2^21 (four-byte varint)",
        (1000, 9, 2, 1 << 21),
        33,
        3,
    ),
    media(
        "opus: nothing clear",
        Codec::Opus,
        0,
        "78a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182939",
    ),
    media(
        "vp8 keyframe: 10-byte payload header clear",
        Codec::Vp8,
        1,
        "502d019d012a4001f000a1b2c3d4e5f60718293a4b5c6d7e8f90",
    ),
    media(
        "vp8 delta frame: 3-byte frame tag clear",
        Codec::Vp8,
        1,
        "310500a1b2c3d4e5f60718293a4b5c6d7e8f90",
    ),
    media(
        "vp9 keyframe: 10 bytes clear",
        Codec::Vp9,
        1,
        "8249834200013f00ef00a1b2c3d4e5f60718293a4b5c6d",
    ),
    media(
        "vp9 inter frame: first byte clear",
        Codec::Vp9,
        1,
        "86a1b2c3d4e5f60718293a4b5c6d",
    ),
    media(
        "h264 Annex B keyframe: SPS, PPS whole; SEI header; IDR header and slice header to the PPS id",
        Codec::H264,
        1,
        H264_KEY,
    ),
    media(
        "h264 Annex B delta frame: one range at 0, sent as a prefix",
        Codec::H264,
        1,
        H264_DELTA,
    ),
    media(
        "h264 AVCC keyframe: length prefixes clear, the last one covers the trailer",
        Codec::H264Avcc,
        1,
        H264_AVCC,
    ),
    media(
        "h265 keyframe: VPS, SPS, PPS whole; IDR header and slice header to the PPS id",
        Codec::H265,
        1,
        H265_KEY,
    ),
    media("h265 delta frame", Codec::H265, 1, H265_DELTA),
    media(
        "h264 two slices after a 5-byte and a 3-byte start code: both sealed as 00 00 00 01",
        Codec::H264,
        1,
        H264_SLICES,
    ),
    media(
        "av1 keyframe: temporal delimiter dropped, sequence header whole, frame OBU header clear",
        Codec::Av1,
        1,
        AV1_KEY,
    ),
    media("av1 delta frame", Codec::Av1, 1, AV1_DELTA),
];

pub(crate) fn vector_frame_secret() -> Secret<32> {
    Secret::from_bytes(core::array::from_fn(|i| i as u8))
}

pub(crate) fn vector_plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// Unsigned LEB128, written independently of the library.
pub(crate) fn leb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The trailer fields (without the tag) from spec/frames.md section 1: built in the order they
/// are read (from the end of the frame), then reversed.
fn trailer_fields(c: &Case, ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut read_order = Vec::new();
    let prefix = match ranges {
        [(0, e)] if *e <= 255 => Some(*e),
        _ => None,
    };
    let flags = if ranges.is_empty() {
        0x10
    } else if prefix.is_some() {
        0x11
    } else {
        0x12
    };
    read_order.push(flags);
    read_order.push(c.epoch as u8);
    leb128(u64::from(c.sender), &mut read_order);
    leb128(c.counter, &mut read_order);
    leb128(u64::from(c.stream), &mut read_order);
    if let Some(p) = prefix {
        leb128(p as u64, &mut read_order);
    } else if !ranges.is_empty() {
        leb128(ranges.len() as u64, &mut read_order);
        let mut prev = 0;
        for (s, e) in ranges {
            leb128((s - prev) as u64, &mut read_order);
            leb128((e - s) as u64, &mut read_order);
            prev = *e;
        }
    }
    // Each LEB128 reversed byte-wise, and the fields in reverse order: the whole list reversed.
    read_order.reverse();
    read_order
}

fn is_clear(ranges: &[(usize, usize)], i: usize) -> bool {
    ranges.iter().any(|(s, e)| (*s..*e).contains(&i))
}

fn generate_vectors() -> serde_json::Value {
    use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit};
    let fs = vector_frame_secret();
    let mut cases = Vec::new();
    for c in CASES {
        let keys = SenderKeys::derive(&fs, c.sender, c.stream);
        let nonce = frame_nonce(keys.salt.expose(), c.counter);
        assert_eq!(nonce, keys.nonce(c.counter));

        let sender = FrameCrypto::<RustCryptoBackend>::with_backend(FrameConfig {
            initial_send_counter: c.counter,
            ..FrameConfig::default()
        })
        .unwrap();
        sender.set_own_sender(c.sender).unwrap();
        sender.install_epoch(c.epoch, &fs, T0).unwrap();

        // The plaintext, the body as sealed (AV1: canonical form; AVCC: last length patched
        // below), its clear ranges and the library's frame.
        let (codec, pt, mut body, ranges, frame) = match c.input {
            Input::Generic { len, prefix } => {
                let pt = vector_plaintext(len);
                let ranges = if prefix > 0 {
                    vec![(0, prefix)]
                } else {
                    vec![]
                };
                let frame = sender.encrypt(c.stream, &pt, prefix).unwrap();
                ("generic", pt.clone(), pt, ranges, frame)
            }
            Input::Media { codec, frame } => {
                let pt = hex::decode(frame).unwrap();
                let body = match codec {
                    Codec::Av1 => av1_canonical(&pt).unwrap(),
                    Codec::H264 | Codec::H265 => four_byte_start_codes(&pt),
                    _ => pt.clone(),
                };
                let ranges: Vec<_> = clear_ranges(codec, &body).unwrap().iter().collect();
                let frame = sender.encrypt_media(codec, c.stream, &pt).unwrap();
                (codec.name(), pt, body, ranges, frame)
            }
        };
        assert_eq!(
            FrameHeader::parse(&frame).unwrap().header.counter,
            c.counter,
            "{}: sealed again (start code emulation); pick another payload",
            c.description
        );
        let fields = trailer_fields(c, &ranges);
        if codec == "h264-avcc" {
            // The last length prefix covers the trailer (fields and tag).
            let mut pos = 0;
            loop {
                let n = u32::from_be_bytes(body[pos..pos + 4].try_into().unwrap()) as usize;
                if pos + 4 + n == body.len() {
                    let patched = (n + fields.len() + 16) as u32;
                    body[pos..pos + 4].copy_from_slice(&patched.to_be_bytes());
                    break;
                }
                pos += 4 + n;
            }
        }
        let mut aad: Vec<u8> = (0..body.len())
            .filter(|i| is_clear(&ranges, *i))
            .map(|i| body[i])
            .collect();
        aad.extend_from_slice(&fields);
        let mut enc: Vec<u8> = (0..body.len())
            .filter(|i| !is_clear(&ranges, *i))
            .map(|i| body[i])
            .collect();
        let aead = ChaCha20Poly1305::new(keys.key.expose().into());
        let tag = aead
            .encrypt_inout_detached((&nonce).into(), &aad, enc.as_mut_slice().into())
            .unwrap();
        let mut expected = body.clone();
        let mut ct = enc.iter();
        for (i, b) in expected.iter_mut().enumerate() {
            if !is_clear(&ranges, i) {
                *b = *ct.next().unwrap();
            }
        }
        expected.extend_from_slice(&fields);
        expected.extend_from_slice(&tag);
        assert_eq!(
            hex::encode(&frame),
            hex::encode(&expected),
            "{}",
            c.description
        );

        // What decrypt_media returns: the plaintext; for AV1 the canonical form with the last
        // OBU's size field back (here: the input without its temporal delimiter); for Annex B
        // H.264/H.265 the canonical form (here: the input with 4-byte start codes).
        let decrypted = match codec {
            "av1" => {
                assert_eq!(&pt[..2], &[0x12, 0x00]);
                pt[2..].to_vec()
            }
            "h264" | "h265" => body.clone(),
            _ => pt.clone(),
        };
        cases.push(serde_json::json!({
            "description": c.description,
            "codec": codec,
            "epoch": c.epoch,
            "epoch_tag": c.epoch % 256,
            "sender": c.sender,
            "stream": c.stream,
            "counter": c.counter,
            "plaintext": hex::encode(&pt),
            "decrypted": hex::encode(&decrypted),
            "body_plaintext": hex::encode(&body),
            "clear_ranges": ranges.iter().map(|(s, e)| [s, e]).collect::<Vec<_>>(),
            "frame_key": hex::encode(keys.key.expose()),
            "frame_salt": hex::encode(keys.salt.expose()),
            "nonce": hex::encode(nonce),
            "trailer": hex::encode(&fields),
            "aad": hex::encode(&aad),
            "ciphertext": hex::encode(&enc),
            "tag": hex::encode(tag),
            "frame": hex::encode(&frame),
        }));
    }
    serde_json::json!({
        "description": "Media frames (spec/frames.md). frame_key and frame_salt derive from \
            frame_secret per spec/key-schedule.md section 8; nonce = frame_salt XOR \
            (u32(0) || u64(counter)). body_plaintext is plaintext for every codec but AV1 and \
            Annex B H.264/H.265 (their canonical forms; for H.26x every start code written as \
            00 00 00 01, which is also what decrypt_media returns) and H.264 AVCC (last length prefix plus the trailer's length); \
            aad = the clear bytes of body_plaintext in order || trailer; ciphertext || tag = \
            AEAD-Seal(frame_key, nonce, aad, the other bytes of body_plaintext); frame = \
            body_plaintext with the ciphertext in place of its encrypted bytes || trailer || tag. \
            Generic plaintext byte i is (7 i + 3) mod 256. Every epoch uses this one frame_secret \
            (a test fixture: real epochs have distinct secrets). rejected: frames a receiver MUST \
            reject, with the error kind each produces (spec/frames.md section 4.1); the receiver \
            installs `epochs` in order, sets its own sender index to `own_sender` unless null, \
            accepts `accepted_first` in order, then receives pad_zeros zero bytes || frame.",
        "frame_secret": hex::encode(fs.expose()),
        "cases": cases,
        "rejected": rejected::generate(),
    })
}

fn render_vectors() -> String {
    let mut s = serde_json::to_string_pretty(&generate_vectors()).unwrap();
    s.push('\n');
    s
}

fn write_vectors() {
    std::fs::write(VECTORS_PATH, render_vectors()).unwrap();
}

/// Writes `spec/vectors/frames.json`.
#[test]
#[ignore]
fn regenerate_vectors() {
    write_vectors();
}

/// The committed vectors are exactly what the generator produces.
#[test]
fn vectors_match_generator() {
    if std::env::var_os("CONCLAVE_REGENERATE_VECTORS").is_some_and(|v| v == "1") {
        write_vectors();
    }
    let committed = std::fs::read_to_string(VECTORS_PATH)
        .expect("spec/vectors/frames.json missing: regenerate it (see this file's header)");
    assert!(
        committed == render_vectors(),
        "spec/vectors/frames.json differs from the generator's output"
    );
}

/// Every committed frame decrypts to its plaintext with the committed frame secret.
pub(crate) fn vectors_decrypt<B: AeadBackend>() {
    let committed = std::fs::read_to_string(VECTORS_PATH).unwrap();
    let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let fs_bytes: [u8; 32] = hex::decode(v["frame_secret"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let fs = Secret::from_bytes(fs_bytes);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), CASES.len());
    for c in cases {
        let receiver = FrameCrypto::<B>::with_backend(FrameConfig::default()).unwrap();
        receiver
            .install_epoch(c["epoch"].as_u64().unwrap(), &fs, T0)
            .unwrap();
        let frame = hex::decode(c["frame"].as_str().unwrap()).unwrap();
        let codec = c["codec"].as_str().unwrap();
        let d = match Codec::from_name(codec) {
            Some(codec) => receiver.decrypt_media(codec, &frame, T0).unwrap(),
            None => receiver.decrypt(&frame, T0).unwrap(),
        };
        assert_eq!(d.sender as u64, c["sender"].as_u64().unwrap());
        assert_eq!(d.stream as u64, c["stream"].as_u64().unwrap());
        assert_eq!(d.counter, c["counter"].as_u64().unwrap());
        let expected = hex::decode(c["decrypted"].as_str().unwrap()).unwrap();
        assert_eq!(d.plaintext, expected, "{}", c["description"]);
        let trailer = hex::decode(c["trailer"].as_str().unwrap()).unwrap();
        let body_len = FrameHeader::parse(&frame).unwrap().body_len;
        assert_eq!(&frame[body_len..frame.len() - 16], &trailer[..]);
        let keys = SenderKeys::derive(
            &fs,
            c["sender"].as_u64().unwrap() as u32,
            c["stream"].as_u64().unwrap() as u32,
        );
        assert_eq!(
            hex::encode(keys.key.expose()),
            c["frame_key"].as_str().unwrap()
        );
    }
    rejected::verify::<B>(&v);
}
