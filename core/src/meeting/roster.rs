//! The signed roster: who is in the meeting, at which leaf, admitted when, with which keys.

use std::collections::BTreeMap;

use super::wire::ValidAnnouncement;
use crate::CipherSuite;

/// A present member as the roster records it.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub announcement: ValidAnnouncement,
    pub admitted_epoch: u64,
    /// The newest liveness nonce the leader knows for this member.
    pub newest_nonce: [u8; 24],
}

/// Present members by leaf.
#[derive(Clone, Debug, Default)]
pub(crate) struct Roster {
    pub members: BTreeMap<u32, Member>,
}

impl Roster {
    pub fn leaf_of(&self, participant_id: &str) -> Option<u32> {
        self.members
            .iter()
            .find(|(_, m)| m.announcement.participant_id == participant_id)
            .map(|(l, _)| *l)
    }

    pub fn get(&self, leaf: u32) -> Option<&Member> {
        self.members.get(&leaf)
    }

    /// The participant id and rendered fingerprint at `leaf` (empty if absent), for events.
    pub fn describe(&self, leaf: u32) -> (String, String) {
        self.members
            .get(&leaf)
            .map(|m| {
                (
                    m.announcement.participant_id.clone(),
                    m.announcement.identity.fingerprint_string(),
                )
            })
            .unwrap_or_default()
    }

    pub fn id_of(&self, leaf: u32) -> String {
        self.members
            .get(&leaf)
            .map(|m| m.announcement.participant_id.clone())
            .unwrap_or_else(|| format!("leaf {leaf}"))
    }

    /// Deterministic succession: the earliest admitted member other than those in `exclude`,
    /// ties by lowest leaf.
    pub fn successor(&self, exclude: &[u32]) -> Option<u32> {
        self.members
            .iter()
            .filter(|(l, _)| !exclude.contains(l))
            .min_by_key(|(l, m)| (m.admitted_epoch, **l))
            .map(|(l, _)| *l)
    }
}

/// The strongest suite (`CipherSuite::strength`) for which every announcement carries a key.
pub(super) fn negotiate_suite<'a>(
    announcements: impl Iterator<Item = &'a ValidAnnouncement>,
) -> Option<CipherSuite> {
    let mut common: Vec<CipherSuite> = CipherSuite::ALL.to_vec();
    for a in announcements {
        common.retain(|s| a.hpke_key(*s).is_some());
    }
    common.into_iter().max_by_key(|s| s.strength())
}
