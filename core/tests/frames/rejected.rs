//! frames.json `rejected[]`: frames a receiver MUST reject, each with the error kind it must
//! produce (`spec/frames.md` section 4.1), and the check that every backend produces exactly that
//! kind.
//!
//! A case's receiver installs the epochs `epochs` in order (each with the file's `frame_secret`,
//! all at time 0), sets its own sender index to `own_sender` unless it is `null`, accepts the
//! frames `accepted_first` in order, and then receives `pad_zeros` zero bytes followed by `frame`.

use conclave_core::Secret;
use conclave_core::frame::{
    AeadBackend, FrameConfig, FrameCrypto, FrameError, FrameHeader, MAX_FRAME_PLAINTEXT,
    RustCryptoBackend,
};
use serde_json::{Value, json};

use super::{T0, leb128, vector_frame_secret, vector_plaintext};

/// The frame error kind of `spec/frames.md` section 4.1.
pub(crate) fn kind(e: &FrameError) -> &'static str {
    e.kind().as_str()
}

/// A frame of sender 3, stream `stream`, sealed by the library under `epoch` at `counter`:
/// 40 bytes of the vector plaintext, 4 of them a clear prefix.
fn sealed(epoch: u64, stream: u32, counter: u64) -> Vec<u8> {
    let c = FrameCrypto::<RustCryptoBackend>::with_backend(FrameConfig {
        initial_send_counter: counter,
        ..FrameConfig::default()
    })
    .unwrap();
    c.set_own_sender(3).unwrap();
    c.install_epoch(epoch, &vector_frame_secret(), T0).unwrap();
    c.encrypt(stream, &vector_plaintext(40), 4).unwrap()
}

/// A hand-made frame: `body`, then the trailer fields given in reading order (from the end of
/// the frame: flags, epoch tag, then each field's LEB128 bytes), then a 16-byte tag of 0xAA.
/// The reading order is reversed byte-wise into storage order (spec/frames.md section 1).
fn crafted(body: &[u8], read_order: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.extend(read_order.iter().rev());
    f.extend_from_slice(&[0xAA; 16]);
    f
}

/// Reading order of a mode-00 trailer: flags, epoch tag 1, sender 3, then `counter` and
/// `stream` as given (raw LEB128 bytes).
fn fields(flags: u8, counter: &[u8], stream: &[u8]) -> Vec<u8> {
    let mut r = vec![flags, 1, 3];
    r.extend_from_slice(counter);
    r.extend_from_slice(stream);
    r
}

fn leb(v: u64) -> Vec<u8> {
    let mut b = Vec::new();
    leb128(v, &mut b);
    b
}

struct Rejected {
    description: &'static str,
    kind: &'static str,
    epochs: Vec<u64>,
    own_sender: Option<u32>,
    accepted_first: Vec<Vec<u8>>,
    pad_zeros: usize,
    frame: Vec<u8>,
}

fn case(description: &'static str, kind: &'static str, frame: Vec<u8>) -> Rejected {
    Rejected {
        description,
        kind,
        epochs: vec![1],
        own_sender: None,
        accepted_first: vec![],
        pad_zeros: 0,
        frame,
    }
}

/// Sealed frames of sender 3, changed or delivered to a receiver that must refuse them.
fn sealed_cases() -> Vec<Rejected> {
    let good = sealed(1, 0, 5);
    let flip = |i: usize| {
        let mut f = good.clone();
        f[i] ^= 0x01;
        f
    };
    let relabel = |f: &dyn Fn(&mut FrameHeader)| {
        let mut h = FrameHeader::parse(&good).unwrap().header;
        f(&mut h);
        h.relabel(&good).unwrap()
    };
    vec![
        case(
            "tampered: an encrypted body byte changed",
            "tampered",
            flip(10),
        ),
        case("tampered: a clear prefix byte changed", "tampered", flip(0)),
        case(
            "tampered: the last byte of the tag changed",
            "tampered",
            flip(good.len() - 1),
        ),
        case(
            "tampered: re-labelled with stream 1 (another key)",
            "tampered",
            relabel(&|h| h.stream = 1),
        ),
        case(
            "tampered: re-labelled with sender 4 (another key)",
            "tampered",
            relabel(&|h| h.sender = 4),
        ),
        case(
            "tampered: re-labelled with counter 6 (another nonce)",
            "tampered",
            relabel(&|h| h.counter = 6),
        ),
        Rejected {
            accepted_first: vec![good.clone()],
            ..case(
                "replayed: the same frame a second time",
                "replayed",
                good.clone(),
            )
        },
        Rejected {
            accepted_first: vec![sealed(1, 0, 5000)],
            ..case(
                "too old: counter 5 after counter 5000, below the 1,024-counter replay window",
                "too_old",
                good.clone(),
            )
        },
        Rejected {
            epochs: vec![1, 2, 3],
            ..case(
                "too old: epoch 1 after epochs 2 and 3 were installed (at most 2 are kept)",
                "too_old",
                good.clone(),
            )
        },
        case(
            "unknown epoch: a frame of epoch 2 at a receiver that has installed epoch 1 only",
            "unknown_epoch",
            sealed(2, 0, 0),
        ),
        Rejected {
            accepted_first: (0..16).map(|stream| sealed(1, stream, 0)).collect(),
            ..case(
                "stream limit: a 17th stream of sender 3 after 16 authenticated ones",
                "stream_limit",
                sealed(1, 16, 0),
            )
        },
        Rejected {
            own_sender: Some(3),
            ..case(
                "own frame: the receiver's own sender index (3)",
                "own_frame",
                good.clone(),
            )
        },
    ]
}

/// Hand-made frames with malformed or out-of-range trailers, and an oversize body.
fn crafted_cases() -> Vec<Rejected> {
    let body = [0x42u8; 8];
    vec![
        case(
            "malformed: 16 bytes, shorter than any trailer",
            "malformed",
            vec![0xAA; 16],
        ),
        case(
            "malformed: format version 2 (flags 0x20)",
            "malformed",
            crafted(&body, &fields(0x20, &[0], &[0])),
        ),
        case(
            "malformed: mode 11 (flags 0x13)",
            "malformed",
            crafted(&body, &fields(0x13, &[0], &[0])),
        ),
        case(
            "malformed: reserved flag bit 2 set (flags 0x14)",
            "malformed",
            crafted(&body, &fields(0x14, &[0], &[0])),
        ),
        case(
            "malformed: non-minimal counter varint (0 in two bytes: LEB128 80 00)",
            "malformed",
            crafted(&body, &fields(0x10, &[0x80, 0x00], &[0])),
        ),
        case(
            "malformed: counter varint of 11 bytes",
            "malformed",
            crafted(
                &body,
                &fields(
                    0x10,
                    &[
                        0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                    ],
                    &[0],
                ),
            ),
        ),
        case(
            "malformed: counter varint over 64 bits (tenth byte 02)",
            "malformed",
            crafted(
                &body,
                &fields(
                    0x10,
                    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                    &[0],
                ),
            ),
        ),
        case(
            "malformed: counter 2^48, above MAX_FRAME_COUNTER",
            "malformed",
            crafted(&body, &fields(0x10, &leb(1 << 48), &[0])),
        ),
        case(
            "malformed: stream 2^32, above u32::MAX",
            "malformed",
            crafted(&body, &fields(0x10, &[0], &leb(1 << 32))),
        ),
        case(
            "unknown sender: sender 16,384 (MAX_TREE_LEAVES)",
            "unknown_sender",
            crafted(&body, &{
                let mut r = vec![0x10, 1];
                r.extend(leb(16_384));
                r.extend_from_slice(&[0, 0]);
                r
            }),
        ),
        case(
            "malformed: clear prefix of 9 bytes on an 8-byte body",
            "malformed",
            crafted(&body, &[fields(0x11, &[0], &[0]), vec![9]].concat()),
        ),
        case(
            "malformed: clear prefix of 0 bytes in mode P",
            "malformed",
            crafted(&body, &[fields(0x11, &[0], &[0]), vec![0]].concat()),
        ),
        case(
            "malformed: mode R holding one range [0, 3), which mode P must express",
            "malformed",
            crafted(&body, &[fields(0x12, &[0], &[0]), vec![1, 0, 3]].concat()),
        ),
        Rejected {
            pad_zeros: MAX_FRAME_PLAINTEXT + 1 - body.len(),
            ..case(
                "oversize: a body of MAX_FRAME_PLAINTEXT + 1 bytes (1,048,577)",
                "too_large",
                crafted(&body, &fields(0x10, &[0], &[0])),
            )
        },
    ]
}

fn cases() -> Vec<Rejected> {
    let mut all = sealed_cases();
    all.extend(crafted_cases());
    all
}

/// `rejected[]` of frames.json.
pub(crate) fn generate() -> Value {
    json!(
        cases()
            .into_iter()
            .map(|c| json!({
                "description": c.description,
                "kind": c.kind,
                "epochs": c.epochs,
                "own_sender": c.own_sender,
                "accepted_first": c.accepted_first.iter().map(hex::encode).collect::<Vec<_>>(),
                "pad_zeros": c.pad_zeros,
                "frame": hex::encode(&c.frame),
            }))
            .collect::<Vec<_>>()
    )
}

/// Every rejected case of the committed file gives exactly its kind with backend `B`.
pub(crate) fn verify<B: AeadBackend>(v: &Value) {
    let fs: [u8; 32] = hex::decode(v["frame_secret"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let cases = v["rejected"].as_array().unwrap();
    assert_eq!(cases.len(), self::cases().len());
    for c in cases {
        let d = c["description"].as_str().unwrap();
        let r = FrameCrypto::<B>::with_backend(FrameConfig::default()).unwrap();
        for e in c["epochs"].as_array().unwrap() {
            r.install_epoch(e.as_u64().unwrap(), &Secret::from_bytes(fs), T0)
                .unwrap();
        }
        if let Some(own) = c["own_sender"].as_u64() {
            r.set_own_sender(own as u32).unwrap();
        }
        for f in c["accepted_first"].as_array().unwrap() {
            r.decrypt(&hex::decode(f.as_str().unwrap()).unwrap(), T0)
                .unwrap_or_else(|e| panic!("{d}: first frame rejected: {e}"));
        }
        let mut frame = vec![0u8; c["pad_zeros"].as_u64().unwrap() as usize];
        frame.extend(hex::decode(c["frame"].as_str().unwrap()).unwrap());
        let got = match r.decrypt(&frame, T0) {
            Ok(_) => "accepted",
            Err(e) => kind(&e),
        };
        assert_eq!(got, c["kind"].as_str().unwrap(), "{d}");
    }
}
