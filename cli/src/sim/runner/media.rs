//! The simulated media: every active member encrypts audio and video frames with its own
//! `FrameCrypto` and the relay forwards each to every other member, dropping some (loss,
//! partition) and, while a frame attack is mounted, forging more.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use conclave_core::frame::{FrameCrypto, FrameError, FrameHeader, RejectionCounts};
use rand_core::Rng;

use super::{Runner, STEP};
use crate::sim::records::{
    AUDIO_BYTES, AUDIO_FPS, AUDIO_STREAM, Detection, FrameAttack, VIDEO_BYTES, VIDEO_FPS,
    VIDEO_STREAM, kind_name, payload,
};

/// Frames kept for replays.
const EARLY_FRAMES: usize = 32;
/// Frame rejections of one kind kept as evidence.
const DETECTIONS_PER_KIND: u64 = 3;

/// One sender's media clock.
pub(super) struct MediaState {
    pub crypto: Arc<FrameCrypto>,
    next_audio: Duration,
    next_video: Duration,
    audio_n: u64,
    video_n: u64,
}

impl Runner {
    /// Sends and relays the frames due at the current time.
    pub(super) fn media_step(&mut self) {
        let receivers = self.active();
        let crypto: BTreeMap<String, Arc<FrameCrypto>> = receivers
            .iter()
            .map(|id| (id.clone(), self.sim.participants[id].frame_crypto()))
            .collect();
        for id in &receivers {
            let fc = self.sim.participants[id].frame_crypto();
            for (stream, plaintext) in self.due_frames(id, &fc) {
                let Ok(frame) = fc.encrypt(stream, &plaintext, 1) else {
                    continue;
                };
                if stream == AUDIO_STREAM {
                    self.frames.audio_sent += 1;
                } else {
                    self.frames.video_sent += 1;
                }
                self.frames.bytes_sent += frame.len() as u64;
                let from = id.clone();
                self.scanner
                    .scan(&frame, || format!("a media frame from {from}"));
                if self.early_frames.len() < EARLY_FRAMES {
                    self.early_frames.push((id.clone(), frame.clone()));
                }
                for to in &receivers {
                    if to == id {
                        continue;
                    }
                    self.relay_frame(id, to, &crypto[to], &frame, &plaintext);
                }
            }
        }
    }

    /// The (stream, plaintext) frames `id` sends now, starting its media clock if `fc` is new.
    fn due_frames(&mut self, id: &str, fc: &Arc<FrameCrypto>) -> Vec<(u32, Vec<u8>)> {
        let now = self.sim.now;
        let can_send = self.sim.participants[id].can_send();
        let fresh = self
            .media
            .get(id)
            .is_none_or(|s| !Arc::ptr_eq(&s.crypto, fc));
        if fresh {
            let phase_a = Duration::from_micros(u64::from(self.rng.next_u32() % 20_000));
            let phase_v = Duration::from_micros(u64::from(self.rng.next_u32() % 33_333));
            if let Some(old) = self.media.insert(
                id.to_string(),
                MediaState {
                    crypto: Arc::clone(fc),
                    next_audio: now + phase_a,
                    next_video: now + phase_v,
                    audio_n: 0,
                    video_n: 0,
                },
            ) {
                self.retired.push(old.crypto);
            }
        }
        let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
        if let Some(st) = self.media.get_mut(id) {
            // No catching up after a pause of the simulated media.
            let late = now.saturating_sub(STEP * 10);
            st.next_audio = st.next_audio.max(late);
            st.next_video = st.next_video.max(late);
            while st.next_audio <= now {
                st.next_audio += Duration::from_micros(1_000_000 / AUDIO_FPS);
                if can_send {
                    out.push((AUDIO_STREAM, payload("audio", id, st.audio_n, AUDIO_BYTES)));
                    st.audio_n += 1;
                }
            }
            while st.next_video <= now {
                st.next_video += Duration::from_micros(1_000_000 / VIDEO_FPS);
                if can_send {
                    out.push((VIDEO_STREAM, payload("video", id, st.video_n, VIDEO_BYTES)));
                    st.video_n += 1;
                }
            }
        }
        out
    }

    fn blocked(&mut self, from: &str, to: &str) -> bool {
        let partitioned = self
            .tap
            .borrow()
            .partition
            .as_ref()
            .is_some_and(|side| side.contains(from) != side.contains(to));
        partitioned
            || (self.loss > 0.0 && self.rng.next_u32() % 1_000_000 < (self.loss * 1e6) as u32)
    }

    fn relay_frame(
        &mut self,
        from: &str,
        to: &str,
        receiver: &FrameCrypto,
        frame: &[u8],
        plaintext: &[u8],
    ) {
        if self.blocked(from, to) {
            self.frames.dropped += 1;
            return;
        }
        let now = self.sim.now;
        if let Some(kind) = self.frame_attack {
            for f in self.forge_frame(kind, to, frame) {
                self.frames.injected += 1;
                if let Err(e) = receiver.decrypt(&f, now) {
                    self.record_frame_rejection(to, from, &e);
                }
            }
        }
        self.frames.forwarded += 1;
        match receiver.decrypt(frame, now) {
            Ok(d) => {
                if d.plaintext != plaintext {
                    self.frames.plaintext_mismatches += 1;
                }
            }
            Err(e) => {
                let just_joined = self
                    .joined_at
                    .get(to)
                    .is_some_and(|j| now.saturating_sub(*j) <= self.config.switch_delay + STEP);
                if matches!(e, FrameError::TooOld { .. }) && just_joined {
                    self.frames.before_join += 1;
                }
            }
        }
        if self.frame_attack == Some(FrameAttack::Replay) {
            self.frames.injected += 1;
            if let Err(e) = receiver.decrypt(frame, now) {
                self.record_frame_rejection(to, from, &e);
            }
        }
    }

    /// Forged copies of `frame` for receiver `to` under a frame attack.
    fn forge_frame(&mut self, kind: FrameAttack, to: &str, frame: &[u8]) -> Vec<Vec<u8>> {
        match kind {
            FrameAttack::Tamper => {
                let mut f = frame.to_vec();
                let len = f.len();
                let i = len - 1 - (self.rng.next_u32() as usize % (len / 2).max(1));
                f[i] ^= 0x20;
                vec![f]
            }
            FrameAttack::Replay => Vec::new(),
            FrameAttack::Relabel => {
                let Ok(p) = FrameHeader::parse(frame) else {
                    return Vec::new();
                };
                let own = self.sim.participants.get(to).map(|m| m.own_leaf());
                let others: Vec<u32> = self
                    .sim
                    .participants
                    .get(to)
                    .map(|m| m.participants())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|x| x.leaf)
                    .filter(|l| Some(*l) != own && *l != p.header.sender)
                    .collect();
                let mut out = Vec::new();
                let relabel = |h: FrameHeader| -> Option<Vec<u8>> { h.relabel(frame).ok() };
                let mut h = p.header;
                h.stream = if h.stream == VIDEO_STREAM {
                    0
                } else {
                    VIDEO_STREAM
                };
                out.extend(relabel(h));
                if let Some(&other) = others.first() {
                    let mut h = p.header;
                    h.sender = other;
                    out.extend(relabel(h));
                }
                out
            }
        }
    }

    /// Counts a frame rejection (and keeps the first few of each kind as evidence).
    pub fn record_frame_rejection(&mut self, at: &str, from: &str, e: &FrameError) {
        let kind = kind_name(e.kind().as_str());
        let n = self.frame_detection_counts.entry(kind.clone()).or_default();
        *n += 1;
        if *n <= DETECTIONS_PER_KIND {
            self.frame_detections.push(Detection {
                t: self.t(),
                at: at.to_string(),
                from: from.to_string(),
                what: "frame".into(),
                kind,
                error: e.to_string(),
            });
        }
    }

    /// Frame counters over every `FrameCrypto` of the run.
    pub(super) fn frame_diagnostics(&self) -> (u64, RejectionCounts) {
        let mut decrypted = 0;
        let mut r = RejectionCounts::default();
        let mut add = |c: &RejectionCounts| {
            r.tampered += c.tampered;
            r.replayed += c.replayed;
            r.too_old += c.too_old;
            r.unknown_epoch += c.unknown_epoch;
            r.malformed += c.malformed;
            r.own_frame += c.own_frame;
            r.stream_limit += c.stream_limit;
        };
        let mut all: Vec<Arc<FrameCrypto>> = self.retired.clone();
        all.extend(self.media.values().map(|m| Arc::clone(&m.crypto)));
        for m in self.sim.participants.values() {
            let fc = m.frame_crypto();
            if !all.iter().any(|x| Arc::ptr_eq(x, &fc)) {
                all.push(fc);
            }
        }
        let mut seen: Vec<Arc<FrameCrypto>> = Vec::new();
        for fc in all {
            if seen.iter().any(|x| Arc::ptr_eq(x, &fc)) {
                continue;
            }
            for s in fc.diagnostics() {
                decrypted += s.decrypted;
                add(&s.rejected);
            }
            add(&fc.unattributed_rejections());
            seen.push(fc);
        }
        (decrypted, r)
    }
}
