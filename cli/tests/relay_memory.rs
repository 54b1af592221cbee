//! `conclave relay` under attack over loopback: connections that send large forged commits and a
//! peer that reads one byte every two seconds while it is sent large frames. The relay's resident
//! memory stays under a bound, the slow reader is cut off, and an honest pair still talks.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use conclave_core::protocol::encode;
use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use conclave_core::protocol::v1::{CommitBundle, Envelope, SignedMessage, envelope::Body};

const MIB: u64 = 1 << 20;
/// The relay's resident memory must stay under this: its documented worst case (relay.rs,
/// "Memory") for this test's 14 connections is READ_BUDGET_BYTES (32 MiB) + RELAY_BUFFER_BYTES
/// (128 MiB) + 14 × (16 KiB read buffer + 32 KiB queue slots + 2 × 256 KiB stacks) + a few MiB
/// at start ≈ 175 MiB. The previous relay held 512 MiB of forged commits here (every meeting's
/// log kept 256 of them) and never cut the slow reader off.
const RSS_BOUND_MIB: u64 = 200;
/// Forged commit meetings, connections per meeting, and commits per connection.
const FORGED_MEETINGS: usize = 4;
const FORGERS_PER_MEETING: usize = 2;
const FORGED_COMMITS: usize = 16;
/// The slow reader must be cut off within this long of being sent frames (two drain windows
/// of 5 s and slack for a loaded machine).
const CUT_OFF_WITHIN: Duration = Duration::from_secs(25);

struct Relay {
    child: Child,
    addr: String,
    out: Arc<Mutex<Vec<String>>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    fn start() -> Relay {
        let mut child = Command::new(env!("CARGO_BIN_EXE_conclave"))
            .args(["relay", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the relay");
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        let mut relay = Relay {
            child,
            addr: String::new(),
            out,
        };
        let line = relay.wait_line(Duration::from_secs(20), |l| l.contains("listening on "));
        relay.addr = line.rsplit(' ').next().unwrap().to_string();
        relay
    }

    fn find_line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.out.lock().unwrap().iter().find(|l| pred(l)).cloned()
    }

    fn wait_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.find_line(&pred) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no such relay line within {timeout:?}:\n{}",
                self.out.lock().unwrap().join("\n")
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the relay's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kib / 1024
    }

    fn connect(&self, meeting: &str, name: &str) -> TcpStream {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_nodelay(true).unwrap();
        let mut body = vec![1u8, meeting.len() as u8];
        body.extend_from_slice(meeting.as_bytes());
        body.extend_from_slice(name.as_bytes());
        s.write_all(&message(&body)).unwrap();
        self.wait_line(Duration::from_secs(10), |l| {
            l.starts_with(&format!("+ {name} connected to meeting {meeting}"))
        });
        s
    }
}

/// A length-prefixed message from its tag and body.
fn message(tag_and_body: &[u8]) -> Vec<u8> {
    let mut m = (tag_and_body.len() as u32).to_be_bytes().to_vec();
    m.extend_from_slice(tag_and_body);
    m
}

/// A SEND to everyone of an envelope that decodes as a commit, of almost `MAX_ENVELOPE_SIZE`,
/// signed by no one.
fn forged_commit(n: usize) -> Vec<u8> {
    let envelope = encode(&Envelope {
        body: Some(Body::Commit(CommitBundle {
            commit: Some(SignedMessage {
                content: vec![n as u8; MAX_ENVELOPE_SIZE - 200],
                signature: vec![1; 64],
            }),
            updates: vec![],
            proof: vec![],
        })),
    });
    assert!(envelope.len() <= MAX_ENVELOPE_SIZE);
    let mut body = vec![2u8, 0];
    body.extend_from_slice(&envelope);
    message(&body)
}

/// Reads and discards everything, as a fast client would.
fn drain(s: &TcpStream) {
    let mut r = s.try_clone().unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(r.read(&mut buf), Ok(n) if n > 0) {}
    });
}

/// Samples the relay's resident memory until dropped; keeps the maximum.
struct Sampler {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    fn start(relay: &Relay) -> Sampler {
        let max = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, st) = (Arc::clone(&max), Arc::clone(&stop));
        let path = format!("/proc/{}/status", relay.child.id());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(&path)
                    && let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse::<u64>().ok())
                {
                    m.fetch_max(kib / 1024, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler { max, stop }
    }

    fn max_mib(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `a` sends frames and an envelope for `b` until `b` gets both.
fn honest_pair_talks(a: &mut TcpStream, b: &mut TcpStream) {
    b.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let frame = message(b"\x03honest frame");
    let mut send = vec![2u8, 2, 1, b'b'];
    send.extend_from_slice(b"honest envelope");
    let send = message(&send);
    let deliver = message(b"\x04honest envelope");
    let mut want = [frame.as_slice(), deliver.as_slice()];
    let mut got_all = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !got_all {
        a.write_all(&frame).unwrap();
        a.write_all(&send).unwrap();
        let mut buf = [0u8; 256];
        match b.read(&mut buf) {
            Ok(0) => panic!("the relay closed the honest client"),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("honest client: {e}"),
        }
        for w in &mut want {
            if !w.is_empty() && seen.windows(w.len()).any(|x| x == *w) {
                *w = &[];
            }
        }
        got_all = want.iter().all(|w| w.is_empty());
    }
    assert!(
        got_all,
        "the honest pair did not get its frame and envelope through"
    );
}

#[test]
fn relay_memory_stays_bounded_under_forged_commits_and_slow_readers() {
    let relay = Relay::start();
    let sampler = Sampler::start(&relay);
    let start_rss = relay.rss_mib();
    let mut a = relay.connect("honest-meeting-0001", "a");
    let mut b = relay.connect("honest-meeting-0001", "b");

    // (a) Forged commits: every connection sends FORGED_COMMITS of 4 MiB to its meeting.
    let commit = Arc::new(forged_commit(1));
    let mut forgers = Vec::new();
    for m in 0..FORGED_MEETINGS {
        for f in 0..FORGERS_PER_MEETING {
            let mut s = relay.connect(&format!("forged-meeting-000{m}"), &format!("forger{m}-{f}"));
            drain(&s);
            let commit = Arc::clone(&commit);
            forgers.push(thread::spawn(move || {
                for _ in 0..FORGED_COMMITS {
                    s.write_all(&commit).unwrap();
                }
                s
            }));
        }
    }
    let forgers: Vec<TcpStream> = forgers.into_iter().map(|t| t.join().unwrap()).collect();
    // Close each forged meeting: its last disconnect line reports what it forwarded and logged
    // (the relay reads what a client sent before its end of stream).
    let mut logged = Vec::new();
    for (m, pair) in forgers.chunks(FORGERS_PER_MEETING).enumerate() {
        for s in pair {
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let line = relay.wait_line(Duration::from_secs(20), |l| {
            l.starts_with(&format!("- forger{m}-")) && l.contains("(0 connected;")
        });
        let (envelopes, log_bytes, all_meetings) = meeting_stats(&line);
        assert_eq!(
            envelopes,
            (FORGED_COMMITS * FORGERS_PER_MEETING) as u64,
            "{line}"
        );
        assert!(log_bytes <= 16 * MIB, "COMMIT_LOG_BYTES: {line}");
        assert!(all_meetings <= 32 * MIB, "COMMIT_LOG_TOTAL_BYTES: {line}");
        logged.push(log_bytes);
    }
    let after_forgery = sampler.max_mib();

    // (b) A slow reader that another participant sends 1 MiB frames to.
    let mut slow = relay.connect("slow-meeting-00001", "slow");
    let mut fast = relay.connect("slow-meeting-00001", "fast");
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    let mut frame = vec![3u8];
    frame.extend_from_slice(&vec![0x77; 1 << 20]);
    let frame = message(&frame);
    let sender = thread::spawn(move || {
        while !st.load(Ordering::Relaxed) {
            if fast.write_all(&frame).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(25));
        }
        fast
    });
    let fed = Instant::now();
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut cut_off = None;
    while fed.elapsed() < CUT_OFF_WITHIN && cut_off.is_none() {
        let mut one = [0u8; 1];
        let _ = slow.read(&mut one);
        thread::sleep(Duration::from_secs(2));
        cut_off = relay.find_line(|l| l.starts_with("- slow disconnected: too slow"));
    }
    let cut_after = fed.elapsed();
    // Meanwhile, and after, the honest pair still talks.
    honest_pair_talks(&mut a, &mut b);
    stop.store(true, Ordering::Relaxed);
    let _fast = sender.join().unwrap();
    let peak = sampler.max_mib();
    drop(sampler);

    eprintln!(
        "relay RSS: {start_rss} MiB at start, peak {after_forgery} MiB after the forged commits, \
         peak {peak} MiB overall; slow reader cut off after {cut_after:?}; \
         commit log bytes per forged meeting {logged:?}"
    );
    assert!(
        cut_off.is_some(),
        "the slow reader was not cut off within {CUT_OFF_WITHIN:?}:\n{}",
        relay.out.lock().unwrap().join("\n")
    );
    // What the slow reader still has buffered ends: the relay closed the connection.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(
        peak < RSS_BOUND_MIB,
        "relay RSS peaked at {peak} MiB (bound {RSS_BOUND_MIB} MiB)"
    );
}

/// The envelopes forwarded, the bytes of commits logged by the meeting, and by all meetings,
/// from a relay disconnect line ("... meeting so far: N envelopes, N frames, N bytes forwarded,
/// N commits logged (N bytes; N in all meetings), N dropped)").
fn meeting_stats(line: &str) -> (u64, u64, u64) {
    let stats = line.split("meeting so far: ").nth(1).expect(line);
    let envelopes = stats.split(' ').next().unwrap().parse().expect(line);
    let logged = stats.split("logged (").nth(1).expect(line);
    let mut numbers = logged
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse::<u64>().expect(line));
    let (bytes, all) = (numbers.next().expect(line), numbers.next().expect(line));
    (envelopes, bytes, all)
}
