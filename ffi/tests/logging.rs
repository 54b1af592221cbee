//! The engine's diagnostics reach the application's `Logger`: a rejected message gives a record
//! with its stable kind, keyed by the participant id, and no record carries a secret.
//! (Its own test binary: the logger is process-wide.)

use std::sync::{Arc, Mutex};

use conclave_ffi::{
    CallbackError, ConclaveError, Identity, LogLevel, LogRecord, Logger, Meeting, set_logger,
};

struct Collect(Mutex<Vec<LogRecord>>);

impl Logger for Collect {
    fn log(&self, record: LogRecord) -> Result<(), CallbackError> {
        self.0.lock().expect("records").push(record);
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs two participants of one meeting until both have keys.
fn settle(parts: [&Meeting; 2]) {
    for now in [0i64, 0, 1, 3_000, 3_000, 3_001] {
        for m in parts {
            if m.poll_timeout_ms().is_some_and(|t| t <= now) {
                m.handle_timeout(now).expect("timers");
            }
        }
        for (i, m) in parts.iter().enumerate() {
            while let Some(t) = m.poll_transmit() {
                parts[1 - i]
                    .handle_message(t.payload, now)
                    .expect("accepted");
            }
        }
    }
}

#[test]
fn a_rejection_is_logged_with_its_kind_and_no_secret() {
    let collect = Arc::new(Collect(Mutex::new(Vec::new())));
    set_logger(Some(collect.clone()), LogLevel::Info);

    let alice_id = Identity::generate().expect("id");
    let alice_secret = alice_id.export_secret();
    let alice = Meeting::create(
        b"meeting-log-0001".to_vec(),
        "alice".into(),
        alice_id,
        0,
        None,
    )
    .expect("create");
    let bob = Meeting::join(
        b"meeting-log-0001".to_vec(),
        "bob".into(),
        Identity::generate().expect("id"),
        0,
        None,
    )
    .expect("join");
    settle([&alice, &bob]);
    let code = alice.security_code().expect("keys");

    // An announcement for another meeting, delivered to alice by the relay.
    let mallory = Meeting::join(
        b"meeting-log-0002".to_vec(),
        "mallory".into(),
        Identity::generate().expect("id"),
        0,
        None,
    )
    .expect("join");
    let forged = mallory.poll_transmit().expect("announcement").payload;
    let e = alice.handle_message(forged, 3_002).expect_err("refused");
    assert!(matches!(e, ConclaveError::Rejected { .. }), "{e:?}");
    let ConclaveError::Rejected { kind, .. } = &e else {
        unreachable!()
    };
    assert_eq!(kind, "wrong_meeting");

    // Below the filter: nothing at Debug was delivered.
    set_logger(None, LogLevel::Trace);
    let records = collect.0.lock().expect("records").clone();
    assert!(
        records.iter().all(|r| r.level <= LogLevel::Info),
        "{records:?}"
    );

    let rejection = records
        .iter()
        .find(|r| r.participant_id.as_deref() == Some("alice") && r.level == LogLevel::Warn)
        .unwrap_or_else(|| panic!("no rejection record for alice: {records:?}"));
    assert_eq!(
        rejection.kind.as_deref(),
        Some("wrong_meeting"),
        "{rejection:?}"
    );
    assert_eq!(rejection.target, "conclave::meeting");
    assert!(rejection.message.contains("rejected"), "{rejection:?}");
    // The meeting is named by a prefix of its id ("meet" in hex), never the whole id.
    assert!(
        rejection.message.contains("meeting=6d656574"),
        "{rejection:?}"
    );

    // Epoch changes and membership are logged per participant too.
    assert!(
        records
            .iter()
            .any(|r| r.participant_id.as_deref() == Some("bob")
                && r.message.contains("epoch installed")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.participant_id.as_deref() == Some("alice")
                && r.message.contains("participant added")
                && r.message.contains("peer=bob")),
        "{records:?}"
    );

    // No record carries the identity secret or the security code (derived from epoch secrets).
    let secret_hex = hex(&alice_secret);
    for r in &records {
        let text = format!("{r:?}");
        assert!(!text.contains(&secret_hex), "secret in {r:?}");
        assert!(!text.contains(&code), "security code in {r:?}");
    }
}
