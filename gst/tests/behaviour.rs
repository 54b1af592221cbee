//! Element behaviour that does not depend on a codec: garbage from the relay never becomes a
//! flow error, failure messages are rate-limited, the key API refuses other elements, the codec
//! override, and the properties `gst-inspect-1.0` shows.

mod common;

use common::*;
use gst::glib;
use gst::prelude::*;
use gstconclave::{DECRYPT_FAILED_MESSAGE, MAX_FAILURE_MESSAGES_PER_SECOND};

fn opus_caps() -> gst::Caps {
    init();
    gst::Caps::builder("audio/x-opus").build()
}

fn h264_caps() -> gst::Caps {
    init();
    "video/x-h264,stream-format=byte-stream,alignment=au"
        .parse()
        .unwrap()
}

/// An H.264 access unit (SPS, PPS, IDR slice) that the codec processor accepts.
fn h264_frame() -> Vec<u8> {
    let mut f = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5,
    ];
    f.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
    f.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
    f.extend((0..200u32).map(|i| (i % 250 + 4) as u8));
    f
}

#[test]
fn garbage_is_dropped_never_a_flow_error() {
    for caps in [opus_caps(), h264_caps()] {
        let (mut h, bus) = harness("conclavedec", &caps);
        gstconclave::set_frame_crypto(&element(&h), participant(1)).unwrap();
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0xff; 17],
            vec![0, 0, 1, 0x65, 1, 2, 3],
            (0..300u32).map(|i| (i * 7) as u8).collect(),
        ];
        for data in &inputs {
            let buf = gst::Buffer::from_mut_slice(data.clone());
            assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok), "{caps}: {data:?}");
            assert!(h.try_pull().is_none());
        }
        let n = inputs.len() as u64;
        assert_eq!(counter(&h, "rejected"), n);
        assert_eq!(counter(&h, "decrypted"), 0);
        let reports = failures(&bus, DECRYPT_FAILED_MESSAGE);
        assert_eq!(reports.len() as u64, n);
        assert!(
            reports
                .iter()
                .all(|(r, ..)| r == "malformed" || r == "invalid_media")
        );
    }
}

#[test]
fn failure_messages_are_rate_limited() {
    let (mut he, _) = harness("conclaveenc", &opus_caps());
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    let (mut hd, bus) = harness("conclavedec", &opus_caps());
    gstconclave::set_frame_crypto(&element(&hd), participant(1)).unwrap();
    let frame = gst::Buffer::from_slice(vec![0x78u8; 60]);
    let sealed = process(&mut he, &frame).unwrap();
    let tampered = tamper(&sealed);
    for _ in 0..50 {
        assert_eq!(process(&mut hd, &tampered), None);
    }
    assert_eq!(counter(&hd, "rejected"), 50);
    let reports = failures(&bus, DECRYPT_FAILED_MESSAGE);
    assert!(!reports.is_empty());
    assert!(reports.len() <= MAX_FAILURE_MESSAGES_PER_SECOND as usize * 2);
    assert!(
        reports
            .iter()
            .all(|(r, s, e, _)| r == "tampered" && *s == Some(0) && *e == Some(1))
    );
}

#[test]
fn codec_override() {
    // The caps say H.264: its start codes and NAL headers stay in the clear.
    init();
    let frame = gst::Buffer::from_slice(h264_frame());
    let (mut he, _) = harness("conclaveenc", &h264_caps());
    assert_eq!(element(&he).property::<String>("codec"), "auto");
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    let sealed = bytes(&process(&mut he, &frame).unwrap());
    assert_eq!(sealed[..8], h264_frame()[..8]);

    // The override says Opus: nothing stays in the clear.
    let (mut he, _) = harness("conclaveenc", &h264_caps());
    element(&he).set_property("codec", "opus");
    assert_eq!(element(&he).property::<String>("codec"), "opus");
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    let sealed = process(&mut he, &frame).unwrap();
    assert_ne!(bytes(&sealed)[..8], h264_frame()[..8]);

    // The trailer carries the clear layout: a decoder with either processor gets the frame.
    let (mut hd, _) = harness("conclavedec", &h264_caps());
    element(&hd).set_property("codec", "opus");
    gstconclave::set_frame_crypto(&element(&hd), participant(1)).unwrap();
    assert_eq!(bytes(&process(&mut hd, &sealed).unwrap()), h264_frame());

    // An unknown codec name keeps the old value.
    element(&hd).set_property("codec", "mp3");
    assert_eq!(element(&hd).property::<String>("codec"), "opus");
}

#[test]
fn keys_only_for_conclave_elements() {
    init();
    let identity = gst::ElementFactory::make("identity")
        .name("id0")
        .build()
        .unwrap();
    let err = gstconclave::set_frame_crypto(&identity, participant(0)).unwrap_err();
    assert_eq!(err.name, "id0");
    let enc = gst::ElementFactory::make("conclaveenc").build().unwrap();
    assert!(gstconclave::set_frame_crypto(&enc, participant(0)).is_ok());
    assert!(gstconclave::clear_frame_crypto(&enc).is_ok());
    assert!(enc.downcast_ref::<gstconclave::ConclaveEnc>().is_some());
}

#[test]
fn cleared_keys_stop_the_encoder() {
    let (mut he, _) = harness("conclaveenc", &opus_caps());
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    let frame = gst::Buffer::from_slice(vec![0x78u8; 40]);
    assert!(process(&mut he, &frame).is_some());
    gstconclave::clear_frame_crypto(&element(&he)).unwrap();
    assert_eq!(process(&mut he, &frame), None);
    assert_eq!(counter(&he, "dropped"), 1);
}

#[test]
fn test_secret_property_pairs_an_encoder_and_a_decoder() {
    let hex = "42".repeat(32);
    let (mut he, _) = harness("conclaveenc", &opus_caps());
    element(&he).set_property("insecure-test-secret", &hex);
    let (mut hd, _) = harness("conclavedec", &opus_caps());
    element(&hd).set_property("insecure-test-secret", &hex);
    let frame = gst::Buffer::from_slice(vec![0x78u8; 40]);
    let sealed = process(&mut he, &frame).unwrap();
    assert_eq!(bytes(&process(&mut hd, &sealed).unwrap()), vec![0x78u8; 40]);
    // A bad value installs nothing.
    let (mut hd2, _) = harness("conclavedec", &opus_caps());
    element(&hd2).set_property("insecure-test-secret", "zz");
    assert_eq!(process(&mut hd2, &sealed), None);
}

#[test]
fn properties_are_documented() {
    init();
    for (factory, names) in [
        (
            "conclaveenc",
            &[
                "stream-id",
                "codec",
                "frames",
                "encrypted",
                "dropped",
                "insecure-test-secret",
            ][..],
        ),
        (
            "conclavedec",
            &[
                "codec",
                "frames",
                "decrypted",
                "rejected",
                "insecure-test-secret",
            ][..],
        ),
    ] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        for name in names {
            let p = e
                .find_property(name)
                .unwrap_or_else(|| panic!("{factory}.{name}"));
            assert!(p.blurb().is_some_and(|b| b.len() > 10), "{factory}.{name}");
        }
        assert!(
            !e.find_property("insecure-test-secret")
                .unwrap()
                .flags()
                .contains(glib::ParamFlags::READABLE)
        );
    }
}

#[test]
fn keyframe_requested_once_frames_flow_after_drops() {
    let (mut he, _) = harness("conclaveenc", &opus_caps());
    let mut delta = gst::Buffer::from_slice(vec![0x78u8; 40]);
    delta
        .get_mut()
        .unwrap()
        .set_flags(gst::BufferFlags::DELTA_UNIT);
    let upstream = |h: &mut gst_check::Harness| {
        std::iter::from_fn(|| h.try_pull_upstream_event())
            .filter(|e| e.structure().is_some_and(|s| s.name() == "GstForceKeyUnit"))
            .count()
    };
    // Keyed from the start: no request.
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    assert!(process(&mut he, &delta).is_some());
    assert_eq!(upstream(&mut he), 0);
    // Dropped frames, then keys again: one request at the first delta frame sent.
    gstconclave::clear_frame_crypto(&element(&he)).unwrap();
    assert_eq!(process(&mut he, &delta), None);
    assert_eq!(process(&mut he, &delta), None);
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    assert!(process(&mut he, &delta).is_some());
    assert!(process(&mut he, &delta).is_some());
    assert_eq!(upstream(&mut he), 1);
    // A keyframe after drops needs no request.
    gstconclave::clear_frame_crypto(&element(&he)).unwrap();
    assert_eq!(process(&mut he, &delta), None);
    gstconclave::set_frame_crypto(&element(&he), participant(0)).unwrap();
    let key = gst::Buffer::from_slice(vec![0x78u8; 40]);
    assert!(process(&mut he, &key).is_some());
    assert!(process(&mut he, &delta).is_some());
    assert_eq!(upstream(&mut he), 0);
}
