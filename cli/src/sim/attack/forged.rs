//! Messages the relay makes up (`spec/state-machine.md` sections 5 and 8, `spec/wire.md`
//! section 3): announcements with someone else's identity key or for another meeting, a Leave
//! for the leader signed with the relay's own key, and oversized, lying or truncated bytes.

use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::frame::MAX_FRAME_PLAINTEXT;
use conclave_core::meeting::Meeting;
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, PROTOCOL_VERSION};
use conclave_core::protocol::v1::{self as pb, envelope::Body};
use conclave_core::protocol::{MessageKind, decode_bounded, encode};
use conclave_core::schedule::labels;
use conclave_core::sim::forge;

use super::{Attack, Findings, Flavor, inject_all};
use crate::CliError;
use crate::sim::records::MEETING_ID;
use crate::sim::runner::Runner;

/// The id the forged announcements claim.
const MALLORY: &str = "mallory";

fn setup_error(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("attack setup: {e}"))
}

/// `forged-announcement`: the relay sends the leader an announcement carrying a member's identity
/// key (signed with a key of its own), and one from another meeting.
pub(crate) struct ForgedAnnouncement;

impl Attack for ForgedAnnouncement {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn expected(&self) -> &'static [&'static str] {
        &["BadSignature", "WrongMeeting"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = r.leader() else {
            return Ok(None);
        };
        let victim = r
            .active()
            .into_iter()
            .find(|id| *id != leader)
            .unwrap_or_else(|| leader.clone());
        let victim_key = r.sim().participants[&victim].identity().as_bytes().to_vec();
        let now = r.sim().now;
        let config = r.config.clone();
        let k1 = IdentityKey::generate(r.engine_rng());
        let foreign = Meeting::join(
            config.clone(),
            b"another-meeting-on-the-same-relay",
            MALLORY,
            k1,
            now,
            r.engine_rng(),
        )
        .map_err(setup_error)?
        .poll_transmit()
        .map(|t| t.payload)
        .unwrap_or_default();
        let k2 = IdentityKey::generate(r.engine_rng());
        let k2_copy =
            IdentityKey::from_secret_bytes(k2.secret_bytes().as_ref()).map_err(setup_error)?;
        let genuine = Meeting::join(config, MEETING_ID, MALLORY, k2, now, r.engine_rng())
            .map_err(setup_error)?
            .poll_transmit()
            .map(|t| t.payload)
            .unwrap_or_default();
        let mut msgs = vec![(leader.clone(), foreign)];
        if let Some(Body::Announcement(signed)) = forge::body(&genuine)
            && let Ok(mut a) = decode_bounded::<pb::Announcement>(
                MessageKind::Announcement,
                &signed.content,
                MAX_ENVELOPE_SIZE,
            )
        {
            a.identity_key = victim_key;
            let forged = forge::sign(&k2_copy, labels::ANNOUNCEMENT, encode(&a));
            msgs.push((leader.clone(), forge::envelope(Body::Announcement(forged))));
        }
        inject_all(r, f, msgs);
        Ok(Some(format!(
            "the relay sends {leader} (leader) an announcement for '{MALLORY}' carrying \
             {victim}'s identity key (signed with its own key), and one from another \
             meeting"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if elapsed < r.config.heartbeat_interval {
            return Ok(false);
        }
        let admitted = r.active().iter().any(|id| {
            r.sim().participants[id]
                .participants()
                .iter()
                .any(|p| p.participant_id == MALLORY)
        });
        if admitted {
            f.state_unchanged = Some(false);
        }
        f.notes.push(format!(
            "{MALLORY} admitted: {}",
            if admitted { "YES" } else { "no" }
        ));
        Ok(true)
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}

/// `false-leader-left`: the relay tells everyone the leader left, with a Leave it signed itself.
#[derive(Default)]
pub(crate) struct FalseLeaderLeft {
    leader_before: Option<String>,
}

impl Attack for FalseLeaderLeft {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn expected(&self) -> &'static [&'static str] {
        &["BadSignature"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = r.leader() else {
            return Ok(None);
        };
        let m = &r.sim().participants[&leader];
        let leave = pb::Leave {
            version: PROTOCOL_VERSION,
            meeting_id: MEETING_ID.to_vec(),
            epoch: m.epoch(),
            leaf: m.own_leaf(),
            voted: false,
            transcript_hash: m.transcript_hash().to_vec(),
        };
        let relay_key = IdentityKey::generate(r.engine_rng());
        let forged = forge::envelope(Body::Leave(forge::sign(
            &relay_key,
            labels::LEAVE,
            encode(&leave),
        )));
        let msgs = r
            .active()
            .into_iter()
            .map(|to| (to, forged.clone()))
            .collect();
        self.leader_before = Some(leader.clone());
        inject_all(r, f, msgs);
        Ok(Some(format!(
            "the relay tells everyone that {leader} (leader) left, with a Leave it signed itself"
        )))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        f: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if elapsed < r.config.heartbeat_interval * 2 {
            return Ok(false);
        }
        let now_leader = r.leader();
        let same = now_leader == self.leader_before;
        f.notes.push(format!(
            "leader two heartbeat intervals later: {} ({})",
            now_leader.unwrap_or_else(|| "none".into()),
            if same { "unchanged" } else { "CHANGED" }
        ));
        if !same {
            f.state_unchanged = Some(false);
        }
        Ok(true)
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}

/// `oversized`: control messages over `MAX_ENVELOPE_SIZE`, with a lying length prefix or
/// truncated, and a frame over `MAX_FRAME_PLAINTEXT`.
pub(crate) struct Oversized;

impl Attack for Oversized {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn one_shot(&self) -> bool {
        true
    }

    fn expected(&self) -> &'static [&'static str] {
        &["Decode"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let targets = r.active();
        let commit = r
            .control_log()
            .iter()
            .rev()
            .find(|m| forge::is_commit(&m.payload))
            .map(|m| m.payload.clone())
            .unwrap_or_default();
        let text = format!(
            "the relay sends each member a {} MiB envelope (over MAX_ENVELOPE_SIZE), one \
             whose length prefix claims gigabytes, a truncated commit, and an oversized \
             frame",
            (MAX_ENVELOPE_SIZE + 1).div_ceil(1 << 20)
        );
        let big = vec![0u8; MAX_ENVELOPE_SIZE + 1];
        let lying = vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        let truncated = commit.get(..commit.len() / 2).unwrap_or_default().to_vec();
        let mut msgs = Vec::new();
        for t in &targets {
            msgs.push((t.clone(), big.clone()));
            msgs.push((t.clone(), lying.clone()));
            if !truncated.is_empty() {
                msgs.push((t.clone(), truncated.clone()));
            }
        }
        inject_all(r, f, msgs);
        if let Some((from, frame)) = r.early_frames.first().cloned()
            && let Some(to) = targets.iter().find(|t| **t != from)
        {
            let mut huge = frame;
            huge.resize(huge.len() + MAX_FRAME_PLAINTEXT + 1, 0x42);
            let fc = r.sim().participants[to].frame_crypto();
            if let Err(e) = fc.decrypt(&huge, r.sim().now) {
                r.record_frame_rejection(to, "relay", &e);
            }
        }
        Ok(Some(text))
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}
