//! Receiving a heartbeat and key confirmation (`spec/state-machine.md` section 9: HB-1..HB-9).

use super::proof::echo_leaf;
use super::state::{Phase, Role};
use super::{Meeting, MeetingError, RemovalReason, wire};
use crate::merkle;
use crate::schedule::labels;
use conclave_protocol::MessageKind;
use conclave_protocol::limits::{LIVENESS_NONCE_LEN, MAX_PARTICIPANTS, MAX_PROOF_HASHES};
use conclave_protocol::v1 as pb;
use rand_core::CryptoRng;
use std::time::Duration;
use subtle::ConstantTimeEq;

impl Meeting {
    pub(super) fn on_heartbeat<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::HeartbeatBundle,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if matches!(self.phase, Phase::Joining) {
            self.note_join_heartbeat(&bundle, now); // HB-1: only its hash, for the next announcement
            return Ok(());
        }
        let signed = bundle.heartbeat.as_ref().ok_or(MeetingError::Invalid {
            message: "heartbeat bundle",
            reason: "no heartbeat".into(),
        })?;
        let hb: pb::Heartbeat = wire::decode_content(MessageKind::Heartbeat, signed)?;
        wire::check_version("heartbeat", hb.version)?;
        wire::check_meeting("heartbeat", &hb.meeting_id, &self.meeting_id)?;
        if let Role::Leader(_) = &self.role {
            if hb.leader_leaf != self.own_leaf || hb.epoch > self.epoch {
                // HB-2: a leader ignores other heartbeats (branches never merge, 12.5).
                return Err(MeetingError::NotLeader {
                    message: "heartbeat",
                    epoch: hb.epoch,
                    signer: hb.leader_leaf,
                    leader: self.own_leaf,
                });
            }
            return Ok(());
        }
        if hb.leader_leaf != self.leader_leaf {
            return Err(MeetingError::NotLeader {
                message: "heartbeat",
                epoch: hb.epoch,
                signer: hb.leader_leaf,
                leader: self.leader_leaf,
            });
        }
        if let Role::Member(m) = &self.role
            && m.voted_out.contains(&hb.leader_leaf)
        {
            return Err(MeetingError::Unexpected {
                message: "heartbeat",
                reason: "signed by a leader we voted out (VOTE-2)",
            });
        }
        self.verify_member(self.leader_leaf, labels::HEARTBEAT, signed, "heartbeat")?;
        if hb.epoch < self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "heartbeat",
                epoch: hb.epoch,
                current: self.epoch,
            });
        }
        if hb.epoch > self.epoch {
            // HO-1: a leader that handed over to leave is done once the next leader has moved on.
            if let Role::Member(m) = &self.role
                && m.leaving.is_some()
            {
                self.end(RemovalReason::Left);
                return Ok(());
            }
            // Our leader is alive (its signature verified); we are behind.
            if let Role::Member(m) = &mut self.role {
                m.last_heartbeat = now;
                m.missed_reported = 0;
            }
            self.request_resync_at(
                now,
                rng,
                format!(
                    "the leader's heartbeat certifies epoch {} but we are at {}",
                    hb.epoch, self.epoch
                ),
            );
            return Ok(());
        }
        let th = wire::hash32("heartbeat", "transcript_hash", &hb.transcript_hash)?;
        if th != self.transcript_hash {
            return Err(MeetingError::TranscriptMismatch { epoch: hb.epoch });
        }
        let Role::Member(m) = &mut self.role else {
            return Ok(());
        };
        if hb.sequence <= m.hb_seq {
            return Err(MeetingError::ReplayedHeartbeat {
                epoch: hb.epoch,
                sequence: hb.sequence,
                last: m.hb_seq,
            });
        }
        let prev = wire::hash32("heartbeat", "prev_heartbeat_hash", &hb.prev_heartbeat_hash)?;
        if hb.sequence == 1 && prev != [0u8; 32] {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: "the first heartbeat of an epoch must have a zero previous hash".into(),
            });
        }
        if hb.sequence == m.hb_seq + 1 && m.hb_seq > 0 && prev != m.prev_hb_hash {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: format!(
                    "heartbeat {} does not chain to heartbeat {}",
                    hb.sequence, m.hb_seq
                ),
            });
        }
        // Liveness echo (ours, if delivered).
        let root = wire::hash32("heartbeat", "liveness_root", &hb.liveness_root)?;
        let mut entries = Vec::new();
        let mut our_echo = None;
        if bundle.echoes.len() > MAX_PARTICIPANTS || bundle.proof.len() > MAX_PROOF_HASHES {
            return Err(MeetingError::Invalid {
                message: "heartbeat bundle",
                reason: "too many echoes or proof hashes".into(),
            });
        }
        let mut prev_leaf: Option<u32> = None;
        for ie in &bundle.echoes {
            let e = ie.echo.as_ref().ok_or(MeetingError::Invalid {
                message: "heartbeat bundle",
                reason: "empty echo".into(),
            })?;
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(MeetingError::Invalid {
                    message: "heartbeat bundle",
                    reason: "echoes are not in ascending leaf order".into(),
                });
            }
            prev_leaf = Some(e.leaf);
            if e.nonce.len() != LIVENESS_NONCE_LEN {
                return Err(MeetingError::Invalid {
                    message: "heartbeat bundle",
                    reason: format!(
                        "echo for leaf {} has a {}-byte nonce",
                        e.leaf,
                        e.nonce.len()
                    ),
                });
            }
            entries.push((ie.index as usize, echo_leaf(e.leaf, &e.nonce)));
            if e.leaf == self.own_leaf {
                our_echo = Some(e.nonce.clone());
            }
        }
        let mut proof = Vec::with_capacity(bundle.proof.len());
        for p in &bundle.proof {
            proof.push(wire::hash32("heartbeat", "proof hash", p)?);
        }
        if hb.liveness_count as usize > MAX_PARTICIPANTS {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: format!("{} liveness echoes", hb.liveness_count),
            });
        }
        if hb.liveness_count == 0 && root != merkle::root(&[]) {
            return Err(MeetingError::RootMismatch {
                message: "heartbeat",
                epoch: hb.epoch,
            });
        }
        if !entries.is_empty() {
            let computed = merkle::compute_root(hb.liveness_count as usize, &entries, &proof)
                .map_err(|source| MeetingError::BadProof {
                    message: "heartbeat",
                    epoch: hb.epoch,
                    source,
                })?;
            if computed != root {
                return Err(MeetingError::RootMismatch {
                    message: "heartbeat",
                    epoch: hb.epoch,
                });
            }
        }
        // Key confirmation.
        let confirmation = wire::hash32("heartbeat", "confirmation", &hb.confirmation)?;
        let ours = self
            .secrets
            .as_ref()
            .filter(|s| s.epoch == hb.epoch)
            .map(|s| s.confirmation);
        let m_seq = hb.sequence;
        let hb_hash = crate::schedule::heartbeat_hash(&signed.content);
        m.hb_seq = m_seq;
        m.prev_hb_hash = hb_hash;
        m.last_heartbeat = now;
        if hb.stable {
            m.stable_proof = Some(signed.clone());
        }
        m.missed_reported = 0;
        m.suspected.clear();
        if let Some(nonce) = our_echo
            && self
                .nonces
                .iter()
                .any(|(n, _)| n.as_slice() == nonce.as_slice())
        {
            self.last_echo = now;
            self.stale_reported = false;
        }
        match ours {
            Some(c) if bool::from(c.ct_eq(&confirmation)) => {
                self.send_now(hb.epoch);
                if now.saturating_sub(self.last_echo) < self.config.liveness_timeout {
                    self.resume_sending();
                }
                Ok(())
            }
            Some(_) => {
                self.secrets = None;
                self.frames.clear();
                if let Role::Member(m) = &mut self.role {
                    m.path = None;
                }
                self.request_resync_at(
                    now,
                    rng,
                    format!("key confirmation for epoch {} differs from ours", hb.epoch),
                );
                let _ = rng;
                Err(MeetingError::ConfirmationMismatch { epoch: hb.epoch })
            }
            None => {
                self.request_resync_at(now, rng, format!("no keys for epoch {}", hb.epoch));
                Ok(())
            }
        }
    }
}
