//! Receiving a Welcome (`spec/state-machine.md` section 7: WEL-1..WEL-6).
//! [`Meeting::stage_welcome`] checks a Welcome (and its group info) and opens the path secrets
//! without changing state; the `merge_*` functions apply the result.

use std::collections::BTreeSet;
use std::time::Duration;

use conclave_protocol::limits::{MAX_GROUP_INFO_SIZE, MAX_PARTICIPANTS, MAX_PATH_NODES};
use conclave_protocol::v1::{self as pb, SignedMessage};
use conclave_protocol::{MessageKind, decode_bounded};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use super::config::{MAX_PATH_SECRETS_SIZE, MAX_PENDING_WELCOMES};
use super::roster::{Member, Roster, negotiate_suite};
use super::state::{Phase, Role};
use super::wire::parse_announcement;
use super::{Event, Meeting, MeetingError, RemovalReason, wire};
use crate::schedule::{labeled_content, labels, put_vec};
use crate::tree::{MemberPath, Occupancy};
use crate::{CipherSuite, Secret};

/// What a checked Welcome means for us.
enum WelcomeCheck {
    /// Not for us now (a leader, someone else's leaf, or we are leaving after a handover).
    Ignore,
    /// WEL-5.2: a path for the next epoch, kept unverified until its commit arrives.
    Buffer,
    /// A path for our current epoch (rebuild or resync without group info).
    Path(MemberPath),
    /// We require post-quantum key distribution and the meeting does not offer it.
    RefuseSuite(CipherSuite),
    /// A joiner's or resyncing member's new group state (WEL-6).
    GroupState(Box<GroupState>),
}

/// The group state a Welcome with group info brings, fully verified.
struct GroupState {
    roster: Roster,
    occupancy: Occupancy,
    leaf: u32,
    leader_leaf: u32,
    locked: bool,
    epoch: u64,
    transcript_hash: [u8; 32],
    suite: CipherSuite,
    previous_roster_len: usize,
    path: MemberPath,
}

impl Meeting {
    /// Section 7: a Welcome from the relay.
    pub(super) fn on_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        match self.stage_welcome(&signed)? {
            WelcomeCheck::Ignore => Ok(()),
            WelcomeCheck::Buffer => {
                if self.pending_welcomes.len() >= MAX_PENDING_WELCOMES {
                    self.pending_welcomes.remove(0);
                }
                self.pending_welcomes.push(signed);
                Ok(())
            }
            WelcomeCheck::Path(path) => {
                if let Role::Member(m) = &mut self.role {
                    m.path = Some(path);
                }
                self.install_secrets(now)
            }
            WelcomeCheck::RefuseSuite(suite) => {
                // Refusing needs no trust in the sender: we only leave.
                self.push_event(Event::SuiteRefused { suite: suite.id() });
                self.end(RemovalReason::SuiteRefused);
                Err(MeetingError::Refused {
                    participant: self.participant_id.clone(),
                    reason: format!(
                        "the meeting uses suite {}, but post-quantum key distribution is required",
                        suite.id()
                    ),
                })
            }
            WelcomeCheck::GroupState(state) => self.merge_group_state(*state, now, rng),
        }
    }

    /// WEL-1 to WEL-6 without changing state.
    fn stage_welcome(&self, signed: &SignedMessage) -> Result<WelcomeCheck, MeetingError> {
        if let Role::Member(m) = &self.role
            && m.leaving.is_some()
        {
            return Ok(WelcomeCheck::Ignore); // HO-1: leaving; we take no new keys
        }
        let w: pb::Welcome = wire::decode_content(MessageKind::Welcome, signed)?;
        wire::check_version("welcome", w.version)?;
        wire::check_meeting("welcome", &w.meeting_id, &self.meeting_id)?;
        let th = wire::hash32("welcome", "transcript_hash", &w.transcript_hash)?;
        let joining = matches!(self.phase, Phase::Joining);
        let suite = match CipherSuite::from_id(w.suite) {
            Ok(s) if self.hpke.contains_key(&s.id()) => s,
            _ => {
                return Err(MeetingError::Invalid {
                    message: "welcome",
                    reason: format!("suite {} is not one we announced", w.suite),
                });
            }
        };
        if !joining && suite != self.suite {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: format!(
                    "suite {} is not the meeting's suite {}",
                    w.suite,
                    self.suite.id()
                ),
            });
        }
        if matches!(self.role, Role::Leader(_)) || (!joining && w.leaf != self.own_leaf) {
            return Ok(WelcomeCheck::Ignore); // leaders hold every key; or someone else's
        }
        if !joining && w.epoch <= self.epoch && self.has_keys() {
            return Err(MeetingError::StaleEpoch {
                message: "welcome",
                epoch: w.epoch,
                current: self.epoch,
            });
        }
        if w.group_info.is_empty() {
            return self.stage_path_welcome(signed, &w, &th, joining);
        }
        self.stage_group_info(signed, &w, &th, suite, joining)
    }

    /// WEL-5: a Welcome without group info carries a path for the current epoch (signed by
    /// the current leader, bound by the transcript hash: no nonce echo is needed), or for the
    /// next epoch (buffered).
    fn stage_path_welcome(
        &self,
        signed: &SignedMessage,
        w: &pb::Welcome,
        th: &[u8; 32],
        joining: bool,
    ) -> Result<WelcomeCheck, MeetingError> {
        if joining {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: "a joiner's Welcome must carry group info".into(),
            });
        }
        let next = self.epoch.saturating_add(1);
        if w.epoch > next {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: format!("epoch {} is not the next epoch {next}", w.epoch),
            });
        }
        if w.epoch == next {
            // WEL-5.2: at most MAX_PENDING_WELCOMES, each within MAX_ENVELOPE_SIZE.
            return Ok(WelcomeCheck::Buffer);
        }
        if w.epoch != self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "welcome",
                epoch: w.epoch,
                current: self.epoch,
            });
        }
        self.verify_member(self.leader_leaf, labels::WELCOME, signed, "welcome")?;
        if !bool::from(th.ct_eq(&self.transcript_hash)) {
            return Err(MeetingError::TranscriptMismatch { epoch: w.epoch });
        }
        let path = self.open_path(w, th, false, self.occupancy.width())?;
        Ok(WelcomeCheck::Path(path))
    }

    /// WEL-6: a Welcome with group info, for a joiner or a member resynchronising across a
    /// gap: the roster, the suite, the signer (WEL-6.3), our own entry, the tree width and
    /// our path.
    fn stage_group_info(
        &self,
        signed: &SignedMessage,
        w: &pb::Welcome,
        th: &[u8; 32],
        suite: CipherSuite,
        joining: bool,
    ) -> Result<WelcomeCheck, MeetingError> {
        let gi_signed: SignedMessage = decode_bounded(
            MessageKind::SignedMessage,
            &w.group_info,
            MAX_GROUP_INFO_SIZE,
        )?;
        let gi: pb::GroupInfo = wire::decode_content(MessageKind::GroupInfo, &gi_signed)?;
        wire::check_version("group info", gi.version)?;
        wire::check_meeting("group info", &gi.meeting_id, &self.meeting_id)?;
        if gi.epoch != w.epoch || gi.transcript_hash != w.transcript_hash || gi.suite != w.suite {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: "group info and Welcome disagree on epoch, transcript or suite".into(),
            });
        }
        let roster = self.read_roster(&gi)?;
        if negotiate_suite(roster.members.values().map(|m| &m.announcement)) != Some(suite) {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!(
                    "suite {} is not the strongest suite all members support: a downgrade",
                    w.suite
                ),
            });
        }
        if self.config.require_post_quantum && !suite.is_post_quantum() {
            return Ok(WelcomeCheck::RefuseSuite(suite));
        }
        let leader = roster.get(gi.leader_leaf).ok_or(MeetingError::Invalid {
            message: "group info",
            reason: format!("leader leaf {} is not in the roster", gi.leader_leaf),
        })?;
        if !joining {
            self.check_resync_leader(&gi, leader)?;
        }
        let lid = leader.announcement.participant_id.clone();
        let identity = &leader.announcement.identity;
        wire::verify(
            identity,
            labels::GROUP_INFO,
            &gi_signed,
            "group info",
            || lid.clone(),
        )?;
        wire::verify(identity, labels::WELCOME, signed, "welcome", || lid)?;
        self.check_own_entry(&roster, w.leaf, joining)?;
        let width = gi.leaf_count;
        let highest = roster.members.keys().next_back().copied().unwrap_or(0);
        if width > 1 && highest < width / 2 {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!("leaf_count {width} is not the truncated width of the roster"),
            });
        }
        let occupancy =
            Occupancy::from_parts(width, roster.members.keys().copied()).map_err(|source| {
                MeetingError::Tree {
                    epoch: gi.epoch,
                    source,
                }
            })?;
        let path = self.open_path(w, th, true, occupancy.width())?;
        Ok(WelcomeCheck::GroupState(Box::new(GroupState {
            roster,
            occupancy,
            leaf: w.leaf,
            leader_leaf: gi.leader_leaf,
            locked: gi.locked,
            epoch: gi.epoch,
            transcript_hash: *th,
            suite,
            previous_roster_len: gi.previous_roster_size as usize,
            path,
        })))
    }

    /// The group info's roster: bounded, in ascending leaf order, valid announcements with
    /// unique ids, admitted at epochs up to the group info's.
    fn read_roster(&self, gi: &pb::GroupInfo) -> Result<Roster, MeetingError> {
        let invalid = |reason: String| MeetingError::Invalid {
            message: "group info",
            reason,
        };
        if gi.roster.len() > MAX_PARTICIPANTS || gi.previous_roster_size as usize > MAX_PARTICIPANTS
        {
            return Err(invalid(format!(
                "{} roster entries, {} previous",
                gi.roster.len(),
                gi.previous_roster_size
            )));
        }
        let mut roster = Roster::default();
        let mut ids = BTreeSet::new();
        let mut prev_leaf: Option<u32> = None;
        for e in &gi.roster {
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(invalid("roster is not in ascending leaf order".into()));
            }
            prev_leaf = Some(e.leaf);
            let ann = parse_announcement(&e.announcement, &self.meeting_id, self.config.provider)?;
            if e.admitted_epoch == 0 || e.admitted_epoch > gi.epoch {
                return Err(invalid(format!(
                    "leaf {} admitted at epoch {}, outside 1..={}",
                    e.leaf, e.admitted_epoch, gi.epoch
                )));
            }
            if !ids.insert(ann.participant_id.clone()) {
                return Err(invalid(format!(
                    "{} appears twice in the roster",
                    ann.participant_id
                )));
            }
            roster.members.insert(
                e.leaf,
                Member {
                    newest_nonce: ann.nonce,
                    announcement: ann,
                    admitted_epoch: e.admitted_epoch,
                },
            );
        }
        Ok(roster)
    }

    /// WEL-6.3: a resync comes only from our own leader (a leader elected without us first
    /// sends us its failover commit, FO-5), never from one we voted out, and never for an
    /// earlier epoch.
    fn check_resync_leader(&self, gi: &pb::GroupInfo, leader: &Member) -> Result<(), MeetingError> {
        let same_key = self
            .roster
            .get(gi.leader_leaf)
            .is_some_and(|m| m.announcement.identity == leader.announcement.identity);
        if gi.leader_leaf != self.leader_leaf || !same_key {
            return Err(MeetingError::NotLeader {
                message: "resync group info",
                epoch: gi.epoch,
                signer: gi.leader_leaf,
                leader: self.leader_leaf,
            });
        }
        if let Role::Member(m) = &self.role
            && m.voted_out.contains(&gi.leader_leaf)
        {
            return Err(MeetingError::Unexpected {
                message: "resync group info",
                reason: "signed by a leader we voted out (VOTE-2)",
            });
        }
        if gi.epoch < self.epoch {
            return Err(MeetingError::StaleEpoch {
                message: "welcome",
                epoch: gi.epoch,
                current: self.epoch,
            });
        }
        Ok(())
    }

    /// The roster entry at our leaf is us (and, for a joiner, our own announcement).
    fn check_own_entry(
        &self,
        roster: &Roster,
        leaf: u32,
        joining: bool,
    ) -> Result<(), MeetingError> {
        let me = roster.get(leaf).ok_or(MeetingError::Invalid {
            message: "welcome",
            reason: format!("our leaf {leaf} is not in the roster"),
        })?;
        if me.announcement.identity != *self.identity.public()
            || me.announcement.participant_id != self.participant_id
            || (joining && !self.is_own_announcement(&me.announcement))
        {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: "the roster entry at our leaf is not our announcement".into(),
            });
        }
        Ok(())
    }

    /// WEL-6: takes the verified group state, installs its keys and acknowledges it (R1); a
    /// joiner is then in the meeting and applies the commits it buffered.
    fn merge_group_state<R: CryptoRng + ?Sized>(
        &mut self,
        g: GroupState,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        let joining = matches!(self.phase, Phase::Joining);
        self.own_leaf = g.leaf;
        self.roster = g.roster;
        self.admission
            .pins
            .sync_present(self.roster.members.values().map(|m| {
                let a = &m.announcement;
                (a.participant_id.as_str(), &a.identity, m.admitted_epoch)
            }));
        self.occupancy = g.occupancy;
        self.previous_roster_len = g.previous_roster_len;
        if g.leader_leaf != self.leader_leaf && !joining {
            let (pid, fp) = self.roster.describe(g.leader_leaf);
            self.push_event(Event::LeaderChanged {
                participant_id: pid,
                fingerprint: fp,
            });
        }
        self.leader_leaf = g.leader_leaf;
        self.locked = g.locked;
        if g.suite != self.suite || joining {
            self.suite = g.suite;
            self.push_event(Event::SuiteChanged {
                suite: g.suite.id(),
                post_quantum: g.suite.is_post_quantum(),
            });
        }
        self.epoch = g.epoch;
        self.transcript_hash = g.transcript_hash;
        if let Role::Member(m) = &mut self.role {
            m.path = Some(g.path);
            m.last_heartbeat = now;
            m.missed_reported = 0;
            m.hint_confirm_at = None;
            m.hb_seq = 0;
            m.suspected.clear();
            m.ballot = None;
            m.stable_proof = None;
        }
        self.install_secrets(now)?;
        // R1: acknowledge the epoch we now hold.
        self.post_nonce(now, rng);
        if joining {
            self.phase = Phase::Active;
            self.last_echo = now;
            self.push_event(Event::Joined {
                epoch: self.epoch,
                leaf: self.own_leaf,
            });
            self.drain_pending(now, rng);
        }
        Ok(())
    }

    /// Opens the path secrets of a Welcome for a tree of `width` leaves; with `check_nonce`,
    /// they must echo one of our two newest liveness nonces (WEL-6). Pure.
    fn open_path(
        &self,
        w: &pb::Welcome,
        th: &[u8; 32],
        check_nonce: bool,
        width: u32,
    ) -> Result<MemberPath, MeetingError> {
        let epoch = w.epoch;
        let info = welcome_info(&self.meeting_id, epoch, w.leaf);
        let kp = self.hpke.get(&w.suite).ok_or(MeetingError::Invalid {
            message: "welcome",
            reason: format!("suite {} is not one we announced", w.suite),
        })?;
        let pt = kp
            .open(&w.enc, &info, th, &w.ciphertext)
            .map_err(|source| MeetingError::Crypto { epoch, source })?;
        let ps: pb::PathSecrets =
            decode_bounded(MessageKind::PathSecrets, &pt, MAX_PATH_SECRETS_SIZE)?;
        if ps.leaf != w.leaf || ps.nodes.len() > MAX_PATH_NODES {
            return Err(MeetingError::Invalid {
                message: "path secrets",
                reason: "leaf or node count is wrong".into(),
            });
        }
        let echoed = wire::nonce24("path secrets", &ps.echoed_nonce)?;
        if check_nonce
            && !self
                .nonces
                .iter()
                .any(|(n, _)| bool::from(n.ct_eq(&echoed)))
        {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason:
                    "it does not echo one of our two newest liveness nonces (stale or replayed)"
                        .into(),
            });
        }
        let mut nodes = Vec::with_capacity(ps.nodes.len());
        for n in &ps.nodes {
            let k = Secret::from_slice(&n.key, "node key")
                .map_err(|source| MeetingError::Crypto { epoch, source })?;
            nodes.push((n.node, k));
        }
        MemberPath::from_secrets(w.leaf, width, nodes)
            .map_err(|source| MeetingError::Tree { epoch, source })
    }
}

/// HPKE `info` of a Welcome seal.
pub fn welcome_info(meeting_id: &[u8], epoch: u64, leaf: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(16 + meeting_id.len());
    put_vec(&mut c, meeting_id);
    c.extend_from_slice(&epoch.to_be_bytes());
    c.extend_from_slice(&leaf.to_be_bytes());
    labeled_content(labels::WELCOME_SEAL, &c)
}
