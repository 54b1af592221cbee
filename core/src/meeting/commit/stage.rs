//! COM-6 steps 1 to 4 and the key step of 5: a commit for the next epoch checked against our
//! state without changing it (`spec/state-machine.md` section 6). The result, a
//! [`StagedCommit`], holds everything [`Meeting::merge_commit`] needs, so that merging cannot
//! fail on input: a rejected commit changes nothing because staging takes `&self`.

use std::collections::BTreeMap;

use conclave_protocol::limits::{
    MAX_NODE_UPDATES, MAX_PARTICIPANTS, MAX_PROOF_HASHES, WRAPPED_KEY_LEN,
};
use conclave_protocol::v1::{self as pb, CommitReason, RemoveReason, SignedMessage};

use crate::CipherSuite;
use crate::meeting::config::MAX_PENDING_ANNOUNCEMENTS;
use crate::meeting::proof::{check_partial_root, update_leaf};
use crate::meeting::roster::negotiate_suite;
use crate::meeting::state::Role;
use crate::meeting::wire::{self, ValidAnnouncement, parse_announcement};
use crate::meeting::{Meeting, MeetingError};
use crate::schedule::{labels, transcript_next};
use crate::tree::{self, MemberPath, Plan, TreeError};
use subtle::ConstantTimeEq;

/// A commit that passed every check of COM-6 against our state, with its consequences
/// computed: the plan, the admitted announcements, the negotiated suite, the next transcript
/// hash and (for a member) its new path.
pub(in crate::meeting) struct StagedCommit {
    /// The verified commit.
    pub(in crate::meeting) commit: pb::Commit,
    /// The tree plan of its roster change.
    pub(in crate::meeting) plan: Plan,
    /// The announcements it adds, in plan order.
    pub(in crate::meeting) admitted: Vec<ValidAnnouncement>,
    /// The suite the members after the commit negotiate (`spec/suites.md`).
    pub(in crate::meeting) suite: CipherSuite,
    /// `transcript_next` of our transcript hash and the commit's signed content.
    pub(in crate::meeting) transcript_hash: [u8; 32],
    /// Our path after the commit: `Ok(None)` when we are removed, it rebuilds or we lead;
    /// `Err` when an update we need is missing or does not decrypt (COM-6.17: resync).
    pub(in crate::meeting) path: Result<Option<MemberPath>, TreeError>,
}

impl StagedCommit {
    /// The epoch the commit creates.
    pub(in crate::meeting) fn epoch(&self) -> u64 {
        self.commit.epoch
    }

    /// Whether the commit removes `leaf`.
    pub(in crate::meeting) fn removes(&self, leaf: u32) -> bool {
        self.commit.removes.iter().any(|r| r.leaf == leaf)
    }
}

impl Meeting {
    /// COM-6: checks a commit for epoch `self.epoch + 1` and computes its effect. Pure.
    pub(in crate::meeting) fn stage_commit(
        &self,
        bundle: &pb::CommitBundle,
        commit: pb::Commit,
    ) -> Result<StagedCommit, MeetingError> {
        let signed = bundle.commit.as_ref().ok_or(MeetingError::Invalid {
            message: "commit bundle",
            reason: "no commit".into(),
        })?;
        let signer = self.verify_commit_signature(&commit, signed)?;
        let prev = wire::hash32(
            "commit",
            "prev_transcript_hash",
            &commit.prev_transcript_hash,
        )?;
        if !bool::from(prev.ct_eq(&self.transcript_hash)) {
            return Err(MeetingError::TranscriptMismatch {
                epoch: commit.epoch,
            });
        }
        let (plan, admitted, suite) = self.check_roster_change(&commit, signer)?;
        let lookup = check_updates(&commit, bundle, &plan)?;
        let path = self.next_path(&commit, &plan, &lookup);
        Ok(StagedCommit {
            transcript_hash: transcript_next(&self.transcript_hash, &signed.content),
            commit,
            plan,
            admitted,
            suite,
            path,
        })
    }

    /// Step 1: the expected signer (the leader, or an elected failover leader) signed it.
    fn verify_commit_signature(
        &self,
        commit: &pb::Commit,
        signed: &SignedMessage,
    ) -> Result<u32, MeetingError> {
        let epoch = commit.epoch;
        let signer = self.expected_signer(commit)?;
        let member = self.roster.get(signer).ok_or(MeetingError::NotLeader {
            message: "commit",
            epoch,
            signer,
            leader: self.leader_leaf,
        })?;
        let id = member.announcement.participant_id.clone();
        wire::verify(
            &member.announcement.identity,
            labels::COMMIT,
            signed,
            "commit",
            || id,
        )
        .map_err(|e| match e {
            MeetingError::BadSignature { source, .. } => MeetingError::BadSignature {
                message: "commit",
                from: format!("the leader (leaf {signer}) for epoch {epoch}"),
                source,
            },
            other => other,
        })?;
        Ok(signer)
    }

    /// Step 3: the roster change is well formed and follows the placement rules; returns the
    /// plan, the admitted announcements and the negotiated suite.
    fn check_roster_change(
        &self,
        commit: &pb::Commit,
        signer: u32,
    ) -> Result<(Plan, Vec<ValidAnnouncement>, CipherSuite), MeetingError> {
        let epoch = commit.epoch;
        let bad = |reason: String| MeetingError::BadRoster { epoch, reason };
        let removed = self.check_removes(commit)?;
        if commit.adds.len() > MAX_PENDING_ANNOUNCEMENTS.max(self.config.max_participants) {
            return Err(bad(format!("{} adds", commit.adds.len())));
        }
        let rotate = commit.reason == CommitReason::Rotation as i32;
        let handover =
            commit.leader_leaf != signer && commit.reason != CommitReason::Failover as i32;
        if handover
            && (commit.reason != CommitReason::Handover as i32
                || !commit.adds.is_empty()
                || !commit.removes.is_empty()
                || commit.rebuild
                || !self.roster.members.contains_key(&commit.leader_leaf))
        {
            return Err(bad(
                "a commit naming another leader must be a plain handover to a present member"
                    .into(),
            ));
        }
        if commit.rebuild && (!commit.adds.is_empty() || rotate) {
            return Err(bad("a rebuild commit cannot add members or rotate".into()));
        }
        let plan = tree::plan(&self.occupancy, &removed, commit.adds.len(), rotate)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let admitted = self.check_adds(commit, &plan, &removed)?;
        let suite = self.check_suite(commit, &removed, &admitted)?;
        if self.roster.members.len() - removed.len() + admitted.len() > MAX_PARTICIPANTS {
            return Err(MeetingError::Full(MAX_PARTICIPANTS));
        }
        let after_has_leader = commit.leader_leaf == signer && !removed.contains(&signer)
            || (self.roster.members.contains_key(&commit.leader_leaf)
                && !removed.contains(&commit.leader_leaf));
        if !after_has_leader {
            return Err(bad(format!(
                "leader leaf {} is not present after the commit",
                commit.leader_leaf
            )));
        }
        if commit.leaf_count != plan.after.width() {
            return Err(bad(format!(
                "leaf_count {} but the tree has {} leaves",
                commit.leaf_count,
                plan.after.width()
            )));
        }
        let expected_updates = if commit.rebuild { 0 } else { plan.wraps.len() };
        if commit.update_count as usize != expected_updates {
            return Err(bad(format!(
                "update_count {} but the plan needs {expected_updates}",
                commit.update_count
            )));
        }
        Ok((plan, admitted, suite))
    }

    /// Defined reasons, and removes of present leaves in ascending order.
    fn check_removes(&self, commit: &pb::Commit) -> Result<Vec<u32>, MeetingError> {
        let bad = |reason: String| MeetingError::BadRoster {
            epoch: commit.epoch,
            reason,
        };
        if CommitReason::try_from(commit.reason).is_err()
            || commit.reason == CommitReason::Unspecified as i32
        {
            return Err(bad(format!("undefined commit reason {}", commit.reason)));
        }
        if let Some(r) = commit.removes.iter().find(|r| {
            RemoveReason::try_from(r.reason).is_err()
                || r.reason == RemoveReason::Unspecified as i32
        }) {
            return Err(bad(format!("undefined remove reason {}", r.reason)));
        }
        let mut removed: Vec<u32> = Vec::with_capacity(commit.removes.len());
        for r in &commit.removes {
            if removed.last().is_some_and(|l| *l >= r.leaf) {
                return Err(bad("removes are not in ascending leaf order".into()));
            }
            if !self.roster.members.contains_key(&r.leaf) {
                return Err(bad(format!(
                    "removes leaf {}, which is not present",
                    r.leaf
                )));
            }
            removed.push(r.leaf);
        }
        Ok(removed)
    }

    /// Adds at the leaves the plan gives, of valid announcements with unique ids. Pins, the
    /// lock and the participant limit are the leader's policy; receivers check what the
    /// protocol fixes.
    fn check_adds(
        &self,
        commit: &pb::Commit,
        plan: &Plan,
        removed: &[u32],
    ) -> Result<Vec<ValidAnnouncement>, MeetingError> {
        let bad = |reason: String| MeetingError::BadRoster {
            epoch: commit.epoch,
            reason,
        };
        let mut admitted: Vec<ValidAnnouncement> = Vec::with_capacity(commit.adds.len());
        for (add, leaf) in commit.adds.iter().zip(&plan.added_leaves) {
            if add.leaf != *leaf {
                return Err(bad(format!(
                    "add places a member at leaf {} but the rules give leaf {leaf}",
                    add.leaf
                )));
            }
            let ann =
                parse_announcement(&add.announcement, &self.meeting_id, self.config.provider)?;
            if let Some(leaf) = self.roster.leaf_of(&ann.participant_id)
                && !removed.contains(&leaf)
            {
                return Err(bad(format!("{} is already present", ann.participant_id)));
            }
            if admitted
                .iter()
                .any(|a| a.participant_id == ann.participant_id)
            {
                return Err(bad(format!("{} is added twice", ann.participant_id)));
            }
            admitted.push(ann);
        }
        Ok(admitted)
    }

    /// Suite negotiation (`spec/suites.md`): the strongest suite every member after this commit
    /// supports. A weaker one is a downgrade and is rejected.
    fn check_suite(
        &self,
        commit: &pb::Commit,
        removed: &[u32],
        admitted: &[ValidAnnouncement],
    ) -> Result<CipherSuite, MeetingError> {
        let negotiated = negotiate_suite(
            self.roster
                .members
                .iter()
                .filter(|(l, _)| !removed.contains(l))
                .map(|(_, m)| &m.announcement)
                .chain(admitted.iter()),
        );
        let commit_suite = CipherSuite::from_id(commit.suite).ok();
        match negotiated {
            Some(s) if commit_suite == Some(s) => Ok(s),
            _ => Err(MeetingError::BadRoster {
                epoch: commit.epoch,
                reason: format!(
                    "suite {} is not the strongest suite all members support ({}): a downgrade",
                    commit.suite,
                    negotiated.map(|s| s.id()).unwrap_or(0)
                ),
            }),
        }
    }

    /// Step 5 (keys): our path after the commit, computed on a copy.
    fn next_path(
        &self,
        commit: &pb::Commit,
        plan: &Plan,
        lookup: &BTreeMap<(u32, u32), Vec<u8>>,
    ) -> Result<Option<MemberPath>, TreeError> {
        let removed = commit.removes.iter().any(|r| r.leaf == self.own_leaf);
        if removed || commit.rebuild {
            return Ok(None);
        }
        match &self.role {
            Role::Member(m) => match &m.path {
                Some(p) => {
                    let mut p = p.clone();
                    p.apply(plan, &self.meeting_id, commit.epoch, |n, c| {
                        lookup.get(&(n, c)).map(|v| v.as_slice())
                    })
                    .map(|()| Some(p))
                }
                None => Err(TreeError::MissingKey(tree::leaf_node(self.own_leaf))),
            },
            Role::Leader(_) => Ok(None),
        }
    }
}

/// Step 4: the delivered updates are the plan's, of the right size, and prove the commit's
/// updates root. Returns them by (node, child).
fn check_updates(
    commit: &pb::Commit,
    bundle: &pb::CommitBundle,
    plan: &Plan,
) -> Result<BTreeMap<(u32, u32), Vec<u8>>, MeetingError> {
    let epoch = commit.epoch;
    let bad = |reason: String| MeetingError::BadRoster { epoch, reason };
    let root = wire::hash32("commit", "updates_root", &commit.updates_root)?;
    if bundle.updates.len() > MAX_NODE_UPDATES || bundle.proof.len() > MAX_PROOF_HASHES {
        return Err(bad("too many updates or proof hashes".into()));
    }
    let mut lookup: BTreeMap<(u32, u32), Vec<u8>> = BTreeMap::new();
    let mut entries = Vec::with_capacity(bundle.updates.len());
    for iu in &bundle.updates {
        let u = iu
            .update
            .as_ref()
            .ok_or_else(|| bad("empty update entry".into()))?;
        let idx = iu.index as usize;
        if plan.wraps.get(idx) != Some(&(u.node, u.child)) {
            return Err(bad(format!(
                "update {idx} is for node {} under {}, not what the plan requires",
                u.node, u.child
            )));
        }
        if u.ciphertext.len() != WRAPPED_KEY_LEN {
            return Err(bad(format!("update {idx} ciphertext has the wrong length")));
        }
        entries.push((idx, update_leaf(u.node, u.child, &u.ciphertext)));
        lookup.insert((u.node, u.child), u.ciphertext.clone());
    }
    let expected = if commit.rebuild { 0 } else { plan.wraps.len() };
    check_partial_root(
        "commit",
        epoch,
        expected,
        &entries,
        &bundle.proof,
        &root,
        true,
    )?;
    Ok(lookup)
}
