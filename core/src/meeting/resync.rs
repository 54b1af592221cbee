//! A member's liveness nonces (R1) and resync requests (`spec/state-machine.md` section 13).

use super::{Destination, Event, Meeting, wire};
use crate::schedule::labels;
use conclave_protocol::encode;
use conclave_protocol::limits::{LIVENESS_NONCE_LEN, PROTOCOL_VERSION};
use conclave_protocol::v1 as pb;
use conclave_protocol::v1::envelope::Body;
use rand_core::CryptoRng;
use std::time::Duration;

impl Meeting {
    /// R1 and the liveness nonce timer: a fresh liveness nonce to the leader.
    pub(super) fn post_nonce<R: CryptoRng + ?Sized>(&mut self, now: Duration, rng: &mut R) {
        self.send_nonce(now, rng, false);
    }

    /// A fresh liveness nonce to the leader; with `probe`, asking a live leader for a heartbeat
    /// at once (VOTE-0).
    pub(super) fn send_nonce<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
        probe: bool,
    ) {
        self.next_nonce = now + self.config.heartbeat_interval;
        if self.is_leader() {
            return;
        }
        let nonce = self.fresh_nonce(now, rng);
        let msg = pb::LivenessNonce {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            leaf: self.own_leaf,
            epoch: self.epoch,
            nonce: nonce.to_vec(),
            transcript_hash: self.transcript_hash.to_vec(),
            probe,
        };
        let signed = wire::sign(&self.identity, labels::LIVENESS, encode(&msg));
        self.push_transmit(Destination::Leader, wire::envelope(Body::Liveness(signed)));
    }

    pub(super) fn fresh_nonce<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> [u8; 24] {
        let mut nonce = [0u8; LIVENESS_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.nonces.push_back((nonce, now));
        while self.nonces.len() > 2 {
            self.nonces.pop_front();
        }
        nonce
    }

    pub(super) fn request_resync_at<R: CryptoRng + ?Sized>(
        &mut self,
        now: Duration,
        rng: &mut R,
        reason: String,
    ) {
        if self.resync_requested_for == Some(self.epoch) {
            return;
        }
        self.resync_requested_for = Some(self.epoch);
        self.resync_sent_at = Some(now);
        let nonce = self.fresh_nonce(now, rng);
        let req = pb::ResyncRequest {
            version: PROTOCOL_VERSION,
            meeting_id: self.meeting_id.clone(),
            leaf: self.own_leaf,
            have_epoch: self.secrets.as_ref().map(|s| s.epoch).unwrap_or(0),
            liveness_nonce: nonce.to_vec(),
        };
        let signed = wire::sign(&self.identity, labels::RESYNC_REQUEST, encode(&req));
        self.push_transmit(
            Destination::Leader,
            wire::envelope(Body::ResyncRequest(signed)),
        );
        self.push_event(Event::ResyncNeeded { reason });
    }
}
