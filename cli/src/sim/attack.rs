//! The attacks `conclave simulate --attack` mounts from the relay, and how their detection is
//! checked. Each attack is the relay (or, where said, a malicious member) doing one thing the
//! threat model allows (`spec/overview.md` section 3); the engines must reject it with a typed
//! error and carry on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use conclave_core::frame::{FrameHeader, MAX_FRAME_PLAINTEXT};
use conclave_core::meeting::Meeting;
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use conclave_core::protocol::v1::{self as pb, CommitReason, RemoveReason, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded, encode};
use conclave_core::schedule::labels;
use conclave_core::sim::{InFlight, TapAction};
use conclave_core::{CipherSuite, IdentityKey, merkle};
use rand_core::Rng;

use super::report::{AttackReport, Detection};
use super::round2::Round2;
use super::{FrameAttack, MEETING_ID, Runner, VIDEO_STREAM};
use crate::CliError;

/// An attack the relay mounts in `conclave simulate --attack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// Flip the lock flag inside the leader's signed commit (the genuine copy follows).
    TamperCommit,
    /// Flip a ciphertext byte of media frames for one second (genuine copies follow).
    TamperFrame,
    /// Re-send every earlier commit to every member.
    ReplayCommit,
    /// Deliver every media frame twice for one second, then replay the first frames of the run.
    ReplayFrame,
    /// Inject announcements: one with a member's identity key the relay cannot sign for, one
    /// from another meeting.
    ForgedAnnouncement,
    /// A malicious member signs commits (removing a member, taking the lead) in the leader's
    /// place.
    NonLeaderCommit,
    /// Partition the meeting in two halves that each go on with their own leader.
    SplitView,
    /// Swap two wrapped keys of the key tree inside a rotation commit.
    SwapTreeEntries,
    /// Relabel media frames with another sender index and stream for one second.
    RelabelFrame,
    /// Re-send old Welcomes (sealed path keys) to the members they admitted.
    StaleWelcome,
    /// Inject a Leave for the leader, signed with the relay's own key.
    FalseLeaderLeft,
    /// Send control messages over MAX_ENVELOPE_SIZE, with lying length prefixes or truncated,
    /// and an oversized frame.
    Oversized,
    /// Starve the leader's successor of the leader's messages past the failover timeout, then
    /// heal (no failover without a quorum; no (key, nonce) sealed twice).
    ForkNonce,
    /// Cut off a member and a member the leader then removes for a long time (the removed
    /// member never gets a later epoch; the minority elects no leader).
    PartitionRemoved,
    /// Send a member many near-MAX_ENVELOPE_SIZE commits for future epochs, inside and beyond
    /// the buffering window (the buffer stays within MAX_PENDING_COMMIT_BYTES).
    Memory,
    /// Inject one unsigned commit for epoch + 2 at every member (no resync, no Welcome flood).
    ForgedGap,
    /// The leader leaves; drop only the handover commit on its way to the successor (the old
    /// leader re-sends it: one leader, one security code).
    DropHandover,
    /// Register a participant of the relay's own (a fresh identity) in a meeting that admits an
    /// allow-list of invited identities (refused).
    RelayMember,
    /// A member leaves and rejoins; replay its first announcement (refused as a replay, the
    /// live member unaffected).
    StaleAnnouncement,
    /// The leader removes a member; it rejoins with its identity while its old announcements
    /// are replayed, unlocked then locked (refused: removals are durable).
    RemovedRejoin,
}

impl AttackKind {
    /// The attack's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::TamperCommit => "tamper-commit",
            AttackKind::TamperFrame => "tamper-frame",
            AttackKind::ReplayCommit => "replay-commit",
            AttackKind::ReplayFrame => "replay-frame",
            AttackKind::ForgedAnnouncement => "forged-announcement",
            AttackKind::NonLeaderCommit => "non-leader-commit",
            AttackKind::SplitView => "split-view",
            AttackKind::SwapTreeEntries => "swap-tree-entries",
            AttackKind::RelabelFrame => "relabel-frame",
            AttackKind::StaleWelcome => "stale-welcome",
            AttackKind::FalseLeaderLeft => "false-leader-left",
            AttackKind::Oversized => "oversized",
            AttackKind::ForkNonce => "fork-nonce",
            AttackKind::PartitionRemoved => "partition-removed",
            AttackKind::Memory => "memory",
            AttackKind::ForgedGap => "forged-gap",
            AttackKind::DropHandover => "drop-handover",
            AttackKind::RelayMember => "relay-member",
            AttackKind::StaleAnnouncement => "stale-announcement",
            AttackKind::RemovedRejoin => "removed-rejoin",
        }
    }

    fn expected(self) -> &'static [&'static str] {
        match self {
            AttackKind::TamperCommit => &["BadSignature"],
            AttackKind::SwapTreeEntries => &["RootMismatch", "BadProof", "BadRoster", "Tree"],
            AttackKind::ReplayCommit => &["StaleEpoch", "Unexpected"],
            AttackKind::StaleWelcome => &["StaleEpoch", "Invalid"],
            AttackKind::ForgedAnnouncement => &["BadSignature", "WrongMeeting"],
            AttackKind::NonLeaderCommit => &["BadSignature", "NotLeader", "Unexpected"],
            AttackKind::FalseLeaderLeft => &["BadSignature"],
            AttackKind::Oversized => &["Decode"],
            AttackKind::TamperFrame => &["Tampered"],
            AttackKind::ReplayFrame => &["Replayed", "TooOld"],
            AttackKind::RelabelFrame => &["Tampered", "UnknownSender", "OwnFrame"],
            _ => &[],
        }
    }

    fn is_frame_attack(self) -> bool {
        matches!(
            self,
            AttackKind::TamperFrame | AttackKind::ReplayFrame | AttackKind::RelabelFrame
        )
    }
}

/// What a participant shows: everything an accepted forgery would change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    epoch: u64,
    transcript: [u8; 32],
    code: Option<String>,
    leader_leaf: u32,
    roster: Vec<String>,
    locked: bool,
}

fn views(r: &Runner) -> BTreeMap<String, View> {
    r.active()
        .into_iter()
        .map(|id| {
            let m = &r.sim.participants[&id];
            let v = View {
                epoch: m.epoch(),
                transcript: m.transcript_hash(),
                code: m.security_code(),
                leader_leaf: m.leader_leaf(),
                roster: m
                    .participants()
                    .into_iter()
                    .map(|p| p.participant_id)
                    .collect(),
                locked: m.is_locked(),
            };
            (id, v)
        })
        .collect()
}

/// The body of an encoded envelope.
pub fn body(payload: &[u8]) -> Option<Body> {
    decode_bounded::<pb::Envelope>(MessageKind::Envelope, payload, MAX_ENVELOPE_SIZE)
        .ok()?
        .body
}

/// An encoded envelope.
pub fn envelope(b: Body) -> Vec<u8> {
    encode(&pb::Envelope { body: Some(b) })
}

fn is_commit(payload: &[u8]) -> bool {
    matches!(body(payload), Some(Body::Commit(_)))
}

fn is_welcome(payload: &[u8]) -> bool {
    matches!(body(payload), Some(Body::Welcome(_)))
}

fn sign(identity: &IdentityKey, label: &str, content: Vec<u8>) -> pb::SignedMessage {
    let signature = identity.sign(label, &content).to_vec();
    pb::SignedMessage { content, signature }
}

/// The leader's commit with its lock flag flipped, signature kept.
fn tamper_commit(payload: &[u8]) -> Option<Vec<u8>> {
    let Some(Body::Commit(mut bundle)) = body(payload) else {
        return None;
    };
    let signed = bundle.commit.as_mut()?;
    let mut c: pb::Commit =
        decode_bounded(MessageKind::Commit, &signed.content, MAX_ENVELOPE_SIZE).ok()?;
    c.locked = !c.locked;
    signed.content = encode(&c);
    Some(envelope(Body::Commit(bundle)))
}

/// The commit with the ciphertexts of its first two key-tree entries swapped.
fn swap_entries(payload: &[u8]) -> Option<Vec<u8>> {
    let Some(Body::Commit(mut bundle)) = body(payload) else {
        return None;
    };
    if bundle.updates.len() < 2 {
        return None;
    }
    let a = bundle.updates[0].update.as_ref()?.ciphertext.clone();
    let b = bundle.updates[1].update.as_ref()?.ciphertext.clone();
    if a == b {
        return None;
    }
    bundle.updates[0].update.as_mut()?.ciphertext = b;
    bundle.updates[1].update.as_mut()?.ciphertext = a;
    Some(envelope(Body::Commit(bundle)))
}

/// Forged copies of `frame` for receiver `to` under a frame attack.
pub(crate) fn forge_frame(
    r: &mut Runner,
    kind: FrameAttack,
    to: &str,
    frame: &[u8],
) -> Vec<Vec<u8>> {
    match kind {
        FrameAttack::Tamper => {
            let mut f = frame.to_vec();
            let len = f.len();
            let i = len - 1 - (r.rng.next_u32() as usize % (len / 2).max(1));
            f[i] ^= 0x20;
            vec![f]
        }
        FrameAttack::Replay => Vec::new(),
        FrameAttack::Relabel => {
            let Ok(p) = FrameHeader::parse(frame) else {
                return Vec::new();
            };
            let own = r.sim.participants.get(to).map(|m| m.own_leaf());
            let others: Vec<u32> = r
                .sim
                .participants
                .get(to)
                .map(|m| m.participants())
                .unwrap_or_default()
                .into_iter()
                .map(|x| x.leaf)
                .filter(|l| Some(*l) != own && *l != p.header.sender)
                .collect();
            let mut out = Vec::new();
            let relabel = |h: FrameHeader| -> Option<Vec<u8>> { h.relabel(frame).ok() };
            let mut h = p.header;
            h.stream = if h.stream == VIDEO_STREAM {
                0
            } else {
                VIDEO_STREAM
            };
            out.extend(relabel(h));
            if let Some(&other) = others.first() {
                let mut h = p.header;
                h.sender = other;
                out.extend(relabel(h));
            }
            out
        }
    }
}

/// A running attack.
pub(crate) struct AttackState {
    kind: AttackKind,
    at: Duration,
    stage: u32,
    started: Option<Duration>,
    finished: bool,
    rejections: (usize, usize),
    log_start: usize,
    state_unchanged: Option<bool>,
    notes: Vec<String>,
    sides: Option<(BTreeSet<String>, BTreeSet<String>)>,
    codes_differ: Option<bool>,
    split_prevented: Option<bool>,
    leader_before: Option<String>,
    round2: Option<Round2>,
}

impl AttackState {
    pub fn new(kind: AttackKind, at: Duration) -> Self {
        Self {
            kind,
            at,
            stage: 0,
            started: None,
            finished: false,
            rejections: (0, 0),
            log_start: 0,
            state_unchanged: None,
            notes: Vec::new(),
            sides: None,
            codes_differ: None,
            split_prevented: None,
            leader_before: None,
            round2: Round2::new(kind, at),
        }
    }

    pub fn done(&self) -> bool {
        self.finished || self.round2.as_ref().is_some_and(Round2::done)
    }

    fn begin(&mut self, r: &mut Runner, text: String) {
        self.started = Some(r.sim.now);
        self.rejections.0 = r.rejections.len();
        self.log_start = r.tap.borrow().log.len();
        r.frame_detections.clear();
        r.frame_detection_counts.clear();
        r.note("attack", format!("ATTACK {}: {text}", self.kind.name()));
        self.stage = 1;
    }

    fn end(&mut self, r: &mut Runner) {
        r.settle();
        self.rejections.1 = r.rejections.len();
        self.finished = true;
        let n = self.rejections.1 - self.rejections.0;
        let f: u64 = r.frame_detection_counts.values().sum();
        r.note(
            "attack",
            format!(
                "attack over: {n} control message rejection{}, {f} frame rejection{}",
                if n == 1 { "" } else { "s" },
                if f == 1 { "" } else { "s" }
            ),
        );
    }

    fn since(&self, r: &Runner) -> Duration {
        self.started.map(|s| r.sim.now - s).unwrap_or_default()
    }

    /// Injects `payload` to `to` as the relay.
    pub(super) fn inject(r: &mut Runner, to: &str, payload: Vec<u8>) {
        r.tap.borrow_mut().carried_bytes += payload.len() as u64;
        r.scanner
            .scan(&payload, || format!("a message the relay injected to {to}"));
        r.sim.deliver_one(InFlight {
            from: "relay".into(),
            to: to.into(),
            payload,
        });
    }

    /// Injects every message and records whether any participant's view changed.
    fn inject_all(&mut self, r: &mut Runner, msgs: Vec<(String, Vec<u8>)>) {
        let before = views(r);
        for (to, p) in msgs {
            Self::inject(r, &to, p);
        }
        let unchanged = views(r) == before;
        self.state_unchanged = Some(self.state_unchanged.unwrap_or(true) && unchanged);
    }

    /// Advances the attack at the current virtual time.
    pub fn step(&mut self, r: &mut Runner) -> Result<(), CliError> {
        if let Some(a) = self.round2.as_mut() {
            return a.step(r);
        }
        if self.finished || r.sim.now < self.at {
            return Ok(());
        }
        let hb = r.config.heartbeat_interval;
        let elapsed = self.since(r);
        let limit = r.config.missed_heartbeats_limit;
        match (self.kind, self.stage) {
            (AttackKind::TamperCommit | AttackKind::SwapTreeEntries, 0) => {
                let Some(leader) = r.leader() else {
                    return Ok(());
                };
                let swap = self.kind == AttackKind::SwapTreeEntries;
                let from = leader.clone();
                r.tap.borrow_mut().mutate = Some(Box::new(move |m: &mut InFlight| {
                    if m.from != from {
                        return TapAction::Deliver;
                    }
                    let forged = if swap {
                        swap_entries(&m.payload)
                    } else {
                        tamper_commit(&m.payload)
                    };
                    match forged {
                        Some(f) => {
                            let genuine = m.clone();
                            m.payload = f;
                            TapAction::DeliverWith(vec![genuine])
                        }
                        None => TapAction::Deliver,
                    }
                }));
                let text = if swap {
                    format!(
                        "{leader} rotates the keys; the relay swaps two wrapped node keys in the \
                         commit's key-tree entries, then forwards the genuine commit too"
                    )
                } else {
                    format!(
                        "{leader} rotates the keys; the relay flips the lock flag inside the signed \
                         commit, then forwards the genuine commit too"
                    )
                };
                self.begin(r, text);
                let _ = r.sim.act(&leader, |m, now, _| m.rotate(now));
                self.state_unchanged = Some(true);
            }
            (AttackKind::TamperCommit | AttackKind::SwapTreeEntries, 1)
                if elapsed >= Duration::from_secs(1) =>
            {
                r.tap.borrow_mut().mutate = None;
                self.end(r);
            }
            (AttackKind::ReplayCommit, 0) => {
                let commits: Vec<Vec<u8>> = r
                    .tap
                    .borrow()
                    .log
                    .iter()
                    .filter(|m| is_commit(&m.payload))
                    .map(|m| m.payload.clone())
                    .collect();
                let targets = r.active();
                self.begin(
                    r,
                    format!(
                        "the relay re-sends all {} earlier commits to each of the {} members",
                        commits.len(),
                        targets.len()
                    ),
                );
                let msgs = targets
                    .iter()
                    .flat_map(|t| commits.iter().map(move |c| (t.clone(), c.clone())))
                    .collect();
                self.inject_all(r, msgs);
                self.end(r);
            }
            (AttackKind::StaleWelcome, 0) => {
                let active = r.active();
                let welcomes: Vec<(String, Vec<u8>)> = r
                    .tap
                    .borrow()
                    .log
                    .iter()
                    .filter(|m| is_welcome(&m.payload) && active.contains(&m.to))
                    .map(|m| (m.to.clone(), m.payload.clone()))
                    .collect();
                self.begin(
                    r,
                    format!(
                        "the relay re-sends {} old Welcomes (sealed path keys) to the members \
                         they once admitted",
                        welcomes.len()
                    ),
                );
                self.inject_all(r, welcomes);
                self.end(r);
            }
            (AttackKind::ForgedAnnouncement, 0) => {
                let Some(leader) = r.leader() else {
                    return Ok(());
                };
                let victim = r
                    .active()
                    .into_iter()
                    .find(|id| *id != leader)
                    .unwrap_or_else(|| leader.clone());
                let victim_key = r.sim.participants[&victim].identity().as_bytes().to_vec();
                let now = r.sim.now;
                let config = r.config.clone();
                let k1 = IdentityKey::generate(&mut r.sim.rng);
                let foreign = Meeting::join(
                    config.clone(),
                    b"another-meeting-on-the-same-relay",
                    "mallory",
                    k1,
                    now,
                    &mut r.sim.rng,
                )
                .map_err(|e| CliError::failed(format!("attack setup: {e}")))?
                .poll_transmit()
                .map(|t| t.payload)
                .unwrap_or_default();
                let k2 = IdentityKey::generate(&mut r.sim.rng);
                let k2_copy = IdentityKey::from_secret_bytes(k2.secret_bytes().as_ref())
                    .map_err(|e| CliError::failed(format!("attack setup: {e}")))?;
                let genuine = Meeting::join(config, MEETING_ID, "mallory", k2, now, &mut r.sim.rng)
                    .map_err(|e| CliError::failed(format!("attack setup: {e}")))?
                    .poll_transmit()
                    .map(|t| t.payload)
                    .unwrap_or_default();
                let mut msgs = vec![(leader.clone(), foreign)];
                if let Some(Body::Announcement(signed)) = body(&genuine)
                    && let Ok(mut a) = decode_bounded::<pb::Announcement>(
                        MessageKind::Announcement,
                        &signed.content,
                        MAX_ENVELOPE_SIZE,
                    )
                {
                    a.identity_key = victim_key;
                    let forged = sign(&k2_copy, labels::ANNOUNCEMENT, encode(&a));
                    msgs.push((leader.clone(), envelope(Body::Announcement(forged))));
                }
                self.begin(
                    r,
                    format!(
                        "the relay sends {leader} (leader) an announcement for 'mallory' carrying \
                         {victim}'s identity key (signed with its own key), and one from another \
                         meeting"
                    ),
                );
                self.inject_all(r, msgs);
                self.stage = 2;
            }
            (AttackKind::ForgedAnnouncement, 2) if elapsed >= hb => {
                let admitted = r.active().iter().any(|id| {
                    r.sim.participants[id]
                        .participants()
                        .iter()
                        .any(|p| p.participant_id == "mallory")
                });
                if admitted {
                    self.state_unchanged = Some(false);
                }
                self.notes.push(format!(
                    "mallory admitted: {}",
                    if admitted { "YES" } else { "no" }
                ));
                self.end(r);
            }
            (AttackKind::NonLeaderCommit, 0) => {
                let Some(leader) = r.leader() else {
                    return Ok(());
                };
                let members: Vec<String> =
                    r.active().into_iter().filter(|id| *id != leader).collect();
                let Some(malicious) = members.first().cloned() else {
                    return Ok(());
                };
                let key = IdentityKey::from_secret_bytes(&r.keys[&malicious])
                    .map_err(|e| CliError::failed(format!("attack setup: {e}")))?;
                let mut victims: Vec<String> = members[1..].to_vec();
                if victims.is_empty() {
                    victims.push(leader.clone());
                }
                let mut msgs = Vec::new();
                for v in &victims {
                    let m = &r.sim.participants[v];
                    let mal_leaf = m
                        .participants()
                        .iter()
                        .find(|p| p.participant_id == malicious)
                        .map(|p| p.leaf)
                        .unwrap_or(0);
                    let target = m
                        .participants()
                        .iter()
                        .find(|p| p.participant_id != malicious && p.leaf != m.leader_leaf())
                        .map(|p| p.leaf)
                        .unwrap_or_else(|| m.own_leaf());
                    msgs.push((
                        v.clone(),
                        forged_commit(
                            m,
                            &key,
                            m.leader_leaf(),
                            CommitReason::Membership,
                            &[target],
                        ),
                    ));
                    msgs.push((
                        v.clone(),
                        forged_commit(m, &key, mal_leaf, CommitReason::Handover, &[]),
                    ));
                }
                self.begin(
                    r,
                    format!(
                        "{malicious} (a malicious member) signs commits that remove a member in \
                         {leader}'s name and hand the lead to itself; the relay delivers them to {}",
                        victims.join(", ")
                    ),
                );
                self.inject_all(r, msgs);
                self.end(r);
            }
            (AttackKind::FalseLeaderLeft, 0) => {
                let Some(leader) = r.leader() else {
                    return Ok(());
                };
                let m = &r.sim.participants[&leader];
                let leave = pb::Leave {
                    version: PROTOCOL_VERSION,
                    meeting_id: MEETING_ID.to_vec(),
                    epoch: m.epoch(),
                    leaf: m.own_leaf(),
                    voted: false,
                };
                let relay_key = IdentityKey::generate(&mut r.sim.rng);
                let forged = envelope(Body::Leave(sign(&relay_key, labels::LEAVE, encode(&leave))));
                let msgs = r
                    .active()
                    .into_iter()
                    .map(|to| (to, forged.clone()))
                    .collect();
                self.leader_before = Some(leader.clone());
                self.begin(
                    r,
                    format!(
                        "the relay tells everyone that {leader} (leader) left, with a Leave it \
                         signed itself"
                    ),
                );
                self.inject_all(r, msgs);
                self.stage = 2;
            }
            (AttackKind::FalseLeaderLeft, 2) if elapsed >= hb * 2 => {
                let now_leader = r.leader();
                let same = now_leader == self.leader_before;
                self.notes.push(format!(
                    "leader two heartbeat intervals later: {} ({})",
                    now_leader.unwrap_or_else(|| "none".into()),
                    if same { "unchanged" } else { "CHANGED" }
                ));
                if !same {
                    self.state_unchanged = Some(false);
                }
                self.end(r);
            }
            (AttackKind::Oversized, 0) => {
                let targets = r.active();
                let commit = r
                    .tap
                    .borrow()
                    .log
                    .iter()
                    .rev()
                    .find(|m| is_commit(&m.payload))
                    .map(|m| m.payload.clone())
                    .unwrap_or_default();
                self.begin(
                    r,
                    format!(
                        "the relay sends each member a {} MiB envelope (over MAX_ENVELOPE_SIZE), one \
                         whose length prefix claims gigabytes, a truncated commit, and an oversized \
                         frame",
                        (MAX_ENVELOPE_SIZE + 1).div_ceil(1 << 20)
                    ),
                );
                let big = vec![0u8; MAX_ENVELOPE_SIZE + 1];
                let lying = vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
                let truncated = commit[..commit.len() / 2].to_vec();
                let mut msgs = Vec::new();
                for t in &targets {
                    msgs.push((t.clone(), big.clone()));
                    msgs.push((t.clone(), lying.clone()));
                    if !truncated.is_empty() {
                        msgs.push((t.clone(), truncated.clone()));
                    }
                }
                self.inject_all(r, msgs);
                if let Some((from, frame)) = r.early_frames.first().cloned()
                    && let Some(to) = targets.iter().find(|t| **t != from)
                {
                    let mut huge = frame;
                    huge.resize(huge.len() + MAX_FRAME_PLAINTEXT + 1, 0x42);
                    let fc = r.sim.participants[to].frame_crypto();
                    if let Err(e) = fc.decrypt(&huge, r.sim.now) {
                        r.record_frame_rejection(to, "relay", &e);
                    }
                }
                self.end(r);
            }
            (AttackKind::TamperFrame | AttackKind::ReplayFrame | AttackKind::RelabelFrame, 0) => {
                let (fa, text) = match self.kind {
                    AttackKind::TamperFrame => (
                        FrameAttack::Tamper,
                        "for one second the relay flips a ciphertext byte of every frame it \
                         forwards (and forwards the genuine frame too)",
                    ),
                    AttackKind::ReplayFrame => (
                        FrameAttack::Replay,
                        "for one second the relay delivers every frame twice, then replays the \
                         first frames of the meeting",
                    ),
                    _ => (
                        FrameAttack::Relabel,
                        "for one second the relay relabels every frame with another stream and \
                         another sender index (and forwards the genuine frame too)",
                    ),
                };
                r.frame_attack = Some(fa);
                self.begin(r, text.into());
            }
            (AttackKind::TamperFrame | AttackKind::ReplayFrame | AttackKind::RelabelFrame, 1)
                if elapsed >= Duration::from_secs(1) =>
            {
                r.frame_attack = None;
                if self.kind == AttackKind::ReplayFrame {
                    let now = r.sim.now;
                    let early = r.early_frames.clone();
                    for to in r.active() {
                        let fc = r.sim.participants[&to].frame_crypto();
                        for (from, f) in early.iter().filter(|(from, _)| *from != to) {
                            r.frames.injected += 1;
                            if let Err(e) = fc.decrypt(f, now) {
                                r.record_frame_rejection(&to, from, &e);
                            }
                        }
                    }
                }
                self.end(r);
            }
            (AttackKind::SplitView, 0) => {
                let Some(leader) = r.leader() else {
                    return Ok(());
                };
                let mut ranked: Vec<(u64, u32, String)> = r.sim.participants[&leader]
                    .participants()
                    .into_iter()
                    .filter(|p| {
                        p.participant_id != leader && r.active().contains(&p.participant_id)
                    })
                    .map(|p| (p.admitted_epoch, p.leaf, p.participant_id))
                    .collect();
                ranked.sort();
                let half = ranked.len().div_ceil(2);
                let side_b: BTreeSet<String> =
                    ranked.iter().take(half).map(|x| x.2.clone()).collect();
                let side_a: BTreeSet<String> = r
                    .active()
                    .into_iter()
                    .filter(|id| !side_b.contains(id))
                    .collect();
                r.tap.borrow_mut().partition = Some(side_a.clone());
                let text = format!(
                    "the relay partitions the meeting: {{{}}} keep {leader} as leader, \
                     {{{}}} stop hearing it and fail over to a leader of their own",
                    side_a.iter().cloned().collect::<Vec<_>>().join(", "),
                    side_b.iter().cloned().collect::<Vec<_>>().join(", ")
                );
                self.sides = Some((side_a, side_b));
                self.begin(r, text);
            }
            (AttackKind::SplitView, 1) => {
                let Some((a, b)) = self.sides.clone() else {
                    return Ok(());
                };
                let limit = r.config.missed_heartbeats_limit;
                let side_state = |side: &BTreeSet<String>| -> BTreeSet<(u64, String)> {
                    side.iter()
                        .filter_map(|id| r.sim.participants.get(id))
                        .filter(|m| m.is_active())
                        .filter_map(|m| m.security_code().map(|c| (m.epoch(), c)))
                        .collect()
                };
                let (sa, sb) = (side_state(&a), side_state(&b));
                let b_leads = b
                    .iter()
                    .any(|id| r.sim.participants.get(id).is_some_and(|m| m.is_leader()));
                let split_done = b_leads && sa.len() == 1 && sb.len() == 1;
                if split_done || self.since(r) >= hb * (2 * limit + 4) {
                    let codes_a: BTreeSet<&String> = sa.iter().map(|x| &x.1).collect();
                    let codes_b: BTreeSet<&String> = sb.iter().map(|x| &x.1).collect();
                    let differ =
                        !codes_a.is_empty() && !codes_b.is_empty() && codes_a.is_disjoint(&codes_b);
                    self.codes_differ = Some(differ);
                    // With quorum failover (state-machine.md 12.3) a side without a majority
                    // cannot elect a leader: the split is prevented, not merely visible.
                    self.split_prevented = Some(!b_leads);
                    if !b_leads {
                        self.notes.push(
                            "the cut-off side elected no leader: it holds no majority (FO-2), so \
                             the relay could not make a second branch"
                                .to_string(),
                        );
                    }
                    let show = |s: &BTreeSet<(u64, String)>| {
                        s.iter()
                            .map(|(e, c)| format!("epoch {e} code {c}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    let line_a = format!(
                        "side {{{}}} shows {}",
                        a.iter().cloned().collect::<Vec<_>>().join(", "),
                        show(&sa)
                    );
                    let line_b = format!(
                        "side {{{}}} shows {}",
                        b.iter().cloned().collect::<Vec<_>>().join(", "),
                        show(&sb)
                    );
                    r.note("attack", line_a.clone());
                    r.note("attack", line_b.clone());
                    self.notes.push(line_a);
                    self.notes.push(line_b);
                    self.notes.push(format!(
                        "security codes of the two sides {}",
                        if differ {
                            "differ: comparing them out of band reveals the split"
                        } else {
                            "DO NOT differ"
                        }
                    ));
                    // The relay now shows each side the other side's commits.
                    let cross: Vec<(String, Vec<u8>)> = r.tap.borrow().log[self.log_start..]
                        .iter()
                        .filter(|m| is_commit(&m.payload))
                        .flat_map(|m| {
                            let other = if a.contains(&m.from) { &b } else { &a };
                            other
                                .iter()
                                .map(|to| (to.clone(), m.payload.clone()))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    let n = cross.len();
                    for (to, p) in cross {
                        Self::inject(r, &to, p);
                    }
                    r.tap.borrow_mut().partition = None;
                    r.note(
                        "attack",
                        format!("the relay shows each side the other's commits ({n} deliveries) and heals the partition"),
                    );
                    self.stage = 2;
                }
            }
            (AttackKind::SplitView, 2) if elapsed >= hb * (2 * limit + 8) => {
                self.end(r);
            }
            _ => {}
        }
        Ok(())
    }

    /// The attack's outcome.
    pub fn report(&self, r: &Runner) -> AttackReport {
        if let Some(a) = &self.round2 {
            return a.report(r, self.kind_description());
        }
        let (a, b) = self.rejections;
        let b = if self.finished { b } else { r.rejections.len() };
        let rejected = &r.rejections[a.min(r.rejections.len())..b.min(r.rejections.len())];
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut evidence = Vec::new();
        let mut shown: BTreeSet<(String, String)> = BTreeSet::new();
        for x in rejected {
            *counts.entry(x.kind.clone()).or_default() += 1;
            if evidence.len() < 8 && shown.insert((x.at.clone(), x.kind.clone())) {
                evidence.push(Detection {
                    t: x.t,
                    at: x.at.clone(),
                    from: x.from.clone(),
                    what: "control message".into(),
                    kind: x.kind.clone(),
                    error: x.error.clone(),
                });
            }
        }
        for (k, v) in &r.frame_detection_counts {
            *counts.entry(k.clone()).or_default() += v;
        }
        let expected = self.kind.expected();
        // Frame evidence: the expected kinds first.
        let mut frames: Vec<&Detection> = r.frame_detections.iter().collect();
        frames.sort_by_key(|d| !expected.contains(&d.kind.as_str()));
        evidence.extend(frames.into_iter().take(6).cloned());
        if self.kind == AttackKind::SplitView
            && self.split_prevented == Some(true)
            && let Some((_, b)) = &self.sides
        {
            evidence.push(Detection {
                t: self.started.map_or(0.0, |t| t.as_secs_f64()),
                at: b.iter().cloned().collect::<Vec<_>>().join(", "),
                from: "relay".into(),
                what: "partition".into(),
                kind: "NoQuorum".into(),
                error: "the cut-off side holds no majority and elected no leader \
                        (state-machine.md FO-2): no second branch exists"
                    .into(),
            });
        }
        let detected = if self.kind == AttackKind::SplitView {
            self.codes_differ == Some(true) || self.split_prevented == Some(true)
        } else {
            let seen = expected.iter().any(|k| counts.contains_key(*k));
            seen && self.state_unchanged != Some(false) && self.finished
        };
        let mut notes = self.notes.clone();
        if let Some(u) = self.state_unchanged {
            notes.push(if u {
                "no participant's epoch, transcript, security code, leader or roster changed"
                    .to_string()
            } else {
                "a forged message CHANGED a participant's state".to_string()
            });
        }
        if self.kind.is_frame_attack() {
            notes.push(format!(
                "genuine frames kept decrypting: {} plaintext mismatches",
                r.frames.plaintext_mismatches
            ));
        }
        AttackReport {
            kind: self.kind.name().to_string(),
            description: self.kind_description(),
            detected,
            expected: expected.iter().map(|s| s.to_string()).collect(),
            rejections: counts,
            evidence,
            notes,
            metrics: BTreeMap::new(),
        }
    }

    fn kind_description(&self) -> String {
        use clap::ValueEnum;
        self.kind
            .to_possible_value()
            .and_then(|p| p.get_help().map(|h| h.to_string()))
            .unwrap_or_default()
    }
}

/// A next-epoch commit for `m`'s view, signed by `signer` (not the leader), removing `removes`
/// with a rebuild (no key-tree entries needed).
fn forged_commit(
    m: &Meeting,
    signer: &IdentityKey,
    leader_leaf: u32,
    reason: CommitReason,
    removes: &[u32],
) -> Vec<u8> {
    let width = m
        .participants()
        .iter()
        .map(|p| p.leaf)
        .filter(|l| !removes.contains(l))
        .max()
        .map(|l| (l + 1).next_power_of_two())
        .unwrap_or(1);
    let c = pb::Commit {
        version: PROTOCOL_VERSION,
        suite: CipherSuite::P256Sha256ChaCha20Poly1305.id(),
        meeting_id: MEETING_ID.to_vec(),
        epoch: m.epoch() + 1,
        prev_transcript_hash: m.transcript_hash().to_vec(),
        leader_leaf,
        reason: reason as i32,
        removes: removes
            .iter()
            .map(|&leaf| pb::Remove {
                leaf,
                reason: RemoveReason::Removed as i32,
            })
            .collect(),
        adds: vec![],
        locked: false,
        leaf_count: width,
        updates_root: merkle::root(&[]).to_vec(),
        update_count: 0,
        rebuild: true,
        votes: vec![],
        stable_heartbeat: None,
    };
    envelope(Body::Commit(pb::CommitBundle {
        commit: Some(sign(signer, labels::COMMIT, encode(&c))),
        updates: vec![],
        proof: vec![],
    }))
}
