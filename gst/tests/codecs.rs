//! Every codec through `conclaveenc` and `conclavedec` with real encoder output: a round trip
//! that gives back the encoder's frames byte for byte, a tampered frame (dropped, reported on
//! the bus as `tampered` with sender and epoch), a replayed frame, and frames before keys
//! (dropped and counted on both sides, reported as `no_keys`). A test whose encoder is not
//! installed prints SKIPPED and passes.

mod common;

use common::*;
use gstconclave::{DECRYPT_FAILED_MESSAGE, ENCRYPT_FAILED_MESSAGE};

/// Runs every check on the encoder output `enc`.
fn check_codec(enc: Encoded) {
    let n = enc.frames.len() as u64;
    assert!(n >= 5, "want a few frames, got {n}");
    let alice = participant(0);
    let bob = participant(1);

    // Round trip.
    let (mut he, bus_e) = harness("conclaveenc", &enc.caps);
    gstconclave::set_frame_crypto(&element(&he), alice).unwrap();
    let (mut hd, bus_d) = harness("conclavedec", &enc.caps);
    gstconclave::set_frame_crypto(&element(&hd), bob).unwrap();
    let mut sealed = Vec::new();
    for (i, frame) in enc.frames.iter().enumerate() {
        let e = process(&mut he, frame).unwrap_or_else(|| panic!("frame {i} not encrypted"));
        assert!(e.size() > frame.size(), "frame {i}: no trailer");
        assert_eq!(e.pts(), frame.pts());
        let d = process(&mut hd, &e).unwrap_or_else(|| panic!("frame {i} not decrypted"));
        assert_eq!(
            bytes(&d),
            canonical(&enc.caps, frame),
            "frame {i} differs after the round trip"
        );
        assert_eq!(d.pts(), frame.pts());
        assert_eq!(
            d.flags().contains(gst::BufferFlags::DELTA_UNIT),
            frame.flags().contains(gst::BufferFlags::DELTA_UNIT)
        );
        sealed.push(e);
    }
    assert_eq!(
        (
            counter(&he, "frames"),
            counter(&he, "encrypted"),
            counter(&he, "dropped")
        ),
        (n, n, 0)
    );
    assert_eq!(
        (
            counter(&hd, "frames"),
            counter(&hd, "decrypted"),
            counter(&hd, "rejected")
        ),
        (n, n, 0)
    );
    assert!(failures(&bus_e, ENCRYPT_FAILED_MESSAGE).is_empty());
    assert!(failures(&bus_d, DECRYPT_FAILED_MESSAGE).is_empty());

    // A tampered frame (a fresh one, so that its counter is unused): dropped, reported.
    let fresh = process(&mut he, &enc.frames[0]).unwrap();
    assert_eq!(
        process(&mut hd, &tamper(&fresh)),
        None,
        "tampered frame accepted"
    );
    assert_eq!(counter(&hd, "rejected"), 1);
    assert_eq!(
        failures(&bus_d, DECRYPT_FAILED_MESSAGE),
        vec![("tampered".to_owned(), Some(0), Some(1), 0)]
    );
    // The genuine frame still decrypts afterwards; a replay of it does not.
    assert!(process(&mut hd, &fresh).is_some());
    assert_eq!(process(&mut hd, &fresh), None, "replayed frame accepted");
    assert_eq!(
        failures(&bus_d, DECRYPT_FAILED_MESSAGE),
        vec![("replayed".to_owned(), Some(0), Some(1), 0)]
    );
    assert_eq!(
        (
            counter(&hd, "frames"),
            counter(&hd, "decrypted"),
            counter(&hd, "rejected")
        ),
        (n + 3, n + 1, 2)
    );

    // Frames before keys: an encoder without keys sends nothing (never plaintext).
    let (mut he2, bus_e2) = harness("conclaveenc", &enc.caps);
    assert_eq!(process(&mut he2, &enc.frames[0]), None);
    assert_eq!(
        (
            counter(&he2, "frames"),
            counter(&he2, "encrypted"),
            counter(&he2, "dropped")
        ),
        (1, 0, 1)
    );
    assert_eq!(
        failures(&bus_e2, ENCRYPT_FAILED_MESSAGE),
        vec![("no_keys".to_owned(), None, None, 0)]
    );
    // ... nor with a FrameCrypto that has no epoch yet; once it has one, frames flow.
    let carol =
        std::sync::Arc::new(conclave_core::frame::FrameCrypto::new(Default::default()).unwrap());
    carol.set_own_sender(2).unwrap();
    gstconclave::set_frame_crypto(&element(&he2), carol.clone()).unwrap();
    assert_eq!(process(&mut he2, &enc.frames[0]), None);
    carol
        .install_epoch(1, &secret(), gstconclave::monotonic_now())
        .unwrap();
    let from_carol = process(&mut he2, &enc.frames[0]).expect("encrypted once keyed");
    assert_eq!(
        (
            counter(&he2, "frames"),
            counter(&he2, "encrypted"),
            counter(&he2, "dropped")
        ),
        (3, 1, 2)
    );

    // A decoder without keys drops and counts.
    let (mut hd2, bus_d2) = harness("conclavedec", &enc.caps);
    assert_eq!(process(&mut hd2, &from_carol), None);
    assert_eq!(
        (
            counter(&hd2, "frames"),
            counter(&hd2, "decrypted"),
            counter(&hd2, "rejected")
        ),
        (1, 0, 1)
    );
    assert_eq!(
        failures(&bus_d2, DECRYPT_FAILED_MESSAGE),
        vec![("no_keys".to_owned(), None, None, 0)]
    );
    // The keyed decoder takes Carol's frame.
    let d = process(&mut hd, &from_carol).expect("carol's frame");
    assert_eq!(bytes(&d), canonical(&enc.caps, &enc.frames[0]));
}

/// What `conclavedec` gives back for the encoder's `frame`: the frame itself in its canonical
/// form (`spec/frames.md` section 6): an AV1 temporal unit without its temporal delimiter OBU
/// (`12 00`), an H.264 byte-stream access unit without the access unit delimiter that
/// `h264parse` inserts (`00 00 00 01 09 f0`).
fn canonical(caps: &gst::Caps, frame: &gst::Buffer) -> Vec<u8> {
    let b = bytes(frame);
    let s = caps.structure(0).unwrap();
    let delimiter: &[u8] = match s.name().as_str() {
        "video/x-av1" => &[0x12, 0x00],
        "video/x-h264" if s.get::<&str>("stream-format") == Ok("byte-stream") => {
            &[0, 0, 0, 1, 0x09, 0xf0]
        }
        _ => &[],
    };
    b.strip_prefix(delimiter).unwrap_or(&b).to_vec()
}

#[test]
fn opus() {
    if let Some(e) = encode(
        &["audiotestsrc", "opusenc"],
        "audiotestsrc num-buffers=20 wave=sine ! audio/x-raw,rate=48000,channels=1 ! \
         opusenc ! appsink name=sink",
    ) {
        check_codec(e);
    }
}

#[test]
fn vp8() {
    if let Some(e) = video(&["vp8enc"], 12, "vp8enc deadline=1 keyframe-max-dist=5") {
        check_codec(e);
    }
}

#[test]
fn vp9() {
    if let Some(e) = video(&["vp9enc"], 12, "vp9enc deadline=1 keyframe-max-dist=5") {
        check_codec(e);
    }
}

#[test]
fn h264_byte_stream() {
    if let Some(e) = video(
        &["x264enc", "h264parse"],
        12,
        "x264enc tune=zerolatency key-int-max=5 aud=false ! h264parse ! \
         video/x-h264,stream-format=byte-stream,alignment=au",
    ) {
        check_codec(e);
    }
}

#[test]
fn h264_avc() {
    if let Some(e) = video(
        &["x264enc", "h264parse"],
        12,
        "x264enc tune=zerolatency key-int-max=5 aud=false ! h264parse ! \
         video/x-h264,stream-format=avc,alignment=au",
    ) {
        check_codec(e);
    }
}

#[test]
fn h265() {
    if let Some(e) = video(
        &["x265enc", "h265parse"],
        12,
        "x265enc tune=zerolatency key-int-max=5 ! h265parse ! \
         video/x-h265,stream-format=byte-stream,alignment=au",
    ) {
        check_codec(e);
    }
}

#[test]
fn av1() {
    if let Some(e) = video(
        &["av1enc", "av1parse"],
        6,
        "av1enc cpu-used=8 end-usage=cbr target-bitrate=200 keyframe-max-dist=3 ! av1parse ! \
         video/x-av1,stream-format=obu-stream,alignment=tu",
    ) {
        check_codec(e);
    }
}
