//! [`FrameCrypto`]: epochs, sender keys, counters, replay windows and diagnostics.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use super::backend::{AeadBackend, DefaultBackend};
use super::ranges::ClearRanges;
use super::replay::{ReplayCheck, ReplayWindow};
use super::seal::{self, OpenFailure, Patch};
use super::stats::{Diagnostics, RejectionCounts, SenderStats};
use super::trailer::{FrameHeader, TAG_LEN, parse_attributed};
use super::{
    FrameError, MAX_CLEAR_PREFIX, MAX_FRAME_COUNTER, MAX_FRAME_PLAINTEXT, MAX_SEAL_ATTEMPTS,
    TooOldCause,
};
use crate::Secret;
use crate::protocol::limits::MAX_TREE_LEAVES;

mod config;
mod open;
#[cfg(any(fuzzing, test))]
mod snapshot;
mod tables;

pub(crate) use config::check_plaintext_len;
pub use config::{Decrypted, DecryptedInfo, FrameConfig, max_frame_len, max_plaintext_len};
#[cfg(any(fuzzing, test))]
use tables::TABLE_CHUNK;
use tables::{Epoch, EpochSet, RecvStream, SendStream, StreamKeys, StreamTable};

const NO_SENDER: u32 = u32::MAX;

/// Encrypts and decrypts media frames (`spec/frames.md`) with the keys of the current and
/// previous epoch.
///
/// `FrameCrypto` is `Send + Sync`; share it in an `Arc`. The AEAD backend `B` is chosen at
/// compile time ([`DefaultBackend`]).
///
/// Sender keys are derived lazily per (sender, stream) and cached per epoch (at most
/// `MAX_TREE_LEAVES` senders × `MAX_STREAMS_PER_SENDER` streams); a receive stream is cached
/// only once one of its frames authenticated, so forged frames allocate nothing.
///
/// **Nonce uniqueness (FR-SEND, `spec/frames.md`).** Within one `FrameCrypto`, no (key, nonce)
/// is ever sealed twice, whatever the caller installs, clears and re-installs: a counter only
/// grows within an epoch object, and an epoch object may start sealing only if its number is
/// above every epoch number this `FrameCrypto` sealed under before (the *send floor*, kept for
/// the object's lifetime and never reset by [`clear`](Self::clear)). An epoch dropped and
/// installed again, or another branch's epoch with a number already used, is refused for
/// sending with [`FrameError::EpochRetired`] (it still decrypts). Across instances the caller
/// must still never install the same epoch's `frame_secret` in two `FrameCrypto` instances that
/// send with the same sender index (for example after re-creating this object mid-epoch).
pub struct FrameCrypto<B: AeadBackend = DefaultBackend> {
    config: FrameConfig,
    own_sender: AtomicU32,
    sender_bound: AtomicU32,
    epochs: ArcSwap<EpochSet<B>>,
    install: Mutex<SendFloor>,
    stats: Diagnostics,
}

/// The send floor (FR-SEND): the newest epoch sealed under and which install of it; guarded by
/// the install lock. Also hands out install ids.
#[derive(Debug, Default, Clone, Copy)]
struct SendFloor {
    /// `(epoch number, install id)` of the newest epoch object that started sealing.
    sealed: Option<(u64, u64)>,
    /// The next install id.
    next_install: u64,
}

impl SendFloor {
    /// Whether the epoch object `(number, install_id)` may start sealing; records it if so.
    fn admit(&mut self, number: u64, install_id: u64) -> Result<(), FrameError> {
        match self.sealed {
            Some((floor, id)) if number < floor || (number == floor && install_id != id) => {
                Err(FrameError::EpochRetired {
                    epoch: number,
                    floor,
                })
            }
            _ => {
                self.sealed = Some((number, install_id));
                Ok(())
            }
        }
    }
}

impl<B: AeadBackend> core::fmt::Debug for FrameCrypto<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let set = self.epochs.load();
        f.debug_struct("FrameCrypto")
            .field("backend", &B::NAME)
            .field("config", &self.config)
            .field("own_sender", &self.own_sender())
            .field("current_epoch", &set.current.as_ref().map(|e| e.number))
            .field("send_epoch", &set.send_epoch().map(|e| e.number))
            .field(
                "previous_epoch",
                &set.previous.as_ref().map(|(e, until)| (e.number, until)),
            )
            .finish_non_exhaustive()
    }
}

impl FrameCrypto<DefaultBackend> {
    /// A frame encryptor/decryptor on the [`DefaultBackend`], with no epoch and no own sender
    /// index yet.
    pub fn new(config: FrameConfig) -> Result<Self, FrameError> {
        Self::with_backend(config)
    }
}

impl<B: AeadBackend> FrameCrypto<B> {
    /// A frame encryptor/decryptor on backend `B` (`FrameCrypto::<RustCryptoBackend>::with_backend`),
    /// with no epoch and no own sender index yet.
    pub fn with_backend(config: FrameConfig) -> Result<Self, FrameError> {
        config.validate()?;
        Ok(FrameCrypto {
            config,
            own_sender: AtomicU32::new(NO_SENDER),
            sender_bound: AtomicU32::new(MAX_TREE_LEAVES),
            epochs: ArcSwap::from_pointee(EpochSet {
                current: None,
                previous: None,
                send: None,
            }),
            install: Mutex::new(SendFloor::default()),
            stats: Diagnostics::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FrameConfig {
        &self.config
    }

    /// Sets the local participant's sender (leaf) index, used to encrypt; frames received with
    /// it are rejected as [`FrameError::OwnFrame`].
    pub fn set_own_sender(&self, sender: u32) -> Result<(), FrameError> {
        if sender >= MAX_TREE_LEAVES {
            return Err(FrameError::UnknownSender {
                sender,
                bound: MAX_TREE_LEAVES,
            });
        }
        self.own_sender.store(sender, Ordering::Release);
        Ok(())
    }

    /// The local participant's sender index, if set.
    pub fn own_sender(&self) -> Option<u32> {
        match self.own_sender.load(Ordering::Acquire) {
            NO_SENDER => None,
            s => Some(s),
        }
    }

    /// Rejects frames of senders `>= bound` as [`FrameError::UnknownSender`] (for example the
    /// tree's current width). `bound` is capped at `MAX_TREE_LEAVES` (the default).
    pub fn set_sender_bound(&self, bound: u32) {
        self.sender_bound
            .store(bound.min(MAX_TREE_LEAVES), Ordering::Release);
    }

    /// Installs epoch `epoch` with its `frame_secret` (`spec/key-schedule.md` section 6) at time
    /// `now`. It becomes the current epoch, used to encrypt and decrypt; the previous current
    /// epoch stays usable for decryption until `now + epoch_grace`; any older epoch is dropped
    /// (at most `MAX_RETAINED_EPOCHS` are kept). If the new epoch's tag equals the current one's
    /// (`epoch` jumped by a multiple of 256) the current epoch is dropped at once, since its
    /// frames could not be told apart.
    ///
    /// Installing the current epoch again with the same secret does nothing (counters are kept);
    /// an epoch not newer than the current one fails with [`FrameError::EpochNotNewer`].
    pub fn install_epoch(
        &self,
        epoch: u64,
        frame_secret: &Secret<32>,
        now: Duration,
    ) -> Result<(), FrameError> {
        self.install(epoch, frame_secret, now, false)
    }

    /// Like [`install_epoch`](Self::install_epoch), but encryption keeps using the epoch it used
    /// so far until [`activate_send_epoch`](Self::activate_send_epoch) switches it: receivers
    /// get the new keys first, senders switch once everyone is likely to have them.
    ///
    /// The send epoch stays usable for encryption while it is retained; if a further install
    /// drops it, encryption moves to the oldest retained epoch.
    pub fn install_epoch_deferred(
        &self,
        epoch: u64,
        frame_secret: &Secret<32>,
        now: Duration,
    ) -> Result<(), FrameError> {
        self.install(epoch, frame_secret, now, true)
    }

    /// Makes `epoch` the epoch used for encryption. It must be retained (the current epoch, or
    /// the previous one); returns whether it now is the send epoch.
    pub fn activate_send_epoch(&self, epoch: u64) -> bool {
        let _guard = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        let set = self.epochs.load();
        let send = match (&set.current, &set.previous) {
            (Some(cur), _) if cur.number == epoch => None,
            (_, Some((prev, _))) if prev.number == epoch => Some(Arc::clone(prev)),
            _ => return false,
        };
        self.epochs.store(Arc::new(EpochSet {
            current: set.current.clone(),
            previous: set.previous.clone(),
            send,
        }));
        true
    }

    /// The epoch encryption uses, if any.
    pub fn send_epoch(&self) -> Option<u64> {
        self.epochs.load().send_epoch().map(|e| e.number)
    }

    /// Drops every epoch's keys (the participant left or was removed): nothing can be encrypted
    /// or decrypted afterwards.
    pub fn clear(&self) {
        let _guard = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        self.epochs.store(Arc::new(EpochSet {
            current: None,
            previous: None,
            send: None,
        }));
    }

    fn install(
        &self,
        epoch: u64,
        frame_secret: &Secret<32>,
        now: Duration,
        deferred: bool,
    ) -> Result<(), FrameError> {
        let mut guard = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        let install_id = guard.next_install;
        guard.next_install = guard.next_install.saturating_add(1);
        let set = self.epochs.load();
        let new = Arc::new(Epoch {
            number: epoch,
            install_id,
            sealing: AtomicBool::new(false),
            frame_secret: frame_secret.clone(),
            send: StreamTable::new(),
            recv: StreamTable::new(),
        });
        let previous = match &set.current {
            None => None,
            Some(cur) if epoch > cur.number => {
                if cur.tag() == new.tag() {
                    None
                } else {
                    let until = now.checked_add(self.config.epoch_grace);
                    Some((Arc::clone(cur), until.unwrap_or(Duration::MAX)))
                }
            }
            Some(cur) if epoch == cur.number && cur.frame_secret == *frame_secret => {
                return Ok(());
            }
            Some(cur) => {
                return Err(FrameError::EpochNotNewer {
                    epoch,
                    current: cur.number,
                });
            }
        };
        // Keep sending with the old send epoch if deferred and it is still retained; otherwise
        // with the previous epoch (deferred) or the new one.
        let send = match &previous {
            Some((prev, _)) if deferred && set.send_epoch().is_some() => Some(Arc::clone(prev)),
            _ => None,
        };
        self.epochs.store(Arc::new(EpochSet {
            current: Some(new),
            previous,
            send,
        }));
        Ok(())
    }

    /// Drops the previous epoch's keys if its grace period has ended at `now`. Decryption does
    /// this on its own when it sees an expired epoch; call it to release keys promptly.
    pub fn expire(&self, now: Duration) {
        let _guard = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_expired(now);
    }

    /// Like [`expire`](Self::expire), but gives up at once if an install is in progress.
    fn try_expire(&self, now: Duration) {
        if let Ok(_guard) = self.install.try_lock() {
            self.drop_expired(now);
        }
    }

    /// Caller holds `install`.
    fn drop_expired(&self, now: Duration) {
        let set = self.epochs.load();
        if let Some((_, until)) = &set.previous
            && now >= *until
        {
            self.epochs.store(Arc::new(EpochSet {
                current: set.current.clone(),
                previous: None,
                send: set.send.clone(),
            }));
        }
    }

    /// The current epoch number, if any.
    pub fn current_epoch(&self) -> Option<u64> {
        self.epochs.load().current.as_ref().map(|e| e.number)
    }

    /// The epoch numbers whose keys are kept (current first) at `now`.
    pub fn retained_epochs(&self, now: Duration) -> Vec<u64> {
        let set = self.epochs.load();
        let mut v: Vec<u64> = set.current.iter().map(|e| e.number).collect();
        if let Some((e, until)) = &set.previous
            && now < *until
        {
            v.push(e.number);
        }
        v
    }

    /// Per-sender counts of decrypted and rejected frames, for senders with any count, in
    /// sender order.
    pub fn diagnostics(&self) -> Vec<SenderStats> {
        self.stats.senders()
    }

    /// Rejections of frames whose sender index could not be read (bad flags or varints, or a
    /// sender index `>= MAX_TREE_LEAVES`).
    pub fn unattributed_rejections(&self) -> RejectionCounts {
        self.stats.unattributed()
    }

    /// Encrypts `plaintext` as a frame of `stream` in the current epoch; its first
    /// `unencrypted_prefix_len` bytes (0..=255) stay in the clear, authenticated.
    pub fn encrypt(
        &self,
        stream: u32,
        plaintext: &[u8],
        unencrypted_prefix_len: usize,
    ) -> Result<Vec<u8>, FrameError> {
        check_plaintext_len(plaintext.len())?;
        let mut out = vec![0u8; max_frame_len(plaintext.len())];
        let n = self.encrypt_into(stream, plaintext, unencrypted_prefix_len, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Like [`encrypt`](Self::encrypt) but writes the frame to `out` (without allocating) and
    /// returns its length. `max_frame_len(plaintext.len())` bytes are always enough.
    pub fn encrypt_into(
        &self,
        stream: u32,
        plaintext: &[u8],
        unencrypted_prefix_len: usize,
        out: &mut [u8],
    ) -> Result<usize, FrameError> {
        check_plaintext_len(plaintext.len())?;
        let prefix_len = unencrypted_prefix_len;
        if prefix_len > MAX_CLEAR_PREFIX || prefix_len > plaintext.len() {
            return Err(FrameError::TooLarge {
                what: "clear prefix",
                len: prefix_len,
                max: MAX_CLEAR_PREFIX.min(plaintext.len()),
            });
        }
        let clear = ClearRanges::prefix(prefix_len)?;
        self.encrypt_layout(stream, plaintext, &clear, Patch::None, |_| true, out)
    }

    /// Seals `plaintext` with the clear ranges `clear` under the next counter of `stream`. If
    /// `accept` rejects the sealed frame (a start code emulated in an H.26x frame), seals again
    /// under the following counter, at most `MAX_SEAL_ATTEMPTS` times.
    pub(crate) fn encrypt_layout(
        &self,
        stream: u32,
        plaintext: &[u8],
        clear: &ClearRanges,
        patch: Patch,
        accept: impl Fn(&[u8]) -> bool,
        out: &mut [u8],
    ) -> Result<usize, FrameError> {
        check_plaintext_len(plaintext.len())?;
        let sender = self.own_sender().ok_or(FrameError::NoOwnSender)?;
        let mut set = self.epochs.load();
        let mut epoch = set.send_epoch().ok_or(FrameError::NoKeys)?;
        if let Err(e) = self.check_send_floor(epoch) {
            // Another thread may have moved sending to a newer epoch since our snapshot: retry
            // once with the newest snapshot before reporting the refusal.
            set = self.epochs.load();
            epoch = set.send_epoch().ok_or(FrameError::NoKeys)?;
            if self.check_send_floor(epoch).is_err() {
                return Err(e);
            }
        }
        let send = self.send_stream(epoch, sender, stream)?;

        let mut header = FrameHeader {
            epoch_tag: epoch.tag(),
            sender,
            stream,
            counter: send.next.load(Ordering::Relaxed).min(MAX_FRAME_COUNTER),
        };
        // Check the size before taking a counter, so a too-small buffer does not use one up.
        let needed = header
            .fields_len(clear)
            .saturating_add(plaintext.len())
            .saturating_add(TAG_LEN);
        if out.len() < needed {
            return Err(FrameError::BufferTooSmall { needed });
        }
        for _ in 0..MAX_SEAL_ATTEMPTS {
            header.counter = send
                .next
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    (c <= MAX_FRAME_COUNTER).then(|| c.saturating_add(1))
                })
                .map_err(|_| FrameError::CounterExhausted {
                    stream,
                    epoch: epoch.number,
                })?;
            // Another thread may have advanced the counter to a longer varint meanwhile: `seal`
            // checks the length again.
            let nonce = send.keys.nonce(header.counter);
            let n = seal::seal::<B>(
                &send.keys.key,
                &nonce,
                &header,
                plaintext,
                clear,
                patch,
                out,
            )?;
            if out.get(..n).is_some_and(&accept) {
                return Ok(n);
            }
        }
        out.iter_mut().for_each(|b| *b = 0);
        Err(FrameError::StartCodeEmulation {
            stream,
            attempts: MAX_SEAL_ATTEMPTS,
        })
    }

    /// FR-SEND: lets `epoch` seal only if it is the epoch object already sealing or its number
    /// is above every epoch sealed under before. One atomic load on the fast path.
    fn check_send_floor(&self, epoch: &Epoch<B>) -> Result<(), FrameError> {
        if epoch.sealing.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut floor = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        if epoch.sealing.load(Ordering::Acquire) {
            return Ok(());
        }
        floor.admit(epoch.number, epoch.install_id)?;
        epoch.sealing.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether frames can be encrypted now: an own sender index and a send epoch that the send
    /// floor (FR-SEND) allows.
    pub fn can_encrypt(&self) -> bool {
        if self.own_sender().is_none() {
            return false;
        }
        let set = self.epochs.load();
        let Some(epoch) = set.send_epoch() else {
            return false;
        };
        if epoch.sealing.load(Ordering::Acquire) {
            return true;
        }
        let floor = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        match floor.sealed {
            Some((n, id)) => epoch.number > n || (epoch.number == n && epoch.install_id == id),
            None => true,
        }
    }

    /// The newest epoch number this object has sealed under (the send floor), if any.
    pub fn send_floor(&self) -> Option<u64> {
        let floor = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        floor.sealed.map(|(n, _)| n)
    }

    fn send_stream(
        &self,
        epoch: &Epoch<B>,
        sender: u32,
        stream: u32,
    ) -> Result<Arc<SendStream<B>>, FrameError> {
        match epoch.send.get(sender, stream) {
            Ok(s) => Ok(s),
            Err(true) => Err(FrameError::StreamLimit { sender, stream }),
            Err(false) => {
                let keys = StreamKeys::derive(&epoch.frame_secret, sender, stream)?;
                epoch.send.insert(
                    sender,
                    stream,
                    SendStream {
                        keys,
                        next: AtomicU64::new(self.config.initial_send_counter),
                    },
                )
            }
        }
    }
}
