//! `FrameCrypto::encrypt_batch` / `decrypt_batch`: packing, bounds, per-frame failures, and
//! "a refused batch changes nothing".

use std::sync::Arc;
use std::time::Duration;

use conclave_core::Secret;
use conclave_core::frame::{FrameConfig, FrameCrypto as Engine};
use conclave_ffi::{
    BATCH_FAILED, BATCH_OK, ConclaveError, FrameBatch, FrameCrypto, MAX_FRAME_BATCH,
    MAX_FRAME_BATCH_BYTES, frame_batch_limits,
};
use proptest::prelude::*;

const NOW_MS: i64 = 5_000;

/// A participant at leaf `leaf` holding epoch 1's keys.
fn member(leaf: u32) -> FrameCrypto {
    let e = Engine::new(FrameConfig::default()).expect("config");
    e.set_own_sender(leaf).expect("leaf");
    e.install_epoch(1, &Secret::from_bytes([9u8; 32]), Duration::ZERO)
        .expect("epoch");
    FrameCrypto::from_engine(Arc::new(e))
}

fn pack_plain(frames: &[(i32, &[u8], i32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (stream, pt, prefix) in frames {
        out.extend_from_slice(&stream.to_le_bytes());
        out.extend_from_slice(&prefix.to_le_bytes());
        out.extend_from_slice(&(pt.len() as u32).to_le_bytes());
        out.extend_from_slice(pt);
    }
    out
}

fn pack_frames<T: AsRef<[u8]>>(frames: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(f.as_ref());
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The entries of an `encrypt_batch` result: `Some(frame)` or `None` for a failed frame.
fn unpack_sealed(b: &FrameBatch) -> Vec<Option<Vec<u8>>> {
    let (p, mut at, mut out) = (&b.packed, 0, Vec::new());
    while at < p.len() {
        let (status, len) = (p[at], u32_at(p, at + 1) as usize);
        at += 5;
        out.push((status == BATCH_OK).then(|| p[at..at + len].to_vec()));
        if status == BATCH_FAILED {
            assert_eq!(len, 0);
        }
        at += len;
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Opened {
    sender: u32,
    stream: u32,
    epoch: u64,
    counter: u64,
    prefix_len: u32,
    plaintext: Vec<u8>,
}

/// The entries of a `decrypt_batch` result.
fn unpack_opened(b: &FrameBatch) -> Vec<Option<Opened>> {
    let (p, mut at, mut out) = (&b.packed, 0, Vec::new());
    while at < p.len() {
        let len = u32_at(p, at + 29) as usize;
        let o = Opened {
            sender: u32_at(p, at + 1),
            stream: u32_at(p, at + 5),
            epoch: u64_at(p, at + 9),
            counter: u64_at(p, at + 17),
            prefix_len: u32_at(p, at + 25),
            plaintext: p[at + 33..at + 33 + len].to_vec(),
        };
        if p[at] == BATCH_FAILED {
            assert_eq!(
                o,
                Opened {
                    sender: 0,
                    stream: 0,
                    epoch: 0,
                    counter: 0,
                    prefix_len: 0,
                    plaintext: vec![]
                }
            );
        }
        out.push((p[at] == BATCH_OK).then_some(o));
        at += 33 + len;
    }
    out
}

fn kinds(b: &FrameBatch) -> Vec<(i32, String)> {
    b.failures
        .iter()
        .map(|f| (f.index, kind_of(&f.error).to_string()))
        .collect()
}

fn kind_of(e: &ConclaveError) -> &str {
    match e {
        ConclaveError::Decode { kind, .. }
        | ConclaveError::Rejected { kind, .. }
        | ConclaveError::Tampered { kind, .. }
        | ConclaveError::Replayed { kind, .. }
        | ConclaveError::UnknownEpoch { kind, .. }
        | ConclaveError::TooOld { kind, .. }
        | ConclaveError::NoKeys { kind, .. }
        | ConclaveError::NotInMeeting { kind }
        | ConclaveError::NotLeader { kind, .. }
        | ConclaveError::UnknownParticipant { kind, .. }
        | ConclaveError::InvalidArgument { kind, .. }
        | ConclaveError::Internal { kind, .. } => kind,
    }
}

fn is_invalid(r: Result<FrameBatch, ConclaveError>, what: &str) {
    match r {
        Err(ConclaveError::InvalidArgument { kind, reason }) => {
            assert_eq!(kind, "invalid_argument");
            assert!(reason.contains(what), "{reason:?} should mention {what:?}");
        }
        other => panic!("expected InvalidArgument ({what}), got {other:?}"),
    }
}

#[test]
fn batch_round_trip_matches_single_calls() {
    let (alice, bob) = (member(0), member(1));
    let video = vec![0x5au8; 1200];
    let input: [(i32, &[u8], i32); 4] = [
        (0, b"\x90opus", 1),
        (1, &video, 10),
        (0, b"", 0),
        (7, b"stream seven", 0),
    ];
    let sealed = alice.encrypt_batch(&pack_plain(&input)).expect("batch");
    assert!(sealed.failures.is_empty());
    let frames: Vec<Vec<u8>> = unpack_sealed(&sealed)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(frames.len(), 4);
    let opened = bob
        .decrypt_batch(&pack_frames(&frames), NOW_MS)
        .expect("batch");
    assert!(opened.failures.is_empty());
    let got = unpack_opened(&opened);
    for (i, ((stream, pt, prefix), o)) in input.iter().zip(&got).enumerate() {
        let o = o.as_ref().expect("decrypted");
        assert_eq!(
            (o.sender, o.stream, o.epoch, o.prefix_len),
            (0, *stream as u32, 1, *prefix as u32),
            "frame {i}"
        );
        assert_eq!(&o.plaintext, pt);
    }
    // Counters per stream, in order: stream 0 used 0 then 1.
    assert_eq!(got[0].as_ref().unwrap().counter, 0);
    assert_eq!(got[2].as_ref().unwrap().counter, 1);
    // A frame of the batch and a single call's frame are interchangeable.
    let single = alice.encrypt(1, video.clone(), 10).expect("single");
    let batch = alice
        .encrypt_batch(&pack_plain(&[(1, &video, 10)]))
        .unwrap();
    let batch_frame = unpack_sealed(&batch).remove(0).unwrap();
    assert_eq!(single.len(), batch_frame.len());
    let d = bob
        .decrypt(batch_frame, NOW_MS)
        .expect("single decrypt of a batch frame");
    assert_eq!((d.stream, d.counter, d.plaintext), (1, 2, video.clone()));
    let o = bob.decrypt_batch(&pack_frames(&[single]), NOW_MS).unwrap();
    assert_eq!(unpack_opened(&o)[0].as_ref().unwrap().counter, 1);
}

#[test]
fn empty_batches_are_empty() {
    let a = member(0);
    let e = a.encrypt_batch(&[]).unwrap();
    assert!(e.packed.is_empty() && e.failures.is_empty());
    let d = a.decrypt_batch(&[], 0).unwrap();
    assert!(d.packed.is_empty() && d.failures.is_empty());
    assert_eq!(frame_batch_limits().max_frames, MAX_FRAME_BATCH);
    assert_eq!(frame_batch_limits().max_bytes, MAX_FRAME_BATCH_BYTES);
}

#[test]
fn bad_plaintexts_fail_alone_and_use_no_counter() {
    let (alice, bob) = (member(0), member(1));
    let long = vec![1u8; 300];
    let input: [(i32, &[u8], i32); 6] = [
        (0, b"first", 0),
        (-1, b"negative stream", 0),
        (0, b"abc", 4),  // prefix longer than the plaintext
        (0, &long, 256), // prefix over MAX_CLEAR_PREFIX
        (0, b"x", -3),   // negative prefix
        (0, b"last", 2),
    ];
    let sealed = alice.encrypt_batch(&pack_plain(&input)).unwrap();
    assert_eq!(
        kinds(&sealed),
        [
            (1, "invalid_argument".into()),
            (2, "too_large".into()),
            (3, "too_large".into()),
            (4, "invalid_argument".into()),
        ]
    );
    assert!(matches!(
        sealed.failures[0].error,
        ConclaveError::InvalidArgument { .. }
    ));
    let frames = unpack_sealed(&sealed);
    assert_eq!(
        frames.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, false, false, false, false, true]
    );
    let ok: Vec<Vec<u8>> = frames.into_iter().flatten().collect();
    let got = unpack_opened(&bob.decrypt_batch(&pack_frames(&ok), NOW_MS).unwrap());
    // The failed frames used no counter: the two sealed frames have counters 0 and 1.
    let counters: Vec<u64> = got.iter().map(|o| o.as_ref().unwrap().counter).collect();
    assert_eq!(counters, [0, 1]);
    assert_eq!(got[1].as_ref().unwrap().plaintext, b"last");
}

#[test]
fn bad_frames_fail_alone_with_their_error() {
    let (alice, bob, carol) = (member(0), member(1), member(2));
    let f1 = alice.encrypt(0, b"one".to_vec(), 0).unwrap();
    let f2 = alice.encrypt(0, b"two".to_vec(), 0).unwrap();
    let mut tampered = alice.encrypt(0, b"three".to_vec(), 0).unwrap();
    *tampered.last_mut().unwrap() ^= 1;
    let own = bob.encrypt(0, b"bob's own".to_vec(), 0).unwrap();
    let batch = [
        f1.clone(),
        tampered,
        f1.clone(), // replayed within the batch
        b"\xff garbage".to_vec(),
        own,
        vec![],
        f2.clone(),
    ];
    let opened = bob.decrypt_batch(&pack_frames(&batch), NOW_MS).unwrap();
    let k = kinds(&opened);
    assert_eq!(
        k.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(matches!(
        opened.failures[0].error,
        ConclaveError::Tampered {
            sender: 0,
            stream: 0,
            epoch: 1,
            ..
        }
    ));
    assert!(matches!(
        opened.failures[1].error,
        ConclaveError::Replayed { counter: 0, .. }
    ));
    assert!(matches!(
        opened.failures[2].error,
        ConclaveError::Decode { .. }
    ));
    assert!(matches!(
        opened.failures[3].error,
        ConclaveError::Rejected { .. }
    ));
    assert_eq!(k[3].1, "own_frame");
    let got = unpack_opened(&opened);
    assert_eq!(got.len(), batch.len());
    assert_eq!(got[0].as_ref().unwrap().plaintext, b"one");
    assert_eq!(got[6].as_ref().unwrap().plaintext, b"two");
    assert!(got[1..6].iter().all(Option::is_none));
    // The failures were counted like single calls' failures.
    let d = bob.diagnostics();
    let alice_diag = d.iter().find(|s| s.sender == 0).unwrap();
    assert_eq!(
        (
            alice_diag.decrypted,
            alice_diag.tampered,
            alice_diag.replayed
        ),
        (2, 1, 1)
    );
    // The same batch through another receiver: what single calls say, frame by frame.
    let opened = carol.decrypt_batch(&pack_frames(&batch), NOW_MS).unwrap();
    let singles: Vec<Result<_, _>> = batch
        .iter()
        .map(|f| member(2).decrypt(f.clone(), NOW_MS))
        .collect();
    assert_eq!(singles[1].as_ref().unwrap_err(), &opened.failures[0].error);
}

#[test]
fn a_malformed_batch_is_refused_whole_and_changes_nothing() {
    let (alice, bob) = (member(0), member(1));
    let f = alice.encrypt(0, b"frame".to_vec(), 0).unwrap();
    let good = pack_frames(std::slice::from_ref(&f));

    // A length past the end, after a valid frame.
    let mut past = good.clone();
    past.extend_from_slice(&100u32.to_le_bytes());
    past.extend_from_slice(b"short");
    is_invalid(bob.decrypt_batch(&past, NOW_MS), "length past the end");
    // A truncated header after a valid frame.
    let mut trunc = good.clone();
    trunc.extend_from_slice(&[1, 0]);
    is_invalid(bob.decrypt_batch(&trunc, NOW_MS), "truncated header");
    // A huge length (u32::MAX).
    let mut huge = good.clone();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    is_invalid(bob.decrypt_batch(&huge, NOW_MS), "frame 1 at byte");
    is_invalid(bob.decrypt_batch(&good.clone(), -1), "negative");
    // The valid frame of the refused batches was not consumed: it still decrypts once.
    assert!(bob.diagnostics().is_empty());
    let ok = bob.decrypt_batch(&good, NOW_MS).unwrap();
    assert!(ok.failures.is_empty());

    // Encrypt: a malformed batch seals nothing, so no counter is used.
    let mut bad = pack_plain(&[(0, b"a", 0), (0, b"b", 0)]);
    bad.extend_from_slice(&[0u8; 11]); // one byte short of a header
    is_invalid(alice.encrypt_batch(&bad), "truncated header");
    let mut bad = pack_plain(&[(0, b"a", 0)]);
    bad.truncate(bad.len() - 1);
    is_invalid(alice.encrypt_batch(&bad), "length past the end");
    let next = alice
        .encrypt_batch(&pack_plain(&[(0, b"next", 0)]))
        .unwrap();
    let frame = unpack_sealed(&next).remove(0).unwrap();
    // Stream 0 had sealed `f` (counter 0): the next counter is 1.
    let d = bob.decrypt(frame, NOW_MS).unwrap();
    assert_eq!(d.counter, 1);
}

#[test]
fn batch_bounds() {
    let (alice, bob) = (member(0), member(1));
    let n = MAX_FRAME_BATCH as usize;
    // Exactly MAX_FRAME_BATCH frames: accepted (empty plaintexts).
    let most: Vec<(i32, &[u8], i32)> = vec![(3, b"", 0); n];
    let sealed = alice.encrypt_batch(&pack_plain(&most)).unwrap();
    assert_eq!(unpack_sealed(&sealed).len(), n);
    let frames: Vec<Vec<u8>> = unpack_sealed(&sealed).into_iter().flatten().collect();
    let opened = bob.decrypt_batch(&pack_frames(&frames), NOW_MS).unwrap();
    assert_eq!(unpack_opened(&opened).len(), n);
    assert!(opened.failures.is_empty());
    // One more: refused, and nothing sealed (the stream's next counter is still n).
    let over: Vec<(i32, &[u8], i32)> = vec![(3, b"", 0); n + 1];
    is_invalid(alice.encrypt_batch(&pack_plain(&over)), "MAX_FRAME_BATCH");
    is_invalid(
        bob.decrypt_batch(&pack_frames(&vec![Vec::<u8>::new(); n + 1]), NOW_MS),
        "MAX_FRAME_BATCH",
    );
    let next = unpack_sealed(&alice.encrypt_batch(&pack_plain(&[(3, b"", 0)])).unwrap())
        .remove(0)
        .unwrap();
    assert_eq!(bob.decrypt(next, NOW_MS).unwrap().counter, n as i64);
    // Over the byte bound: refused before reading any frame.
    let big = vec![0u8; MAX_FRAME_BATCH_BYTES as usize - 12];
    let at_bound = pack_plain(&[(0, &big, 0)]);
    assert_eq!(at_bound.len(), MAX_FRAME_BATCH_BYTES as usize);
    // A 4 MiB plaintext is one valid packing, but over MAX_FRAME_PLAINTEXT: a per-frame error.
    let r = alice.encrypt_batch(&at_bound.clone()).unwrap();
    assert_eq!(kinds(&r), [(0, "too_large".into())]);
    let mut over_bytes = at_bound;
    over_bytes.push(0);
    is_invalid(
        alice.encrypt_batch(&over_bytes.clone()),
        "MAX_FRAME_BATCH_BYTES",
    );
    is_invalid(
        bob.decrypt_batch(&over_bytes, NOW_MS),
        "MAX_FRAME_BATCH_BYTES",
    );
}

#[test]
fn without_keys_every_frame_fails_alone() {
    let e = Engine::new(FrameConfig::default()).unwrap();
    let nobody = FrameCrypto::from_engine(Arc::new(e));
    let r = nobody
        .encrypt_batch(&pack_plain(&[(0, b"a", 0), (1, b"b", 0)]))
        .unwrap();
    assert_eq!(r.failures.len(), 2);
    assert!(
        r.failures
            .iter()
            .all(|f| matches!(f.error, ConclaveError::NoKeys { .. }))
    );
    assert_eq!(
        r.packed.0,
        [BATCH_FAILED, 0, 0, 0, 0, BATCH_FAILED, 0, 0, 0, 0]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic: either refused whole (InvalidArgument) or one entry per
    /// frame of the packing, with a failure listed for each failed entry.
    #[test]
    fn arbitrary_packings_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (alice, bob) = (member(0), member(1));
        match bob.decrypt_batch(&bytes, NOW_MS) {
            Ok(b) => {
                let got = unpack_opened(&b);
                let failed = got.iter().filter(|o| o.is_none()).count();
                prop_assert_eq!(failed, b.failures.len());
            }
            Err(e) => prop_assert_eq!(kind_of(&e), "invalid_argument"),
        }
        match alice.encrypt_batch(&bytes) {
            Ok(b) => {
                let got = unpack_sealed(&b);
                let failed = got.iter().filter(|o| o.is_none()).count();
                prop_assert_eq!(failed, b.failures.len());
            }
            Err(e) => prop_assert_eq!(kind_of(&e), "invalid_argument"),
        }
    }
}
