//! Installing epoch secrets and the key switch-over (`spec/state-machine.md` section 14:
//! SW-1..SW-4).

use super::state::{Phase, Role};
use super::{Event, Meeting, MeetingError};
use crate::schedule::EpochSecrets;
use std::time::Duration;

impl Meeting {
    /// SW-4: stop sending media until a heartbeat certifies our epoch again.
    pub(super) fn pause_sending(&mut self, reason: &str) {
        if self.sending {
            self.sending = false;
            self.push_event(Event::SendingPaused {
                reason: reason.to_string(),
            });
        }
    }

    pub(super) fn resume_sending(&mut self) {
        if !self.sending {
            self.sending = true;
            self.push_event(Event::SendingResumed {
                epoch: self.send_epoch,
            });
        }
    }

    /// Whether media may be sent now (false while the leader is silent or our view is stale).
    pub fn can_send(&self) -> bool {
        self.sending
            && matches!(self.phase, Phase::Active)
            && self.send_epoch > 0
            && self.frames.can_encrypt()
    }

    pub(super) fn send_now(&mut self, epoch: u64) {
        if epoch > self.send_epoch || self.send_epoch == 0 {
            self.send_epoch = epoch;
            self.frames.activate_send_epoch(epoch);
            self.push_event(Event::SendEpoch { epoch });
        }
        if self.send_switch.is_some_and(|(e, _)| e <= epoch) {
            self.send_switch = None;
        }
    }

    pub(super) fn install_secrets(&mut self, now: Duration) -> Result<(), MeetingError> {
        let root = match &self.role {
            Role::Leader(l) => l
                .tree
                .as_ref()
                .map(|t| t.root_key().cloned())
                .transpose()
                .map_err(|source| MeetingError::Tree {
                    epoch: self.epoch,
                    source,
                })?,
            Role::Member(m) => m
                .path
                .as_ref()
                .map(|p| p.root_key().cloned())
                .transpose()
                .map_err(|source| MeetingError::Tree {
                    epoch: self.epoch,
                    source,
                })?,
        };
        let Some(root) = root else {
            return Ok(());
        };
        let s = EpochSecrets::derive(&self.meeting_id, self.epoch, &self.transcript_hash, &root);
        self.push_event(Event::EpochChanged {
            epoch: self.epoch,
            security_code: s.security_code.clone(),
        });
        // Receivers accept the new epoch at once; sending moves at the switch-over.
        let _ = self.frames.set_own_sender(self.own_leaf);
        self.frames.set_sender_bound(self.occupancy.width());
        if self
            .frames
            .install_epoch_deferred(s.epoch, &s.frame_secret, now)
            .is_err()
        {
            // Keys of this epoch number from another branch (a fork we left): start afresh.
            self.frames.clear();
            let _ = self
                .frames
                .install_epoch_deferred(s.epoch, &s.frame_secret, now);
            self.send_epoch = s.epoch;
            self.send_switch = None;
        }
        self.secrets = Some(s);
        self.resync_requested_for = None;
        if self.send_epoch == 0 {
            self.send_now(self.epoch);
        } else {
            // SW-2: a later commit never postpones a pending switch.
            let due = self
                .send_switch
                .map(|(_, d)| d)
                .unwrap_or(now + self.config.switch_delay);
            self.send_switch = Some((self.epoch, due));
            if self.config.switch_delay.is_zero() {
                self.send_now(self.epoch);
            }
        }
        Ok(())
    }
}
