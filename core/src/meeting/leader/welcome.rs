//! Welcomes and GroupInfo (`spec/state-machine.md` section 10.3) and offloaded sealing
//! (section 12.4.1).

use crate::identity::IdentityKey;
use crate::meeting::state::Role;
use crate::meeting::welcome::welcome_info;
use crate::meeting::{Destination, Meeting, MeetingError, Transmit, wire};
use crate::schedule::labels;
use crate::{CipherSuite, hpke};
use conclave_protocol::encode;
use conclave_protocol::limits::{MAX_PARTICIPANTS, PROTOCOL_VERSION};
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;
use std::sync::Arc;

/// One Welcome to seal and sign: the HPKE seal of a member's path keys (the one O(N) public-key
/// cost of a failover). Produced by [`Meeting::poll_seal_job`]; holds secret path keys (zeroized
/// on drop) and never prints them.
#[cfg_attr(fuzzing, derive(Clone))]
pub struct SealJob {
    recipient: String,
    suite: CipherSuite,
    public_key: Vec<u8>,
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    welcome: pb::Welcome,
    identity: Arc<IdentityKey>,
}

impl core::fmt::Debug for SealJob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealJob")
            .field("recipient", &self.recipient)
            .field("epoch", &self.welcome.epoch)
            .finish_non_exhaustive()
    }
}

impl SealJob {
    /// Who the Welcome is for.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// Seals, signs and encodes the Welcome, ready to send.
    pub fn run<R: CryptoRng + ?Sized>(self, rng: &mut R) -> Result<Transmit, MeetingError> {
        let mut welcome = self.welcome;
        let epoch = welcome.epoch;
        let info = welcome_info(&welcome.meeting_id, epoch, welcome.leaf);
        // The identity is bound to the meeting's provider (`Meeting::new_common`).
        let (enc, ciphertext) = hpke::seal_with(
            self.identity.provider(),
            self.suite,
            &self.public_key,
            &info,
            &welcome.transcript_hash,
            &self.plaintext,
            rng,
        )
        .map_err(|source| MeetingError::Crypto { epoch, source })?;
        welcome.enc = enc;
        welcome.ciphertext = ciphertext;
        let signed = wire::sign(&self.identity, labels::WELCOME, encode(&welcome));
        Ok(Transmit {
            destination: Destination::Participant(self.recipient),
            payload: wire::envelope(Body::Welcome(signed)),
        })
    }
}

impl Meeting {
    pub(in crate::meeting) fn make_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        echoed_nonce: [u8; 24],
        with_group_info: bool,
        rng: &mut R,
    ) -> Result<Vec<u8>, MeetingError> {
        self.welcome_or_job(leaf, echoed_nonce, with_group_info, false, rng)
    }

    /// Builds a Welcome for `leaf`; with `defer`, queues its sealing as a [`SealJob`] and
    /// returns an empty payload.
    pub(in crate::meeting) fn welcome_or_job<R: CryptoRng + ?Sized>(
        &mut self,
        leaf: u32,
        echoed_nonce: [u8; 24],
        with_group_info: bool,
        defer: bool,
        rng: &mut R,
    ) -> Result<Vec<u8>, MeetingError> {
        let epoch = self.epoch;
        let Role::Leader(l) = &self.role else {
            return Err(MeetingError::NotTheLeader("send a Welcome"));
        };
        let t = l
            .tree
            .as_ref()
            .ok_or(MeetingError::NotTheLeader("send a Welcome"))?;
        let path = t
            .path_secrets(leaf)
            .map_err(|source| MeetingError::Tree { epoch, source })?;
        let member = self
            .roster
            .get(leaf)
            .ok_or_else(|| MeetingError::UnknownParticipant(format!("leaf {leaf}")))?;
        let pk = member
            .announcement
            .hpke_key(self.suite)
            .ok_or_else(|| MeetingError::Refused {
                participant: member.announcement.participant_id.clone(),
                reason: "no HPKE key for the meeting's suite".into(),
            })?
            .to_vec();
        let recipient = member.announcement.participant_id.clone();
        let secrets = pb::PathSecrets {
            leaf,
            nodes: path
                .iter()
                .map(|(node, key)| pb::NodeSecret {
                    node: *node,
                    key: key.expose().to_vec(),
                })
                .collect(),
            echoed_nonce: echoed_nonce.to_vec(),
        };
        let plaintext = zeroize::Zeroizing::new(encode(&secrets));
        let group_info = if with_group_info {
            self.signed_group_info()
        } else {
            Vec::new()
        };
        let job = SealJob {
            recipient,
            suite: self.suite,
            public_key: pk,
            plaintext,
            welcome: pb::Welcome {
                version: PROTOCOL_VERSION,
                suite: self.suite.id(),
                meeting_id: self.meeting_id.clone(),
                epoch,
                leaf,
                transcript_hash: self.transcript_hash.to_vec(),
                enc: Vec::new(),
                ciphertext: Vec::new(),
                group_info,
            },
            identity: Arc::clone(&self.identity),
        };
        if defer {
            if self.seal_jobs.len() >= MAX_PARTICIPANTS {
                self.seal_jobs.pop_front();
            }
            self.seal_jobs.push_back(job);
            return Ok(Vec::new());
        }
        Ok(job.run(rng)?.payload)
    }

    /// The signed `GroupInfo` of the current epoch (section 10.3), signed once per epoch and
    /// reused for every joiner and resync of that epoch.
    fn signed_group_info(&mut self) -> Vec<u8> {
        let epoch = self.epoch;
        if let Some((e, bytes)) = &self.group_info_cache
            && *e == epoch
        {
            return bytes.clone();
        }
        let gi = pb::GroupInfo {
            version: PROTOCOL_VERSION,
            suite: self.suite.id(),
            meeting_id: self.meeting_id.clone(),
            epoch,
            transcript_hash: self.transcript_hash.to_vec(),
            leader_leaf: self.leader_leaf,
            locked: self.locked,
            leaf_count: self.occupancy.width(),
            roster: self
                .roster
                .members
                .iter()
                .map(|(leaf, m)| pb::RosterEntry {
                    leaf: *leaf,
                    admitted_epoch: m.admitted_epoch,
                    announcement: m.announcement.bytes.clone(),
                })
                .collect(),
            previous_roster_size: u32::try_from(self.previous_roster_len).unwrap_or(u32::MAX),
        };
        let bytes = encode(&wire::sign(&self.identity, labels::GROUP_INFO, encode(&gi)));
        self.group_info_cache = Some((epoch, bytes.clone()));
        bytes
    }
}
