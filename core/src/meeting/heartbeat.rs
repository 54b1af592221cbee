//! Receiving a heartbeat and key confirmation (`spec/state-machine.md` section 9: HB-1..HB-9).
//! [`Meeting::stage_heartbeat`] checks everything without changing state;
//! [`Meeting::merge_heartbeat`] applies the result.

use std::time::Duration;

use conclave_protocol::MessageKind;
use conclave_protocol::limits::{LIVENESS_NONCE_LEN, MAX_PARTICIPANTS, MAX_PROOF_HASHES};
use conclave_protocol::v1::{self as pb, SignedMessage};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use super::proof::{check_partial_root, echo_leaf};
use super::state::{Phase, Role};
use super::{Meeting, MeetingError, RemovalReason, wire};
use crate::schedule::labels;

/// What a verified heartbeat means for us.
enum HeartbeatCheck {
    /// A leader sees its own heartbeat again (HB-2): nothing to do.
    Own,
    /// Our leader is alive and certifies a later epoch than ours (HB-4): we are behind.
    Behind {
        /// The epoch it certifies.
        epoch: u64,
    },
    /// The next heartbeat of our epoch (HB-5 to HB-9).
    Current(StagedHeartbeat),
}

/// Key confirmation of the heartbeat's epoch against ours (HB-9).
enum Confirmation {
    Matches,
    Differs,
    NoKeys,
}

/// A heartbeat of our epoch that verified, chains and proves its echoes.
struct StagedHeartbeat {
    epoch: u64,
    sequence: u64,
    hash: [u8; 32],
    /// The signed heartbeat, kept as FO-2's stability proof when it says `stable`.
    stable_proof: Option<SignedMessage>,
    /// Whether it echoes one of our retained liveness nonces (HB-8).
    echoes_us: bool,
    confirmation: Confirmation,
}

impl Meeting {
    /// Section 9: a heartbeat bundle from the relay.
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
        match self.stage_heartbeat(&bundle)? {
            HeartbeatCheck::Own => Ok(()),
            HeartbeatCheck::Behind { epoch } => {
                self.merge_behind(epoch, now, rng);
                Ok(())
            }
            HeartbeatCheck::Current(staged) => self.merge_heartbeat(staged, now, rng),
        }
    }

    /// HB-2 to HB-9 without changing state.
    fn stage_heartbeat(
        &self,
        bundle: &pb::HeartbeatBundle,
    ) -> Result<HeartbeatCheck, MeetingError> {
        let signed = bundle.heartbeat.as_ref().ok_or(MeetingError::Invalid {
            message: "heartbeat bundle",
            reason: "no heartbeat".into(),
        })?;
        let hb: pb::Heartbeat = wire::decode_content(MessageKind::Heartbeat, signed)?;
        wire::check_version("heartbeat", hb.version)?;
        wire::check_meeting("heartbeat", &hb.meeting_id, &self.meeting_id)?;
        let m = match &self.role {
            Role::Leader(_) if hb.leader_leaf != self.own_leaf || hb.epoch > self.epoch => {
                // HB-2: a leader ignores other heartbeats (branches never merge, 12.5).
                return Err(MeetingError::NotLeader {
                    message: "heartbeat",
                    epoch: hb.epoch,
                    signer: hb.leader_leaf,
                    leader: self.own_leaf,
                });
            }
            Role::Leader(_) => return Ok(HeartbeatCheck::Own),
            Role::Member(m) => m,
        };
        if hb.leader_leaf != self.leader_leaf {
            return Err(MeetingError::NotLeader {
                message: "heartbeat",
                epoch: hb.epoch,
                signer: hb.leader_leaf,
                leader: self.leader_leaf,
            });
        }
        if m.voted_out.contains(&hb.leader_leaf) {
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
            return Ok(HeartbeatCheck::Behind { epoch: hb.epoch });
        }
        let th = wire::hash32("heartbeat", "transcript_hash", &hb.transcript_hash)?;
        if th != self.transcript_hash {
            return Err(MeetingError::TranscriptMismatch { epoch: hb.epoch });
        }
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
        let our_echo = self.check_echoes(&hb, bundle)?;
        let confirmation = wire::hash32("heartbeat", "confirmation", &hb.confirmation)?;
        let confirmation = match self.secrets.as_ref().filter(|s| s.epoch == hb.epoch) {
            Some(s) if bool::from(s.confirmation.ct_eq(&confirmation)) => Confirmation::Matches,
            Some(_) => Confirmation::Differs,
            None => Confirmation::NoKeys,
        };
        let echoes_us = our_echo.is_some_and(|nonce| {
            self.nonces
                .iter()
                .any(|(n, _)| n.as_slice() == nonce.as_slice())
        });
        Ok(HeartbeatCheck::Current(StagedHeartbeat {
            epoch: hb.epoch,
            sequence: hb.sequence,
            hash: crate::schedule::heartbeat_hash(&signed.content),
            stable_proof: hb.stable.then(|| signed.clone()),
            echoes_us,
            confirmation,
        }))
    }

    /// HB-6: the delivered liveness echoes are well formed, in leaf order, and prove the
    /// heartbeat's liveness root. Returns our own echo, if delivered.
    fn check_echoes(
        &self,
        hb: &pb::Heartbeat,
        bundle: &pb::HeartbeatBundle,
    ) -> Result<Option<Vec<u8>>, MeetingError> {
        let invalid = |reason: String| MeetingError::Invalid {
            message: "heartbeat bundle",
            reason,
        };
        let root = wire::hash32("heartbeat", "liveness_root", &hb.liveness_root)?;
        if bundle.echoes.len() > MAX_PARTICIPANTS || bundle.proof.len() > MAX_PROOF_HASHES {
            return Err(invalid("too many echoes or proof hashes".into()));
        }
        let mut entries = Vec::with_capacity(bundle.echoes.len());
        let mut our_echo = None;
        let mut prev_leaf: Option<u32> = None;
        for ie in &bundle.echoes {
            let e = ie
                .echo
                .as_ref()
                .ok_or_else(|| invalid("empty echo".into()))?;
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(invalid("echoes are not in ascending leaf order".into()));
            }
            prev_leaf = Some(e.leaf);
            if e.nonce.len() != LIVENESS_NONCE_LEN {
                return Err(invalid(format!(
                    "echo for leaf {} has a {}-byte nonce",
                    e.leaf,
                    e.nonce.len()
                )));
            }
            entries.push((ie.index as usize, echo_leaf(e.leaf, &e.nonce)));
            if e.leaf == self.own_leaf {
                our_echo = Some(e.nonce.clone());
            }
        }
        if hb.liveness_count as usize > MAX_PARTICIPANTS {
            return Err(MeetingError::Invalid {
                message: "heartbeat",
                reason: format!("{} liveness echoes", hb.liveness_count),
            });
        }
        check_partial_root(
            "heartbeat",
            hb.epoch,
            hb.liveness_count as usize,
            &entries,
            &bundle.proof,
            &root,
            false,
        )?;
        Ok(our_echo)
    }

    /// HB-4: our leader certifies a later epoch. A leader that handed over to leave is done
    /// (HO-1); otherwise the leader is alive and we resync.
    fn merge_behind<R: CryptoRng + ?Sized>(&mut self, epoch: u64, now: Duration, rng: &mut R) {
        let Role::Member(m) = &mut self.role else {
            return;
        };
        if m.leaving.is_some() {
            self.end(RemovalReason::Left);
            return;
        }
        m.last_heartbeat = now;
        m.missed_reported = 0;
        m.hint_confirm_at = None;
        let reason = format!(
            "the leader's heartbeat certifies epoch {epoch} but we are at {}",
            self.epoch
        );
        self.request_resync_at(now, rng, reason);
    }

    /// HB-8 and HB-9: the watchdog restarts, the chain advances, our echo clears the stale
    /// flag, and the key confirmation certifies our epoch (SW-3) or makes us resync.
    fn merge_heartbeat<R: CryptoRng + ?Sized>(
        &mut self,
        staged: StagedHeartbeat,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if let Role::Member(m) = &mut self.role {
            m.hb_seq = staged.sequence;
            m.prev_hb_hash = staged.hash;
            m.last_heartbeat = now;
            if staged.stable_proof.is_some() {
                m.stable_proof = staged.stable_proof;
            }
            m.missed_reported = 0;
            m.hint_confirm_at = None;
            m.suspected.clear();
        }
        if staged.echoes_us {
            self.last_echo = now;
            self.stale_reported = false;
        }
        let epoch = staged.epoch;
        match staged.confirmation {
            Confirmation::Matches => {
                self.send_now(epoch);
                if now.saturating_sub(self.last_echo) < self.config.liveness_timeout {
                    self.resume_sending();
                }
                Ok(())
            }
            Confirmation::Differs => {
                self.secrets = None;
                self.frames.clear();
                if let Role::Member(m) = &mut self.role {
                    m.path = None;
                }
                let reason = format!("key confirmation for epoch {epoch} differs from ours");
                self.request_resync_at(now, rng, reason);
                Err(MeetingError::ConfirmationMismatch { epoch })
            }
            Confirmation::NoKeys => {
                self.request_resync_at(now, rng, format!("no keys for epoch {epoch}"));
                Ok(())
            }
        }
    }
}
