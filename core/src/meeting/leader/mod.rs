//! Leader duties (`spec/state-machine.md` section 10): building commits (10.2).

mod heartbeat;
pub(super) mod welcome;

use crate::meeting::commit::StagedCommit;
use crate::meeting::proof::update_leaf;
use crate::meeting::roster::negotiate_suite;
use crate::meeting::state::{MemberState, Role};
use crate::meeting::wire::ValidAnnouncement;
use crate::meeting::{Destination, Meeting, MeetingError, RemovalReason, quorum, wire};
use crate::schedule::{labels, transcript_next};
use crate::tree::{LeaderTree, MemberPath};
use crate::{merkle, tree};
use conclave_protocol::encode;
use conclave_protocol::limits::PROTOCOL_VERSION;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::CommitReason;
use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;
use std::collections::BTreeSet;
use std::time::Duration;

/// The changes a commit takes from the leader's queues (section 10.2).
struct Changes {
    removes: Vec<(u32, RemovalReason)>,
    admitted: Vec<ValidAnnouncement>,
    rotate: bool,
    rebuild: bool,
    lock: Option<bool>,
    handover_to: Option<u32>,
    votes: Vec<pb::SignedMessage>,
    stable_proof: Option<pb::SignedMessage>,
}

impl Changes {
    fn removed_leaves(&self) -> Vec<u32> {
        self.removes.iter().map(|(l, _)| *l).collect()
    }
}

impl Meeting {
    /// Section 10.2: builds, signs and sends a commit of the queued changes, merges it into
    /// our own state through the same [`Meeting::merge_roster`] a member uses, then sends the
    /// Welcomes (or hands leadership over).
    pub(in crate::meeting) fn leader_commit<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let changes = self.take_changes()?;
        let reason = self.commit_reason(&changes);
        let (staged, bundle) = self.build_commit(&changes, reason, rng)?;
        let epoch = staged.epoch();
        let previous_members: BTreeSet<(u32, u64)> = self
            .roster
            .members
            .iter()
            .map(|(leaf, m)| (*leaf, m.admitted_epoch))
            .collect();
        self.merge_roster(&staged);
        let envelope = wire::envelope(Body::Commit(bundle));
        self.restart_leader_epoch(&changes, reason, &previous_members, &envelope, now);
        self.push_transmit(Destination::All, envelope.clone());
        if changes.handover_to.is_some() {
            return self.become_member_after_handover(epoch, envelope, now, rng);
        }
        self.install_secrets(now)?;
        self.send_commit_welcomes(&staged.plan.added_leaves, changes.rebuild, rng)?;
        if let Role::Leader(l) = &mut self.role {
            l.rebuild_pending = false;
            if !l.pending_adds.is_empty() || !l.pending_removes.is_empty() {
                l.commit_due = Some(now);
            }
        }
        Ok(())
    }

    /// Takes what the next commit carries from the queues: a handover carries nothing else, a
    /// rebuild adds no one, STB-4 caps the removals, and admissions are checked again against
    /// the roster as it will be.
    fn take_changes(&mut self) -> Result<Changes, MeetingError> {
        let Role::Leader(l) = &mut self.role else {
            return Err(MeetingError::NotTheLeader("commit"));
        };
        l.commit_due = None;
        let votes = std::mem::take(&mut l.pending_votes);
        let stable_proof = l.pending_stable_proof.take();
        let rebuild = l.rebuild_pending || l.tree.is_none();
        let handover_to = l.handover_to.take();
        let mut removes: Vec<(u32, RemovalReason)> =
            l.pending_removes.iter().map(|(a, b)| (*a, *b)).collect();
        removes.retain(|(leaf, _)| self.roster.members.contains_key(leaf));
        let adds = if rebuild || handover_to.is_some() {
            Vec::new()
        } else {
            std::mem::take(&mut l.pending_adds)
        };
        let rotate = !rebuild && handover_to.is_none() && std::mem::take(&mut l.rotate_pending);
        if rebuild {
            l.rotate_pending = false; // a rebuild refreshes every key anyway
        }
        let lock = if handover_to.is_some() {
            None
        } else {
            l.lock_pending.take()
        };
        if handover_to.is_some() {
            removes.clear();
        } else {
            l.pending_removes.clear();
        }
        // STB-4: a commit other than a failover removes at most floor(n / 2) of the n members;
        // the rest wait for the next commit (so the members it keeps can make it stable).
        if votes.is_empty() {
            let max = self.roster.members.len() / 2;
            for (leaf, reason) in removes.split_off(max.min(removes.len())) {
                l.pending_removes.insert(leaf, reason);
            }
        }
        let removed_leaves: Vec<u32> = removes.iter().map(|(l, _)| *l).collect();
        let mut admitted: Vec<ValidAnnouncement> = Vec::new();
        for a in adds {
            let dup = admitted
                .iter()
                .any(|x| x.participant_id == a.participant_id);
            if !dup && self.check_admission(&a, &removed_leaves).is_ok() {
                admitted.push(a);
            }
        }
        Ok(Changes {
            removes,
            admitted,
            rotate,
            rebuild,
            lock,
            handover_to,
            votes,
            stable_proof,
        })
    }

    /// The commit's reason (section 10.2).
    fn commit_reason(&self, c: &Changes) -> CommitReason {
        let removed = c.removed_leaves();
        let old_leader = self.leader_leaf;
        if c.handover_to.is_some() {
            CommitReason::Handover
        } else if c.rebuild {
            if removed.contains(&old_leader) && old_leader != self.own_leaf {
                CommitReason::Failover
            } else {
                CommitReason::Handover
            }
        } else if c.rotate {
            CommitReason::Rotation
        } else if removed.is_empty() && c.admitted.is_empty() && c.lock.is_some() {
            CommitReason::Lock
        } else {
            CommitReason::Membership
        }
    }

    /// Plans the roster change, applies it to our tree (the wrapped keys) and signs the commit;
    /// returns it staged (as a member would stage it) with the full bundle to send.
    fn build_commit<R: CryptoRng + ?Sized>(
        &mut self,
        c: &Changes,
        reason: CommitReason,
        rng: &mut R,
    ) -> Result<(StagedCommit, pb::CommitBundle), MeetingError> {
        let epoch = self.epoch.saturating_add(1);
        let removed = c.removed_leaves();
        let plan = tree::plan(&self.occupancy, &removed, c.admitted.len(), c.rotate)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let Role::Leader(l) = &mut self.role else {
            return Err(MeetingError::NotTheLeader("commit"));
        };
        let updates = if c.rebuild {
            l.tree = Some(LeaderTree::rebuild(plan.after.clone(), rng));
            Vec::new()
        } else {
            let t = l
                .tree
                .as_mut()
                .ok_or(MeetingError::NotTheLeader("commit"))?;
            t.apply(&plan, &self.meeting_id, epoch, rng)
                .map_err(|source| MeetingError::Tree { epoch, source })?
        };
        let leaf_hashes: Vec<[u8; 32]> = updates
            .iter()
            .map(|(n, c, ct)| update_leaf(*n, *c, ct))
            .collect();
        let suite = negotiate_suite(
            self.roster
                .members
                .iter()
                .filter(|(l, _)| !removed.contains(l))
                .map(|(_, m)| &m.announcement)
                .chain(c.admitted.iter()),
        )
        .unwrap_or(self.suite);
        let failover = reason == CommitReason::Failover;
        let commit = pb::Commit {
            version: PROTOCOL_VERSION,
            suite: suite.id(),
            meeting_id: self.meeting_id.clone(),
            epoch,
            prev_transcript_hash: self.transcript_hash.to_vec(),
            leader_leaf: c.handover_to.unwrap_or(self.own_leaf),
            reason: reason as i32,
            removes: c
                .removes
                .iter()
                .map(|(leaf, r)| pb::Remove {
                    leaf: *leaf,
                    reason: r.to_wire() as i32,
                })
                .collect(),
            adds: c
                .admitted
                .iter()
                .zip(&plan.added_leaves)
                .map(|(a, leaf)| pb::Add {
                    leaf: *leaf,
                    announcement: a.bytes.clone(),
                })
                .collect(),
            locked: c.lock.unwrap_or(self.locked),
            leaf_count: plan.after.width(),
            updates_root: merkle::root(&leaf_hashes).to_vec(),
            update_count: u32::try_from(updates.len()).unwrap_or(u32::MAX),
            rebuild: c.rebuild,
            votes: if failover {
                c.votes.clone()
            } else {
                Vec::new()
            },
            stable_heartbeat: c.stable_proof.clone().filter(|_| failover),
        };
        let content = encode(&commit);
        let transcript_hash = transcript_next(&self.transcript_hash, &content);
        let signed = wire::sign(&self.identity, labels::COMMIT, content);
        let bundle = full_bundle(signed, updates);
        let staged = StagedCommit {
            commit,
            plan,
            admitted: c.admitted.clone(),
            suite,
            transcript_hash,
            path: Ok(None),
        };
        Ok((staged, bundle))
    }

    /// After our own commit: a new heartbeat chain at once, the rotation timer re-armed on a
    /// rotation or rebuild, and a new stability count (STB-1: a majority of the previous
    /// epoch's members, among those this commit keeps; kept members that left without voting
    /// acknowledge for themselves).
    fn restart_leader_epoch(
        &mut self,
        c: &Changes,
        reason: CommitReason,
        previous_members: &BTreeSet<(u32, u64)>,
        envelope: &[u8],
        now: Duration,
    ) {
        let (epoch, previous) = (self.epoch, self.previous_roster_len);
        let own = (self.own_leaf, self.own_admitted_epoch());
        let kept: BTreeSet<(u32, u64)> = self
            .roster
            .members
            .iter()
            .map(|(leaf, m)| (*leaf, m.admitted_epoch))
            .filter(|k| previous_members.contains(k))
            .collect();
        let rotation = self.config.rotation_interval;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.hb_seq = 0;
        l.prev_hb_hash = [0u8; 32];
        l.next_heartbeat = now;
        if c.rotate || c.rebuild {
            l.next_rotation = rotation.map(|r| now + r);
        }
        let mut stability = quorum::Stability::new(epoch, now, previous);
        stability.ack(own.0, own.1, epoch);
        l.left.retain(|k| kept.contains(k));
        for &(leaf, admitted) in &l.left {
            stability.ack(leaf, admitted, epoch);
        }
        l.stability = stability;
        if reason == CommitReason::Failover {
            l.failover_bundle = Some((epoch.saturating_sub(1), envelope.to_vec()));
        }
    }

    /// HO-1: after our handover commit we are a member holding our own path from the full
    /// tree, re-sending the commit until the new leader's rebuild arrives.
    fn become_member_after_handover<R: CryptoRng + ?Sized>(
        &mut self,
        epoch: u64,
        envelope: Vec<u8>,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let path = match &self.role {
            Role::Leader(l) => l
                .tree
                .as_ref()
                .map(|t| t.path_secrets(self.own_leaf))
                .transpose()
                .map_err(|source| MeetingError::Tree { epoch, source })?,
            Role::Member(_) => None,
        };
        self.install_secrets(now)?;
        let path = path
            .map(|p| MemberPath::from_secrets(self.own_leaf, self.occupancy.width(), p))
            .transpose()
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let mut member = MemberState::new(path, now);
        member.handover_resend = Some((epoch, envelope));
        self.role = Role::Member(Box::new(member));
        // R1: acknowledge the handover epoch to the new leader.
        self.post_nonce(now, rng);
        Ok(())
    }

    /// Welcomes: joiners get group info; on a rebuild every other member gets its new path
    /// (sealed inline, or as seal jobs with `offload_rebuild_sealing`).
    fn send_commit_welcomes<R: CryptoRng + ?Sized>(
        &mut self,
        added: &[u32],
        rebuild: bool,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        for leaf in added {
            let nonce = self.newest_nonce_of(*leaf);
            let w = self.make_welcome(*leaf, nonce, true, rng)?;
            self.push_transmit(Destination::Participant(self.roster.id_of(*leaf)), w);
        }
        if !rebuild {
            return Ok(());
        }
        let leaves: Vec<u32> = self
            .roster
            .members
            .keys()
            .copied()
            .filter(|l| *l != self.own_leaf && !added.contains(l))
            .collect();
        let defer = self.config.offload_rebuild_sealing;
        for leaf in leaves {
            let nonce = self.newest_nonce_of(leaf);
            let w = self.welcome_or_job(leaf, nonce, false, defer, rng)?;
            if !defer {
                self.push_transmit(Destination::Participant(self.roster.id_of(leaf)), w);
            }
        }
        Ok(())
    }

    /// The newest liveness nonce the member at `leaf` sent us (echoed in its Welcome).
    fn newest_nonce_of(&self, leaf: u32) -> [u8; 24] {
        self.roster
            .get(leaf)
            .map(|m| m.newest_nonce)
            .unwrap_or([0; 24])
    }
}

/// The full commit bundle (every update, no proof needed) the leader sends to the relay.
fn full_bundle(signed: pb::SignedMessage, updates: Vec<(u32, u32, Vec<u8>)>) -> pb::CommitBundle {
    pb::CommitBundle {
        commit: Some(signed),
        updates: updates
            .into_iter()
            .enumerate()
            .map(|(i, (node, child, ciphertext))| pb::IndexedUpdate {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                update: Some(pb::NodeUpdate {
                    node,
                    child,
                    ciphertext,
                }),
            })
            .collect(),
        proof: vec![],
    }
}
