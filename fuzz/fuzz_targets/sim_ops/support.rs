//! Helpers of the `sim_ops` target: what a participant shows, picking participants, the frame
//! check, the healing check and the forged far-future commit.

use conclave_core::frame::{FrameConfig, FrameCrypto};
use conclave_core::meeting::Meeting;
use conclave_core::protocol::encode;
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::sim::Sim;
use rand_chacha::ChaCha20Rng;

use crate::common;
#[derive(Debug, PartialEq, Eq)]
pub struct View {
    active: bool,
    ended: bool,
    leader: bool,
    epoch: u64,
    transcript: [u8; 32],
    code: Option<String>,
    leader_leaf: u32,
    locked: bool,
    roster: Vec<(String, u32)>,
}

pub fn view(m: &Meeting) -> View {
    View {
        active: m.is_active(),
        ended: m.is_ended(),
        leader: m.is_leader(),
        epoch: m.epoch(),
        transcript: m.transcript_hash(),
        code: m.security_code(),
        leader_leaf: m.leader_leaf(),
        locked: m.is_locked(),
        roster: m
            .participants()
            .into_iter()
            .map(|p| (p.participant_id, p.leaf))
            .collect(),
    }
}

pub type S = Sim<ChaCha20Rng>;

pub fn pick(s: &S, i: u8, active_only: bool) -> Option<String> {
    let ids: Vec<&String> = s
        .participants
        .iter()
        .filter(|(_, m)| !active_only || m.is_active())
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return None;
    }
    Some(ids[usize::from(i) % ids.len()].clone())
}

/// Fingerprint of the leader in `m`'s view.
pub fn followed_leader(m: &Meeting) -> Option<String> {
    m.participants()
        .into_iter()
        .find(|p| p.is_leader)
        .map(|p| p.fingerprint)
}

pub fn check_always(s: &S) {
    for (id, m) in &s.participants {
        if m.is_ended() {
            assert!(
                m.epoch_secrets().is_none(),
                "{id} ended but holds epoch secrets"
            );
            assert!(!m.has_keys() && m.security_code().is_none());
        }
    }
}

pub fn frame(s: &S, from: &str, to: &str, stream: u32, payload: &[u8], prefix: usize) {
    let (Some(a), Some(b)) = (s.participants.get(from), s.participants.get(to)) else {
        return;
    };
    let (Some(sa), Some(sb)) = (a.epoch_secrets(), b.epoch_secrets()) else {
        return;
    };
    if a.own_leaf() == b.own_leaf() {
        return;
    }
    let tx = FrameCrypto::new(FrameConfig::default()).expect("config");
    tx.set_own_sender(a.own_leaf()).expect("sender");
    tx.install_epoch(sa.epoch, &sa.frame_secret, s.now)
        .expect("install");
    let rx = FrameCrypto::new(FrameConfig::default()).expect("config");
    rx.set_own_sender(b.own_leaf()).expect("sender");
    rx.install_epoch(sb.epoch, &sb.frame_secret, s.now)
        .expect("install");
    let prefix = prefix.min(payload.len()).min(255);
    let f = tx.encrypt(stream, payload, prefix).expect("encrypt");
    let r = rx.decrypt(&f, s.now);
    let same = sa.epoch == sb.epoch && sa.frame_secret.expose() == sb.frame_secret.expose();
    if same {
        let d = r.unwrap_or_else(|e| panic!("{to} cannot read {from}'s frame: {e}"));
        assert_eq!(d.plaintext, payload);
        assert_eq!(d.sender, a.own_leaf());
    } else {
        assert!(
            r.is_err(),
            "{to} (epoch {}) read a frame of {from} (epoch {}) under other keys",
            sb.epoch,
            sa.epoch
        );
    }
}

/// Whether the meeting has healed, or why not.
pub fn healed(s: &S, honest: bool) -> Result<(), String> {
    let active = s.active();
    let Some(l) = s.leader() else {
        if honest && !active.is_empty() {
            return Err(format!(
                "honest relay, active {active:?} but no single leader"
            ));
        }
        return Ok(());
    };
    let lm = &s.participants[l];
    let lcode = lm
        .security_code()
        .ok_or(format!("leader {l} has no keys"))?;
    let lfp = lm.identity().fingerprint_string();
    for id in &active {
        let m = &s.participants[*id];
        let follows = followed_leader(m).as_deref() == Some(lfp.as_str());
        if !follows {
            if honest {
                return Err(format!("honest relay, but {id} follows another leader"));
            }
            continue;
        }
        if m.epoch() != lm.epoch() || m.security_code().as_deref() != Some(lcode.as_str()) {
            return Err(format!(
                "{id} at epoch {} (keys {}) disagrees with leader {l} at epoch {}",
                m.epoch(),
                m.has_keys(),
                lm.epoch()
            ));
        }
    }
    Ok(())
}

/// An unsigned commit envelope for `epoch` (the relay cannot sign).
pub fn far_future_commit(epoch: u64) -> Vec<u8> {
    let c = pb::Commit {
        version: 1,
        suite: 1,
        meeting_id: common::MEETING_ID.to_vec(),
        epoch,
        prev_transcript_hash: vec![0; 32],
        leader_leaf: 0,
        reason: pb::CommitReason::Rotation as i32,
        leaf_count: 1,
        updates_root: vec![0; 32],
        ..Default::default()
    };
    encode(&pb::Envelope {
        body: Some(Body::Commit(pb::CommitBundle {
            commit: Some(pb::SignedMessage {
                content: encode(&c),
                signature: vec![0; 64],
            }),
            updates: vec![],
            proof: vec![],
        })),
    })
}

/// With `SIM_OPS_TRACE` set, prints (to stderr) the events since the last observation and every
/// participant whose epoch state or leadership changed: the triage view of a finding
/// (`FUZZING.md`, "Triage").
pub fn trace(s: &S) {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    thread_local! {
        static ON: bool = std::env::var_os("SIM_OPS_TRACE").is_some();
        static SEEN: RefCell<(usize, BTreeMap<String, String>)> = RefCell::default();
    }
    if !ON.with(|on| *on) {
        return;
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if s.events.len() < seen.0 {
            // A new input (several replayed in one process): start over.
            *seen = Default::default();
        }
        let t = s.now.as_secs();
        for (at, e) in s.events.iter().skip(seen.0) {
            eprintln!("[{t:>4}s] {at}: {e:?}");
        }
        seen.0 = s.events.len();
        for (id, m) in &s.participants {
            let state = format!(
                "epoch {} t={} leader={} active={} ended={} secrets={:?} roster={:?}",
                m.epoch(),
                hex_prefix(&m.transcript_hash()),
                m.is_leader(),
                m.is_active(),
                m.is_ended(),
                m.epoch_secrets()
                    .map(|x| (x.epoch, hex_prefix(&x.transcript_hash))),
                m.participants()
                    .into_iter()
                    .map(|p| p.participant_id)
                    .collect::<Vec<_>>(),
            );
            if seen.1.get(id) != Some(&state) {
                eprintln!("[{t:>4}s] {id} now {state}");
                seen.1.insert(id.clone(), state);
            }
        }
    });
}

fn hex_prefix(b: &[u8; 32]) -> String {
    b.iter().take(3).map(|x| format!("{x:02x}")).collect()
}
