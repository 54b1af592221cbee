//! The FFI entry points that take bytes (what Swift, Kotlin and Python apps call with data from
//! the network or the keychain): `Identity::from_secret`, `Meeting::handle_message` and
//! `FrameCrypto::decrypt` on a fresh meeting. None may panic, and no arbitrary input may decrypt
//! as a frame.
#![no_main]

use conclave_ffi::{Identity, Meeting};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Identity::from_secret(data.to_vec());
    let Ok(identity) = Identity::generate() else {
        return;
    };
    let Ok(meeting) = Meeting::create(
        b"ffi-fuzz-meeting-0001".to_vec(),
        "alice".into(),
        identity,
        0,
        None,
    ) else {
        return;
    };
    let _ = meeting.handle_message(data.to_vec(), 1);
    let _ = meeting.handle_timeout(2);
    while meeting.poll_transmit().is_some() {}
    let _ = meeting.poll_events();
    let frames = meeting.frame_crypto();
    assert!(
        frames.decrypt(data.to_vec(), 3).is_err(),
        "an arbitrary input decrypted as a frame"
    );
});
