//! Receiving a Welcome (`spec/state-machine.md` section 7: WEL-1..WEL-6).

use super::config::{MAX_PATH_SECRETS_SIZE, MAX_PENDING_WELCOMES};
use super::roster::{Member, Roster, negotiate_suite};
use super::state::{Phase, Role};
use super::wire::parse_announcement;
use super::{Event, Meeting, MeetingError, RemovalReason, wire};
use crate::schedule::{labeled_content, labels, put_vec};
use crate::tree::{MemberPath, Occupancy};
use crate::{CipherSuite, Secret};
use conclave_protocol::limits::{MAX_GROUP_INFO_SIZE, MAX_PARTICIPANTS, MAX_PATH_NODES};
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::SignedMessage;
use conclave_protocol::{MessageKind, decode_bounded};
use rand_core::CryptoRng;
use std::collections::BTreeSet;
use std::time::Duration;
use subtle::ConstantTimeEq;

impl Meeting {
    pub(super) fn on_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        signed: SignedMessage,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), MeetingError> {
        if let Role::Member(m) = &self.role
            && m.leaving.is_some()
        {
            return Ok(()); // HO-1: leaving; we take no new keys
        }
        let w: pb::Welcome = wire::decode_content(MessageKind::Welcome, &signed)?;
        wire::check_version("welcome", w.version)?;
        wire::check_meeting("welcome", &w.meeting_id, &self.meeting_id)?;
        let th = wire::hash32("welcome", "transcript_hash", &w.transcript_hash)?;
        let w_suite = match CipherSuite::from_id(w.suite) {
            Ok(s) if self.hpke.contains_key(&s.id()) => s,
            _ => {
                return Err(MeetingError::Invalid {
                    message: "welcome",
                    reason: format!("suite {} is not one we announced", w.suite),
                });
            }
        };
        if !matches!(self.phase, Phase::Joining) && w_suite != self.suite {
            return Err(MeetingError::Invalid {
                message: "welcome",
                reason: format!(
                    "suite {} is not the meeting's suite {}",
                    w.suite,
                    self.suite.id()
                ),
            });
        }
        if matches!(self.role, Role::Leader(_)) {
            return Ok(()); // leaders hold every key
        }
        let joining = matches!(self.phase, Phase::Joining);
        if !joining && w.leaf != self.own_leaf {
            return Ok(()); // someone else's
        }
        if !joining && w.epoch <= self.epoch && self.has_keys() {
            return Err(MeetingError::StaleEpoch {
                message: "welcome",
                epoch: w.epoch,
                current: self.epoch,
            });
        }
        if w.group_info.is_empty() {
            if joining {
                return Err(MeetingError::Invalid {
                    message: "welcome",
                    reason: "a joiner's Welcome must carry group info".into(),
                });
            }
            if w.epoch > self.epoch {
                // WEL-5.2: kept unverified (at most MAX_PENDING_WELCOMES, each within
                // MAX_ENVELOPE_SIZE) until its commit arrives; it causes nothing else.
                if w.epoch > self.epoch.saturating_add(1) {
                    return Err(MeetingError::Invalid {
                        message: "welcome",
                        reason: format!(
                            "epoch {} is not the next epoch {}",
                            w.epoch,
                            self.epoch.saturating_add(1)
                        ),
                    });
                }
                if self.pending_welcomes.len() >= MAX_PENDING_WELCOMES {
                    self.pending_welcomes.remove(0);
                }
                self.pending_welcomes.push(signed);
                return Ok(());
            }
            if w.epoch != self.epoch {
                return Err(MeetingError::StaleEpoch {
                    message: "welcome",
                    epoch: w.epoch,
                    current: self.epoch,
                });
            }
            // Path for our current epoch (rebuild or resync): signed by the current leader.
            self.verify_member(self.leader_leaf, labels::WELCOME, &signed, "welcome")?;
            if !bool::from(th.ct_eq(&self.transcript_hash)) {
                return Err(MeetingError::TranscriptMismatch { epoch: w.epoch });
            }
            // The transcript hash binds it to this epoch; no nonce echo is needed (WEL-5).
            let path = self.open_path(&w, &th, false)?;
            if let Role::Member(m) = &mut self.role {
                m.path = Some(path);
            }
            self.install_secrets(now)?;
            return Ok(());
        }
        // With group info: a joiner, or a member resynchronising across a gap.
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
        if gi.roster.len() > MAX_PARTICIPANTS || gi.previous_roster_size as usize > MAX_PARTICIPANTS
        {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!(
                    "{} roster entries, {} previous",
                    gi.roster.len(),
                    gi.previous_roster_size
                ),
            });
        }
        let mut roster = Roster::default();
        let mut ids = BTreeSet::new();
        let mut prev_leaf: Option<u32> = None;
        for e in &gi.roster {
            if prev_leaf.is_some_and(|p| p >= e.leaf) {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: "roster is not in ascending leaf order".into(),
                });
            }
            prev_leaf = Some(e.leaf);
            let ann = parse_announcement(&e.announcement, &self.meeting_id)?;
            if e.admitted_epoch == 0 || e.admitted_epoch > gi.epoch {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: format!(
                        "leaf {} admitted at epoch {}, outside 1..={}",
                        e.leaf, e.admitted_epoch, gi.epoch
                    ),
                });
            }
            if !ids.insert(ann.participant_id.clone()) {
                return Err(MeetingError::Invalid {
                    message: "group info",
                    reason: format!("{} appears twice in the roster", ann.participant_id),
                });
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
        let negotiated = negotiate_suite(roster.members.values().map(|m| &m.announcement));
        if negotiated != Some(w_suite) {
            return Err(MeetingError::Invalid {
                message: "group info",
                reason: format!(
                    "suite {} is not the strongest suite all members support: a downgrade",
                    w.suite
                ),
            });
        }
        if self.config.require_post_quantum && !w_suite.is_post_quantum() {
            // Verified below only if we would accept; refusing needs no trust in the sender.
            self.push_event(Event::SuiteRefused {
                suite: w_suite.id(),
            });
            self.end(RemovalReason::SuiteRefused);
            return Err(MeetingError::Refused {
                participant: self.participant_id.clone(),
                reason: format!(
                    "the meeting uses suite {}, but post-quantum key distribution is required",
                    w_suite.id()
                ),
            });
        }
        let leader = roster.get(gi.leader_leaf).ok_or(MeetingError::Invalid {
            message: "group info",
            reason: format!("leader leaf {} is not in the roster", gi.leader_leaf),
        })?;
        if !joining {
            // WEL-6.3: a resync comes only from our own leader (a leader elected without us
            // first sends us its failover commit, FO-5), and never from one we voted out.
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
        }
        let lid = leader.announcement.participant_id.clone();
        wire::verify(
            &leader.announcement.identity,
            labels::GROUP_INFO,
            &gi_signed,
            "group info",
            || lid.clone(),
        )?;
        wire::verify(
            &leader.announcement.identity,
            labels::WELCOME,
            &signed,
            "welcome",
            || lid,
        )?;
        let me = roster.get(w.leaf).ok_or(MeetingError::Invalid {
            message: "welcome",
            reason: format!("our leaf {} is not in the roster", w.leaf),
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
        self.own_leaf = w.leaf;
        let path = {
            // open_path needs own_leaf and occupancy width.
            let saved = std::mem::replace(&mut self.occupancy, occupancy.clone());
            let r = self.open_path(&w, &th, true);
            if r.is_err() {
                self.occupancy = saved;
            }
            r?
        };
        self.roster = roster;
        self.admission
            .pins
            .sync_present(self.roster.members.values().map(|m| {
                let a = &m.announcement;
                (a.participant_id.as_str(), &a.identity, m.admitted_epoch)
            }));
        self.occupancy = occupancy;
        self.previous_roster_len = gi.previous_roster_size as usize;
        if gi.leader_leaf != self.leader_leaf && !joining {
            let (pid, fp) = self.roster.describe(gi.leader_leaf);
            self.push_event(Event::LeaderChanged {
                participant_id: pid,
                fingerprint: fp,
            });
        }
        self.leader_leaf = gi.leader_leaf;
        self.locked = gi.locked;
        if w_suite != self.suite || joining {
            self.suite = w_suite;
            self.push_event(Event::SuiteChanged {
                suite: w_suite.id(),
                post_quantum: w_suite.is_post_quantum(),
            });
        }
        self.epoch = gi.epoch;
        self.transcript_hash = th;
        if let Role::Member(m) = &mut self.role {
            m.path = Some(path);
            m.last_heartbeat = now;
            m.missed_reported = 0;
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

    pub(super) fn open_path(
        &mut self,
        w: &pb::Welcome,
        th: &[u8; 32],
        check_nonce: bool,
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
        MemberPath::from_secrets(w.leaf, self.occupancy.width(), nodes)
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
