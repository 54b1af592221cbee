//! Receiving commits (`spec/state-machine.md` section 6: COM-1..COM-6): ordering, buffering,
//! then stage and merge.

mod merge;
mod stage;

pub(in crate::meeting) use stage::StagedCommit;

use crate::meeting::config::{MAX_PENDING_COMMIT_BYTES, MAX_PENDING_COMMITS};
use crate::meeting::proof::update_leaf;
use crate::meeting::state::{Phase, Role};
use crate::meeting::{Meeting, MeetingError, RemovalReason, wire};
use crate::merkle;
use conclave_protocol::MessageKind;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use conclave_protocol::v1::{CommitReason, RemoveReason};
use rand_core::CryptoRng;
use std::time::Duration;

impl Meeting {
    pub(in crate::meeting) fn on_commit_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: pb::CommitBundle,
        encoded: &[u8],
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let signed = bundle.commit.as_ref().ok_or(MeetingError::Invalid {
            message: "commit bundle",
            reason: "no commit".into(),
        })?;
        let commit: pb::Commit = wire::decode_content(MessageKind::Commit, signed)?;
        wire::check_version("commit", commit.version)?;
        wire::check_meeting("commit", &commit.meeting_id, &self.meeting_id)?;
        if matches!(self.phase, Phase::Joining) {
            // Commits after the one that admits us are applied once the Welcome arrives.
            self.buffer_commit(commit.epoch, encoded)?;
            return Ok(());
        }
        if matches!(self.role, Role::Leader(_)) {
            return self.leader_on_commit(&commit, now);
        }
        if commit.epoch <= self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "commit",
                epoch: commit.epoch,
                current: self.epoch,
            });
        }
        if commit.epoch > self.epoch.saturating_add(1) {
            // COM-5: buffered, unverified, inside the window. An unverifiable commit alone never
            // triggers a resync: a signed heartbeat of a later epoch does (HB-4).
            let expected = self.epoch.saturating_add(1);
            self.buffer_commit(commit.epoch, encoded)?;
            return Err(MeetingError::Gap {
                epoch: commit.epoch,
                expected,
            });
        }
        self.accept_commit(&bundle, commit, now, rng)?;
        // HO-1: a leader that handed over to leave is done once the next leader commits.
        if let Role::Member(m) = &self.role
            && m.leaving.is_some()
            && !matches!(self.phase, Phase::Ended)
        {
            self.end(RemovalReason::Left);
            return Ok(());
        }
        self.drain_pending(now, rng);
        Ok(())
    }

    /// COM-3: a leader applies only its own commits and rejects every other one; the one
    /// exception is a failover commit that removes it and carries a quorum of votes from its
    /// own epoch (FO-2): a majority elected another leader, so it ends (FO-6).
    pub(in crate::meeting) fn leader_on_commit(
        &mut self,
        commit: &pb::Commit,
        now: Duration,
    ) -> Result<(), MeetingError> {
        let _ = now;
        let deposes_us = commit.reason == CommitReason::Failover as i32
            && commit.epoch == self.epoch.saturating_add(1)
            && commit
                .removes
                .iter()
                .any(|r| r.leaf == self.own_leaf && r.reason == RemoveReason::LeaderFailed as i32);
        if deposes_us && self.verify_failover(commit).is_ok() {
            self.end(RemovalReason::LeaderFailed);
            return Ok(());
        }
        Err(MeetingError::Unexpected {
            message: "commit",
            reason: "the leader applies only its own commits",
        })
    }

    /// COM-2/COM-5: keeps an encoded commit envelope for later, bounded in count, bytes and
    /// epochs ahead; the earliest epochs are kept (they are needed first).
    pub(in crate::meeting) fn buffer_commit(
        &mut self,
        epoch: u64,
        encoded: &[u8],
    ) -> Result<(), MeetingError> {
        let full = |reason: String| MeetingError::Invalid {
            message: "commit",
            reason,
        };
        let window = u64::try_from(MAX_PENDING_COMMITS).unwrap_or(u64::MAX);
        if matches!(self.phase, Phase::Active) && epoch > self.epoch.saturating_add(window) {
            return Err(full(format!(
                "epoch {epoch} is more than {MAX_PENDING_COMMITS} epochs ahead of {}",
                self.epoch
            )));
        }
        if encoded.len() > MAX_PENDING_COMMIT_BYTES {
            return Err(full(format!("{} bytes is over the buffer", encoded.len())));
        }
        self.pending_commits.remove(&epoch);
        loop {
            let used: usize = self.pending_commits.values().map(Vec::len).sum();
            let over_bytes = used.saturating_add(encoded.len()) > MAX_PENDING_COMMIT_BYTES;
            let over_count = self.pending_commits.len() >= MAX_PENDING_COMMITS;
            if !over_bytes && !over_count {
                break;
            }
            match self.pending_commits.keys().next_back().copied() {
                Some(last) if last > epoch => {
                    self.pending_commits.remove(&last);
                }
                _ => {
                    return Err(full(format!(
                        "{MAX_PENDING_COMMITS} commits or {MAX_PENDING_COMMIT_BYTES} bytes already buffered"
                    )));
                }
            }
        }
        self.pending_commits.insert(epoch, encoded.to_vec());
        Ok(())
    }

    pub(in crate::meeting) fn drain_pending<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) {
        loop {
            self.pending_commits.retain(|e, _| *e > self.epoch);
            let next = self.epoch.saturating_add(1);
            let Some(encoded) = self.pending_commits.remove(&next) else {
                break;
            };
            let Ok(Body::Commit(bundle)) = wire::decode_envelope(&encoded) else {
                continue;
            };
            let Some(signed) = bundle.commit.as_ref() else {
                continue;
            };
            let Ok(commit) = wire::decode_content::<pb::Commit>(MessageKind::Commit, signed) else {
                continue;
            };
            if matches!(self.phase, Phase::Ended) || self.is_leader() {
                break;
            }
            if self.accept_commit(&bundle, commit, now, rng).is_err() {
                break;
            }
        }
        // Welcomes waiting for their commit.
        let waiting = std::mem::take(&mut self.pending_welcomes);
        for w in waiting {
            let _ = self.on_welcome(w, now, rng);
        }
    }

    /// Who may sign a commit for the next epoch: the leader, or on failover the candidate a
    /// quorum elected (FO-2). VOTE-2: never a leader we voted out.
    pub(in crate::meeting) fn expected_signer(
        &self,
        commit: &pb::Commit,
    ) -> Result<u32, MeetingError> {
        let signer = if commit.reason == CommitReason::Failover as i32 {
            self.verify_failover(commit)?
        } else {
            if !commit.votes.is_empty() {
                return Err(MeetingError::BadRoster {
                    epoch: commit.epoch,
                    reason: "only a failover commit carries votes".into(),
                });
            }
            self.leader_leaf
        };
        if let Role::Member(m) = &self.role
            && m.voted_out.contains(&signer)
        {
            return Err(MeetingError::Unexpected {
                message: "commit",
                reason: "signed by a leader we voted out (VOTE-2)",
            });
        }
        Ok(signer)
    }

    /// COM-6: stage the next epoch's commit (pure), then merge it.
    fn accept_commit<R: CryptoRng + ?Sized>(
        &mut self,
        bundle: &pb::CommitBundle,
        commit: pb::Commit,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let staged = self.stage_commit(bundle, commit)?;
        let epoch = staged.epoch();
        let handover = staged.commit.reason == CommitReason::Handover as i32;
        let was_leader = self.is_leader();
        let merged = self.merge_commit(staged, now, rng);
        // RSQ-2: handed over to us, we keep the handover commit for members that resync from the
        // epoch before it (they follow the old leader until they hold it, and the old leader
        // stops re-sending it once our rebuild arrives, HO-1).
        if handover
            && !was_leader
            && let Role::Leader(l) = &mut self.role
        {
            let envelope = wire::envelope(Body::Commit(bundle.clone()));
            l.failover_bundle = Some((epoch.saturating_sub(1), envelope));
        }
        merged
    }
}

/// Slices a full commit bundle to what the member at `leaf` needs: its updates and a multiproof.
///
/// `wraps_for_leaf` is [`crate::tree::Plan::wraps_for_leaf`] for the member; equivalently, every update
/// whose `child` is the member's leaf node or on its direct path in the commit's `leaf_count`.
/// Relays use this to send each member about 1 KB per leave at N = 1,000.
pub fn commit_bundle_for_leaf(
    bundle: &pb::CommitBundle,
    wraps_for_leaf: &[(u32, u32)],
) -> pb::CommitBundle {
    let leaves: Vec<[u8; 32]> = bundle
        .updates
        .iter()
        .filter_map(|iu| iu.update.as_ref())
        .map(|u| update_leaf(u.node, u.child, &u.ciphertext))
        .collect();
    let mut picked = Vec::new();
    let mut idx = Vec::new();
    for iu in &bundle.updates {
        if let Some(u) = &iu.update
            && wraps_for_leaf.contains(&(u.node, u.child))
        {
            picked.push(iu.clone());
            idx.push(iu.index as usize);
        }
    }
    let proof = merkle::prove(&leaves, &idx).unwrap_or_default();
    pb::CommitBundle {
        commit: bundle.commit.clone(),
        updates: picked,
        proof: proof.into_iter().map(|h| h.to_vec()).collect(),
    }
}
