//! Heartbeats (`spec/state-machine.md` section 10.4).

use crate::meeting::proof::echo_leaf;
use crate::meeting::state::Role;
use crate::meeting::{Destination, Meeting, MeetingError, wire};
use crate::merkle;
use crate::schedule::labels;
use conclave_protocol::encode;
use conclave_protocol::limits::PROTOCOL_VERSION;
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use std::time::Duration;

impl Meeting {
    pub(in crate::meeting) fn leader_heartbeat(
        &mut self,
        now: Duration,
    ) -> Result<(), MeetingError> {
        let Some(secrets) = self.secrets.as_ref() else {
            return Ok(());
        };
        let confirmation = secrets.confirmation;
        let echoes: Vec<pb::LivenessEcho> = self
            .roster
            .members
            .iter()
            .filter(|(l, _)| **l != self.own_leaf)
            .map(|(leaf, m)| pb::LivenessEcho {
                leaf: *leaf,
                nonce: m.newest_nonce.to_vec(),
            })
            .collect();
        let hashes: Vec<[u8; 32]> = echoes.iter().map(|e| echo_leaf(e.leaf, &e.nonce)).collect();
        let interval = self.config.heartbeat_interval;
        let Role::Leader(l) = &mut self.role else {
            return Ok(());
        };
        l.hb_seq += 1;
        l.next_heartbeat = now + interval;
        l.last_heartbeat_sent = Some(now);
        let hb = pb::Heartbeat {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            epoch: self.epoch,
            transcript_hash: self.transcript_hash.to_vec(),
            leader_leaf: self.own_leaf,
            sequence: l.hb_seq,
            prev_heartbeat_hash: l.prev_hb_hash.to_vec(),
            confirmation: confirmation.to_vec(),
            liveness_root: merkle::root(&hashes).to_vec(),
            liveness_count: u32::try_from(echoes.len()).unwrap_or(u32::MAX),
            stable: l.stability.epoch == self.epoch && l.stability.is_stable(),
        };
        let content = encode(&hb);
        l.prev_hb_hash = crate::schedule::heartbeat_hash(&content);
        self.admission
            .heartbeat_sent(l.prev_hb_hash, self.epoch, now); // ANN-10
        let signed = wire::sign(&self.identity, labels::HEARTBEAT, content);
        let bundle = pb::HeartbeatBundle {
            heartbeat: Some(signed),
            echoes: echoes
                .into_iter()
                .enumerate()
                .map(|(i, echo)| pb::IndexedEcho {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    echo: Some(echo),
                })
                .collect(),
            proof: vec![],
        };
        self.push_transmit(Destination::All, wire::envelope(Body::Heartbeat(bundle)));
        self.expire_join_requests(now);
        Ok(())
    }
}
