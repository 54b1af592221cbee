//! A real meeting between processes: `conclave relay` on loopback and three `conclave join`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Proc, run};

/// Heartbeat interval of the test meetings: silent members are removed after 6 intervals.
const HEARTBEAT_MS: &str = "500";
const WAIT: Duration = Duration::from_secs(30);

fn start_relay() -> (Proc, String) {
    let relay = Proc::spawn("relay", &["relay", "--listen", "127.0.0.1:0"]);
    let line = relay.wait_line("with the address", WAIT, |l| l.contains("listening on "));
    let addr = line.rsplit(' ').next().unwrap().to_string();
    (relay, addr)
}

fn join(addr: &str, name: &str, create: bool) -> Proc {
    join_with(addr, name, create, HEARTBEAT_MS)
}

fn join_with(addr: &str, name: &str, create: bool, heartbeat_ms: &str) -> Proc {
    let mut args = vec![
        "join",
        "--relay",
        addr,
        "--name",
        name,
        "--heartbeat-ms",
        heartbeat_ms,
        "--media-fps",
        "5",
    ];
    if create {
        args.push("--create");
    }
    Proc::spawn(name, &args)
}

/// The security code of the newest epoch line that lists exactly `members`.
fn code_with(p: &Proc, members: &str) -> Option<String> {
    let tail = format!("(members: {members})");
    p.stdout()
        .into_iter()
        .rev()
        .find(|l| l.contains(" security code ") && l.ends_with(&tail))
        .map(|l| {
            let code = l.split(" security code ").nth(1).unwrap();
            code[..code.len() - tail.len()].trim().to_string()
        })
}

fn wait_agreement(ps: &[&Proc], members: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let codes: Vec<Option<String>> = ps.iter().map(|p| code_with(p, members)).collect();
        if let Some(Some(first)) = codes.first()
            && codes.iter().all(|c| c.as_ref() == Some(first))
        {
            return first.clone();
        }
        if std::time::Instant::now() > deadline {
            let dump: Vec<String> = ps
                .iter()
                .map(|p| {
                    format!(
                        "== {}\n{}\n-- stderr\n{}",
                        p.name,
                        p.stdout().join("\n"),
                        p.stderr().join("\n")
                    )
                })
                .collect();
            panic!(
                "no agreement on ({members}): {codes:?}\n{}",
                dump.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_processes_converge_chat_and_rekey_when_one_dies() {
    let (mut relay, addr) = start_relay();
    let alice = join(&addr, "alice", true);
    alice.wait_line("for epoch 1", WAIT, |l| {
        l.starts_with("epoch 1 security code")
    });
    let mut bob = join(&addr, "bob", false);
    bob.wait_line("joined", WAIT, |l| l.starts_with("joined as leaf"));
    let mut carol = join(&addr, "carol", false);
    let code3 = wait_agreement(&[&alice, &bob, &carol], "alice, bob, carol");
    assert_eq!(code3.split(' ').count(), 6, "{code3}");

    // An encrypted text message, typed on bob's stdin.
    let mut seen = false;
    for attempt in 0..5 {
        bob.send_line(&format!("hello from bob {attempt}"));
        let got = |p: &Proc| {
            p.stdout()
                .iter()
                .any(|l| l.starts_with("[bob] hello from bob"))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline && !(got(&alice) && got(&carol)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if got(&alice) && got(&carol) {
            seen = true;
            break;
        }
    }
    assert!(
        seen,
        "alice or carol did not print bob's message\nalice: {:?}\ncarol: {:?}\nbob err: {:?}",
        alice.stdout(),
        carol.stdout(),
        bob.stderr()
    );

    // Carol dies without a Leave: the leader removes her after MEMBER_TIMEOUT_INTERVALS
    // heartbeat intervals and the others rekey.
    carol.kill();
    let code2 = wait_agreement(&[&alice, &bob], "alice, bob");
    assert_ne!(code2, code3, "a new epoch after carol's removal");
    alice.wait_line("about carol", WAIT, |l| l == "- carol timed out");

    // End of input: bob leaves cleanly with a signed Leave.
    bob.close_stdin();
    let status = bob.wait_exit(WAIT);
    assert!(status.success(), "bob exit {status:?}: {:?}", bob.stderr());
    assert!(bob.stdout().iter().any(|l| l == "left the meeting"));
    alice.wait_line("about bob", WAIT, |l| l == "- bob left");
    let code1 = wait_agreement(&[&alice], "alice");
    assert_ne!(code1, code2);

    // The relay goes away: alice reports it in one line and fails.
    relay.kill();
    let mut alice = alice;
    let status = alice.wait_exit(WAIT);
    assert!(!status.success());
    let err = alice.stderr();
    let last = err.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("error: the relay closed the connection"),
        "{err:?}"
    );
}

#[test]
fn relay_survives_bad_input_and_keeps_forwarding() {
    let (_relay, addr) = start_relay();
    let timeout = Some(Duration::from_secs(10));
    // A length prefix of 4 GiB, then an unknown type, then a frame before any hello.
    let bad: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0, 0, 0, 2, 99, 0],
        &[0, 0, 0, 4, 3, 1, 2, 3],
        &[0, 0, 0, 3, 1, 200, 0],
    ];
    for b in bad {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(timeout).unwrap();
        s.write_all(b).unwrap();
        let mut sink = Vec::new();
        // The relay closes the connection (possibly after a notice).
        let _ = s.read_to_end(&mut sink);
    }
    // Truncated message, then the client disappears.
    {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(&[0, 0, 1, 0, 1, 5]).unwrap();
    }
    // Two well-behaved clients still get each other's frames.
    let hello = |name: &str| {
        let mid = b"relay-test-meeting-0001";
        let mut body = vec![1u8, mid.len() as u8];
        body.extend_from_slice(mid);
        body.extend_from_slice(name.as_bytes());
        let mut m = (body.len() as u32).to_be_bytes().to_vec();
        m.extend_from_slice(&body);
        m
    };
    let mut a = TcpStream::connect(&addr).unwrap();
    let mut b = TcpStream::connect(&addr).unwrap();
    b.set_read_timeout(timeout).unwrap();
    a.write_all(&hello("a")).unwrap();
    b.write_all(&hello("b")).unwrap();
    // Give the relay a moment to register both before a sends.
    let frame = [0u8, 0, 0, 6, 3, b'f', b'r', b'a', b'm', b'e'];
    let mut got = [0u8; 10];
    let mut ok = false;
    for _ in 0..50 {
        a.write_all(&frame).unwrap();
        b.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if b.read_exact(&mut got).is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "b received nothing");
    assert_eq!(got, frame);
}

#[test]
fn join_reports_bad_addresses_and_missing_relays_in_one_line() {
    let (status, _, err) = run(&["join", "--relay", "not an address", "--name", "x"], WAIT);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: bad relay address"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Nothing listens on port 1 of loopback.
    let (status, _, err) = run(&["join", "--relay", "127.0.0.1:1", "--name", "x"], WAIT);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: cannot reach the relay"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let (status, _, err) = run(
        &[
            "join",
            "--relay",
            "127.0.0.1:1",
            "--name",
            "x",
            "--meeting",
            "short",
        ],
        WAIT,
    );
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: --meeting"), "{err}");
}

#[test]
fn joining_a_meeting_nobody_leads_times_out_with_a_clear_error() {
    let (_relay, addr) = start_relay();
    // Stdin stays open (end of input would mean "leave").
    let mut p = Proc::spawn(
        "lonely",
        &[
            "join",
            "--relay",
            &addr,
            "--name",
            "lonely",
            "--join-timeout",
            "2",
            "--heartbeat-ms",
            "500",
        ],
    );
    let status = p.wait_exit(WAIT);
    let err = p.stderr().join("\n");
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap_or("")
            .starts_with("error: not admitted within 2 s"),
        "{err}"
    );
}

/// The leader's process dies: the relay tells the others its connection closed (GONE), they
/// probe it and fail over in about a second (VOTE-0), far sooner than the 35 s that three
/// missed 10 s heartbeats would take.
#[test]
fn leader_death_is_noticed_through_the_relay_hint() {
    let (_relay, addr) = start_relay();
    let mut alice = join_with(&addr, "alice", true, "10000");
    alice.wait_line("for epoch 1", WAIT, |l| {
        l.starts_with("epoch 1 security code")
    });
    let bob = join_with(&addr, "bob", false, "10000");
    bob.wait_line("joined", WAIT, |l| l.starts_with("joined as leaf"));
    let carol = join_with(&addr, "carol", false, "10000");
    let before = wait_agreement(&[&alice, &bob, &carol], "alice, bob, carol");
    alice.kill();
    let killed = std::time::Instant::now();
    let after = wait_agreement(&[&bob, &carol], "bob, carol");
    let took = killed.elapsed();
    assert_ne!(before, after);
    assert!(
        took < Duration::from_secs(10),
        "failover took {took:?} after the leader died"
    );
    bob.wait_line("the hint", WAIT, |l| {
        l.starts_with("relay: the leader's connection closed")
    });
}
