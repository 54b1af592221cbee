//! COM-6 step 5: merging a staged commit into our state (`spec/state-machine.md` section 6).
//! [`Meeting::merge_roster`] is shared by members and by the leader for its own commits; it
//! cannot fail. [`Meeting::merge_commit`] adds a member's consequences (ending when removed,
//! acknowledging the epoch, taking leadership on a handover, installing keys).

use std::time::Duration;

use conclave_protocol::v1::RemoveReason;
use rand_core::CryptoRng;

use super::stage::StagedCommit;
use crate::meeting::roster::Member;
use crate::meeting::state::{LeaderState, Role};
use crate::meeting::{Event, JoinRefusal, Meeting, MeetingError, RemovalReason, quorum};

impl Meeting {
    /// Applies a staged commit's roster, lock, leader, suite and transcript changes, with their
    /// events. Infallible: everything was checked when staging (or built by us, as leader).
    pub(in crate::meeting) fn merge_roster(&mut self, staged: &StagedCommit) {
        let (commit, epoch) = (&staged.commit, staged.epoch());
        self.previous_roster_len = self.roster.members.len();
        for r in &commit.removes {
            if let Some(m) = self.roster.members.remove(&r.leaf) {
                let (pid, identity) = (&m.announcement.participant_id, &m.announcement.identity);
                self.admission.pins.depart(pid, epoch);
                if r.reason == RemoveReason::Removed as i32 {
                    self.admission
                        .pins
                        .refuse(pid, identity, JoinRefusal::Removed); // ANN-11
                }
                self.push_event(Event::ParticipantRemoved {
                    participant_id: m.announcement.participant_id,
                    reason: RemovalReason::from_wire(r.reason),
                });
            }
        }
        for (ann, leaf) in staged.admitted.iter().zip(&staged.plan.added_leaves) {
            self.admission
                .pins
                .admit(&ann.participant_id, &ann.identity, epoch);
            self.push_event(Event::ParticipantAdded {
                participant_id: ann.participant_id.clone(),
                leaf: *leaf,
                fingerprint: ann.identity.fingerprint_string(),
            });
            self.roster.members.insert(
                *leaf,
                Member {
                    announcement: ann.clone(),
                    admitted_epoch: epoch,
                    newest_nonce: ann.nonce,
                },
            );
        }
        if commit.locked != self.locked {
            self.locked = commit.locked;
            self.push_event(Event::LockChanged {
                locked: commit.locked,
            });
        }
        if commit.leader_leaf != self.leader_leaf {
            self.leader_leaf = commit.leader_leaf;
            let (pid, fp) = self.roster.describe(commit.leader_leaf);
            self.push_event(Event::LeaderChanged {
                participant_id: pid,
                fingerprint: fp,
            });
        }
        self.occupancy = staged.plan.after.clone();
        self.epoch = epoch;
        self.transcript_hash = staged.transcript_hash;
        if staged.suite != self.suite {
            self.suite = staged.suite;
            self.push_event(Event::SuiteChanged {
                suite: staged.suite.id(),
                post_quantum: staged.suite.is_post_quantum(),
            });
        }
    }

    /// A member merges a staged commit (COM-6 step 5). Errors only report an outcome that has
    /// already been applied (a refused suite: we left) or an internal inconsistency.
    pub(in crate::meeting) fn merge_commit<R: CryptoRng + ?Sized>(
        &mut self,
        staged: StagedCommit,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let epoch = staged.epoch();
        let we_are_removed = staged.removes(self.own_leaf);
        let old_leader = self.leader_leaf;
        self.merge_roster(&staged);
        if self.config.require_post_quantum && !staged.suite.is_post_quantum() && !we_are_removed {
            return self.refuse_suite(staged.suite, now);
        }
        if we_are_removed {
            let reason = staged
                .commit
                .removes
                .iter()
                .find(|r| r.leaf == self.own_leaf)
                .map(|r| RemovalReason::from_wire(r.reason))
                .unwrap_or(RemovalReason::Removed);
            self.end(reason);
            return Ok(());
        }
        // R1: acknowledge the new epoch to the leader at once (it becomes stable, STB-1).
        if !self.is_leader() {
            self.post_nonce(now, rng);
        }
        if let Role::Member(m) = &mut self.role {
            m.reset_watchdog(now);
            m.ballot = None;
            m.stable_proof = None;
            if self.leader_leaf != old_leader {
                m.suspected.clear();
                m.voted_out.clear();
            }
            match staged.path {
                Ok(path) => m.path = path, // None on a rebuild: the Welcome brings the new path
                Err(source) => {
                    m.path = None;
                    self.secrets = None;
                    self.request_resync_at(now, rng, format!("epoch {epoch}: {source}"));
                    return Ok(());
                }
            }
        }
        if self.leader_leaf == self.own_leaf && !matches!(self.role, Role::Leader(_)) {
            self.take_over(epoch, now);
            return Ok(());
        }
        if staged.commit.rebuild {
            self.secrets = None;
        } else {
            self.install_secrets(now)?;
        }
        Ok(())
    }

    /// Handed over to us: we lead, and rebuild the tree in our first commit once the handover
    /// epoch is stable (STB-2).
    fn take_over(&mut self, epoch: u64, now: Duration) {
        let mut stability = quorum::Stability::new(epoch, now, self.previous_roster_len);
        stability.ack(self.own_leaf, self.own_admitted_epoch(), epoch);
        let leader = LeaderState::new(None, &self.config, now, stability);
        self.role = Role::Leader(Box::new(leader));
        self.secrets = None;
        self.resume_sending();
    }
}
