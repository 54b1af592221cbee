//! The decode expansion bound (`MAX_DECODE_EXPANSION`, spec/wire.md section 3): while
//! `decode_bounded` decodes an input of `n` bytes, the heap bytes it holds at once never exceed
//! `MAX_DECODE_EXPANSION * n + SLACK`. Measured with a counting global allocator on the worst
//! inputs we can build: empty entries of every repeated field up to its limit (and just past a
//! power of two, where a doubling vector holds the most spare room), maximal bytes fields, the
//! deepest nesting the schema allows, and all of these at once in a 4 MiB envelope.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use conclave_protocol::limits::{
    MAX_DECODE_EXPANSION, MAX_ENVELOPE_SIZE, MAX_NODE_UPDATES, MAX_PARTICIPANTS, MAX_PATH_NODES,
    MAX_PROOF_HASHES, MAX_SUITES,
};
use conclave_protocol::v1 as pb;
use conclave_protocol::{CheckedMessage, MessageKind, decode_bounded};

/// Constant allowance for the decoded message's own small allocations on tiny inputs.
const SLACK: usize = 4096;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// Counts the bytes this thread holds; a reallocation counts old and new blocks until it
/// returns (as if it had to copy).
struct Counting;

fn grow(n: usize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get().saturating_add(n);
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn shrink(n: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get().saturating_sub(n)));
}

// SAFETY: forwards every call to `System` unchanged; only bookkeeping is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        shrink(layout.size());
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap bytes held while decoding `bytes` as `M` (the decoded message included).
fn peak<M: CheckedMessage>(bytes: &[u8]) -> (usize, bool) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = decode_bounded::<M>(MessageKind::Envelope, bytes, MAX_ENVELOPE_SIZE);
    let held = PEAK.with(Cell::get).saturating_sub(base);
    let ok = r.is_ok();
    drop(r);
    (held, ok)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn lfield(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(field) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// Counts from 1 to `max`, with every power of two plus one (the worst spare room) and `max`.
fn counts(max: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..usize::BITS)
        .map(|k| (1usize << k) + 1)
        .take_while(|&n| n <= max)
        .collect();
    v.extend([1, max]);
    v
}

struct Report {
    worst: f64,
    worst_case: String,
}

impl Report {
    fn check(&mut self, case: &str, input: &[u8], (held, ok): (usize, bool)) {
        assert!(ok, "{case}: the worst case must be a valid input");
        let bound = MAX_DECODE_EXPANSION * input.len() + SLACK;
        assert!(
            held <= bound,
            "{case}: {held} bytes held for {} input bytes (bound {bound})",
            input.len()
        );
        // The multiple this input needs on top of SLACK.
        let ratio = held.saturating_sub(SLACK) as f64 / input.len().max(1) as f64;
        if ratio > self.worst {
            self.worst = ratio;
            self.worst_case = format!("{case} ({} bytes in, {held} held)", input.len());
        }
    }
}

/// Empty entries of each repeated field, at each count of `counts`.
fn repeated_fields(r: &mut Report) {
    // (label, entry, field, limit, decode as): empty entries of each repeated field, top level
    // and inside an Envelope.
    type Peak = fn(&[u8]) -> (usize, bool);
    let fields: [(&str, u32, usize, Peak); 9] = [
        (
            "CommitBundle.updates",
            2,
            MAX_NODE_UPDATES,
            peak::<pb::CommitBundle>,
        ),
        (
            "CommitBundle.proof",
            3,
            MAX_PROOF_HASHES,
            peak::<pb::CommitBundle>,
        ),
        (
            "HeartbeatBundle.echoes",
            2,
            MAX_PARTICIPANTS,
            peak::<pb::HeartbeatBundle>,
        ),
        (
            "HeartbeatBundle.proof",
            3,
            MAX_PROOF_HASHES,
            peak::<pb::HeartbeatBundle>,
        ),
        ("Commit.removes", 8, MAX_PARTICIPANTS, peak::<pb::Commit>),
        ("Commit.adds", 9, MAX_PARTICIPANTS, peak::<pb::Commit>),
        (
            "GroupInfo.roster",
            9,
            MAX_PARTICIPANTS,
            peak::<pb::GroupInfo>,
        ),
        (
            "Announcement.hpke_keys",
            5,
            MAX_SUITES,
            peak::<pb::Announcement>,
        ),
        (
            "PathSecrets.nodes",
            2,
            MAX_PATH_NODES,
            peak::<pb::PathSecrets>,
        ),
    ];
    for (name, field, max, measure) in fields {
        let entry = lfield(field, &[]);
        for n in counts(max) {
            let input = entry.repeat(n);
            r.check(&format!("{name} x{n}"), &input, measure(&input));
        }
    }
}

/// Updates inside an envelope: empty, and with every nested message present.
fn nested_updates(r: &mut Report) {
    for n in counts(MAX_NODE_UPDATES) {
        let input = lfield(2, &lfield(2, &[]).repeat(n));
        r.check(
            &format!("Envelope(updates x{n})"),
            &input,
            peak::<pb::Envelope>(&input),
        );
    }
    // The deepest nesting: Envelope > CommitBundle > IndexedUpdate > NodeUpdate, each present.
    let node = [vec![0x08, 0x01], lfield(3, &[5; 48])].concat();
    let indexed = [vec![0x08, 0x01], lfield(2, &node)].concat();
    for n in counts(MAX_NODE_UPDATES) {
        let input = lfield(2, &lfield(2, &indexed).repeat(n));
        r.check(
            &format!("Envelope(full updates x{n})"),
            &input,
            peak::<pb::Envelope>(&input),
        );
        let minimal = lfield(2, &lfield(2, &lfield(2, &[])).repeat(n));
        r.check(
            &format!("Envelope(empty NodeUpdate x{n})"),
            &minimal,
            peak::<pb::Envelope>(&minimal),
        );
    }
}

#[test]
fn decoding_allocates_at_most_the_stated_multiple_of_the_input() {
    let mut r = Report {
        worst: 0.0,
        worst_case: String::new(),
    };
    repeated_fields(&mut r);
    nested_updates(&mut r);
    // Largest bytes fields: one signed content filling the envelope.
    let content = vec![0xab; MAX_ENVELOPE_SIZE - 16];
    let big = lfield(5, &lfield(1, &content));
    r.check(
        "Envelope(leave, 4 MiB content)",
        &big,
        peak::<pb::Envelope>(&big),
    );
    // Everything at once in one 4 MiB envelope: every update and proof hash present, the rest
    // of the space in the signed commit.
    let mut bundle = lfield(2, &lfield(2, &[])).repeat(MAX_NODE_UPDATES);
    bundle.extend(lfield(3, &[]).repeat(MAX_PROOF_HASHES));
    let room = MAX_ENVELOPE_SIZE - bundle.len() - 32;
    bundle.extend(lfield(1, &lfield(1, &vec![1; room])));
    let all = lfield(2, &bundle);
    assert!(all.len() <= MAX_ENVELOPE_SIZE);
    let held = peak::<pb::Envelope>(&all);
    eprintln!(
        "4 MiB envelope with every limit reached: {} bytes held ({:.2}x)",
        held.0,
        held.0 as f64 / all.len() as f64
    );
    r.check("Envelope(all limits, 4 MiB)", &all, held);
    eprintln!("worst expansion {:.1}x + SLACK: {}", r.worst, r.worst_case);
    // The counter works and the bound is not loose by an order of magnitude.
    assert!(r.worst > (MAX_DECODE_EXPANSION / 2) as f64, "{}", r.worst);
}

/// Over-limit input is rejected by the pre-pass before prost allocates anything.
#[test]
fn over_limit_input_is_rejected_without_allocating() {
    let bomb = lfield(2, &lfield(2, &[]).repeat(2_000_000));
    assert!(bomb.len() <= MAX_ENVELOPE_SIZE);
    let (held, ok) = peak::<pb::Envelope>(&bomb);
    assert!(!ok);
    assert_eq!(held, 0, "the check allocates nothing");
}
