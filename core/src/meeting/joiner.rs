//! The joiner's side of admission (`spec/state-machine.md` section 5, "Joiners"; HB-1,
//! ANN-10, WEL-6.5): the announcement it sends and re-sends, and how it recognises its own entry
//! in a Welcome's roster.

use std::time::Duration;

use conclave_protocol::limits::{MAX_ANNOUNCEMENT_SIZE, PROTOCOL_VERSION};
use conclave_protocol::v1::{self as pb, SignedMessage};
use conclave_protocol::{MessageKind, decode_bounded, encode};

use super::wire::{self, ValidAnnouncement, parse_announcement};
use super::{Destination, Meeting, MeetingError};
use crate::schedule::{heartbeat_hash, labels};

impl Meeting {
    /// Joiner (HB-1): remember the newest heartbeat's hash for the next announcement. On the
    /// first one heard, announce again at once with it (a rejoin needs it, ANN-10).
    pub(super) fn note_join_heartbeat(&mut self, bundle: &pb::HeartbeatBundle, now: Duration) {
        let Some(signed) = bundle.heartbeat.as_ref() else {
            return;
        };
        let Ok(hb) = wire::decode_content::<pb::Heartbeat>(MessageKind::Heartbeat, signed) else {
            return;
        };
        if hb.version != PROTOCOL_VERSION || hb.meeting_id != self.meeting_id {
            return;
        }
        self.admission.heard = Some(heartbeat_hash(&signed.content));
        if self.admission.announced.is_none()
            && let Ok(signed) = self.announcement_to_send()
        {
            self.join_sent_at = now;
            self.push_transmit(
                Destination::Leader,
                wire::envelope(conclave_protocol::v1::envelope::Body::Announcement(signed)),
            );
        }
    }

    /// Joiner: the announcement to (re)send, re-signed with the newest heartbeat heard
    /// (`recent_heartbeat`) when it changed.
    pub(super) fn announcement_to_send(&mut self) -> Result<SignedMessage, MeetingError> {
        let mut signed: SignedMessage = decode_bounded(
            MessageKind::SignedMessage,
            &self.own_announcement,
            MAX_ANNOUNCEMENT_SIZE,
        )?;
        if let Some(heard) = self.admission.heard
            && self.admission.announced != Some(heard)
        {
            let mut a: pb::Announcement = decode_bounded(
                MessageKind::Announcement,
                &signed.content,
                MAX_ANNOUNCEMENT_SIZE,
            )?;
            a.recent_heartbeat = heard.to_vec();
            signed = wire::sign(&self.identity, labels::ANNOUNCEMENT, encode(&a));
            self.own_announcement = encode(&signed);
            self.admission.announced = Some(heard);
        }
        Ok(signed)
    }

    /// Joiner (WEL-6.5): whether a roster entry is one of our announcements (they differ only in
    /// `recent_heartbeat`; the HPKE keys and nonce are fresh for this join).
    pub(super) fn is_own_announcement(&self, entry: &ValidAnnouncement) -> bool {
        parse_announcement(
            &self.own_announcement,
            &self.meeting_id,
            self.config.provider,
        )
        .is_ok_and(|own| {
            own.identity == entry.identity
                && own.participant_id == entry.participant_id
                && own.hpke_keys == entry.hpke_keys
                && own.nonce == entry.nonce
        })
    }
}
