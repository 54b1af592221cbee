//! [`FrameCrypto`]: epochs, sender keys, counters, replay windows and diagnostics.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use arc_swap::ArcSwap;

use super::backend::{AeadBackend, DefaultBackend, NONCE_LEN};
use super::ranges::ClearRanges;
use super::replay::{ReplayCheck, ReplayWindow};
use super::seal::{self, OpenFailure, Patch};
use super::stats::{Diagnostics, RejectionCounts, SenderStats};
use super::trailer::{FrameHeader, MAX_TRAILER_LEN, TAG_LEN, parse_attributed};
use super::{
    DEFAULT_EPOCH_GRACE, DEFAULT_REPLAY_WINDOW, FrameError, MAX_CLEAR_PREFIX, MAX_FRAME_COUNTER,
    MAX_FRAME_PLAINTEXT, MAX_REPLAY_WINDOW, MAX_SEAL_ATTEMPTS, MAX_STREAMS_PER_SENDER,
    MIN_REPLAY_WINDOW, TooOldCause,
};
use crate::Secret;
use crate::protocol::limits::MAX_TREE_LEAVES;
use crate::schedule::{SenderKeys, frame_nonce};

#[cfg(any(fuzzing, test))]
mod snapshot;

/// Configuration of a [`FrameCrypto`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameConfig {
    /// Replay window size in counters (`REPLAY_WINDOW`), from `MIN_REPLAY_WINDOW` (64) to
    /// `MAX_REPLAY_WINDOW` (65,536). Default `DEFAULT_REPLAY_WINDOW` (1,024).
    pub replay_window: u32,
    /// How long the previous epoch's keys stay usable for decryption after a newer epoch is
    /// installed (`EPOCH_GRACE`). Default `DEFAULT_EPOCH_GRACE` (10 s).
    pub epoch_grace: Duration,
    /// **For testing only.** The first counter of every send stream in every epoch (default 0).
    /// Lets tests reach `MAX_FRAME_COUNTER` without sealing 2^48 frames. Must be at most
    /// `MAX_FRAME_COUNTER`.
    pub initial_send_counter: u64,
}

impl Default for FrameConfig {
    fn default() -> Self {
        FrameConfig {
            replay_window: DEFAULT_REPLAY_WINDOW,
            epoch_grace: DEFAULT_EPOCH_GRACE,
            initial_send_counter: 0,
        }
    }
}

impl FrameConfig {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), FrameError> {
        if !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&self.replay_window) {
            return Err(FrameError::InvalidConfig {
                reason: "replay_window must be in 64..=65536",
            });
        }
        if self.initial_send_counter > MAX_FRAME_COUNTER {
            return Err(FrameError::InvalidConfig {
                reason: "initial_send_counter above MAX_FRAME_COUNTER",
            });
        }
        Ok(())
    }
}

/// A decrypted frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The sender's leaf index.
    pub sender: u32,
    /// The stream id.
    pub stream: u32,
    /// The epoch the frame was sealed in.
    pub epoch: u64,
    /// The frame counter.
    pub counter: u64,
    /// Length of the clear prefix at the start of `plaintext` (trailer mode `P`); 0 for a frame
    /// without clear bytes or with a list of clear ranges.
    pub prefix_len: usize,
    /// The plaintext, clear prefix included.
    pub plaintext: Vec<u8>,
}

impl core::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("sender", &self.sender)
            .field("stream", &self.stream)
            .field("epoch", &self.epoch)
            .field("counter", &self.counter)
            .field("prefix_len", &self.prefix_len)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// What [`FrameCrypto::decrypt_into`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptedInfo {
    /// The sender's leaf index.
    pub sender: u32,
    /// The stream id.
    pub stream: u32,
    /// The epoch the frame was sealed in.
    pub epoch: u64,
    /// The frame counter.
    pub counter: u64,
    /// Length of the clear prefix at the start of the output (trailer mode `P`); 0 for a frame
    /// without clear bytes or with a list of clear ranges.
    pub prefix_len: usize,
    /// Length of the plaintext written to the output, clear prefix included.
    pub len: usize,
}

/// An upper bound of the frame length for a plaintext of `plaintext_len` bytes:
/// `plaintext_len + MAX_TRAILER_LEN + min(plaintext_len / 4, MAX_UNITS)`. A buffer of this size
/// is always large enough for [`FrameCrypto::encrypt_into`] and
/// [`FrameCrypto::encrypt_media_into`]: the last term is the most an H.264/H.265 frame grows in
/// canonical form (one byte per 3-byte start code, each unit taking at least 4 bytes;
/// `spec/frames.md` section 6.4).
pub fn max_frame_len(plaintext_len: usize) -> usize {
    plaintext_len
        .saturating_add(MAX_TRAILER_LEN)
        .saturating_add(canonical_growth(plaintext_len))
}

/// An upper bound of the plaintext that [`FrameCrypto::decrypt_into`] and
/// [`FrameCrypto::decrypt_media_into`] write from a frame of `frame_len` bytes:
/// `frame_len - 16 + min(frame_len / 4, MAX_UNITS)`. The last term covers an H.264/H.265 frame
/// whose start codes a depacketizer shortened to 3 bytes: its canonical form, which is
/// decrypted, is one byte longer per unit (`spec/frames.md` section 6.4).
pub fn max_plaintext_len(frame_len: usize) -> usize {
    frame_len
        .saturating_sub(TAG_LEN)
        .saturating_add(canonical_growth(frame_len))
}

/// The most an Annex B frame of `len` bytes grows in canonical form.
fn canonical_growth(len: usize) -> usize {
    (len / 4).min(super::MAX_UNITS)
}

/// Fails with `TooLarge` if a plaintext of `len` bytes is over `MAX_FRAME_PLAINTEXT`.
fn check_plaintext_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME_PLAINTEXT {
        return Err(FrameError::TooLarge {
            what: "frame plaintext",
            len,
            max: MAX_FRAME_PLAINTEXT,
        });
    }
    Ok(())
}

/// The AEAD key and nonce salt of one (epoch, sender, stream).
struct StreamKeys<B: AeadBackend> {
    key: B::Key,
    salt: Secret<NONCE_LEN>,
}

impl<B: AeadBackend> StreamKeys<B> {
    fn derive(frame_secret: &Secret<32>, sender: u32, stream: u32) -> Result<Self, FrameError> {
        let keys = SenderKeys::derive(frame_secret, sender, stream);
        // Preparing a 32-byte ChaCha20-Poly1305 key cannot fail; map the impossible case to
        // "no keys" rather than panicking.
        let key = B::key(&keys.key).map_err(|_| FrameError::NoKeys)?;
        Ok(StreamKeys {
            key,
            salt: keys.salt.clone(),
        })
    }

    fn nonce(&self, counter: u64) -> [u8; NONCE_LEN] {
        frame_nonce(self.salt.expose(), counter)
    }
}

struct SendStream<B: AeadBackend> {
    keys: StreamKeys<B>,
    /// The next counter to use; `MAX_FRAME_COUNTER + 1` once exhausted.
    next: AtomicU64,
}

struct RecvStream<B: AeadBackend> {
    keys: StreamKeys<B>,
    window: Mutex<ReplayWindow>,
}

/// The streams of one sender: (stream id, state), at most `MAX_STREAMS_PER_SENDER`.
type SenderStreams<T> = Vec<(u32, Arc<T>)>;

/// The streams of `TABLE_CHUNK` consecutive senders.
type TableChunk<T> = Box<[RwLock<SenderStreams<T>>]>;

/// Senders per lazily allocated chunk of a [`StreamTable`].
const TABLE_CHUNK: usize = 128;
/// Chunks of a [`StreamTable`]: enough for every sender index below `MAX_TREE_LEAVES`.
const TABLE_CHUNKS: usize = (MAX_TREE_LEAVES as usize).div_ceil(TABLE_CHUNK);

/// The streams of every sender, indexed directly by sender index (no hashing), with one lock
/// per sender. Chunks of 128 senders are allocated on first insert.
struct StreamTable<T> {
    chunks: Box<[OnceLock<TableChunk<T>>]>,
}

impl<T> StreamTable<T> {
    fn new() -> Self {
        StreamTable {
            chunks: (0..TABLE_CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    fn index(sender: u32) -> (usize, usize) {
        let s = sender as usize;
        (s / TABLE_CHUNK, s % TABLE_CHUNK)
    }

    /// The stream's entry, or `Err(true)` if absent and the sender has no room for it, or
    /// `Err(false)` if absent with room.
    fn get(&self, sender: u32, stream: u32) -> Result<Arc<T>, bool> {
        let (c, i) = Self::index(sender);
        let Some(slot) = self
            .chunks
            .get(c)
            .and_then(OnceLock::get)
            .and_then(|chunk| chunk.get(i))
        else {
            return Err(false);
        };
        let v = slot.read().unwrap_or_else(PoisonError::into_inner);
        v.iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, t)| Arc::clone(t))
            .ok_or(v.len() >= MAX_STREAMS_PER_SENDER)
    }

    /// Inserts `value` unless an entry exists (then returns the existing one).
    fn insert(&self, sender: u32, stream: u32, value: T) -> Result<Arc<T>, FrameError> {
        let (c, i) = Self::index(sender);
        let slot = self
            .chunks
            .get(c)
            .map(|chunk| {
                chunk.get_or_init(|| (0..TABLE_CHUNK).map(|_| RwLock::default()).collect())
            })
            .and_then(|chunk| chunk.get(i))
            .ok_or(FrameError::UnknownSender {
                sender,
                bound: MAX_TREE_LEAVES,
            })?;
        let mut v = slot.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, t)) = v.iter().find(|(s, _)| *s == stream) {
            return Ok(Arc::clone(t));
        }
        if v.len() >= MAX_STREAMS_PER_SENDER {
            return Err(FrameError::StreamLimit { sender, stream });
        }
        let t = Arc::new(value);
        v.push((stream, Arc::clone(&t)));
        Ok(t)
    }
}

/// The keys and state of one epoch.
struct Epoch<B: AeadBackend> {
    number: u64,
    /// Unique per install of this `FrameCrypto` (never reused), so that two installs of the same
    /// epoch number are told apart by the send floor.
    install_id: u64,
    /// Whether this epoch object has passed the send-floor check (FR-SEND); set once.
    sealing: AtomicBool,
    frame_secret: Secret<32>,
    send: StreamTable<SendStream<B>>,
    recv: StreamTable<RecvStream<B>>,
}

impl<B: AeadBackend> Epoch<B> {
    fn tag(&self) -> u8 {
        // Truncation is the definition of the epoch tag.
        (self.number & 0xFF) as u8
    }
}

/// The retained epochs: a snapshot published with `arc-swap`.
struct EpochSet<B: AeadBackend> {
    current: Option<Arc<Epoch<B>>>,
    /// The previous epoch and the time its grace period ends.
    previous: Option<(Arc<Epoch<B>>, Duration)>,
    /// The epoch to encrypt with, when it is not `current` (after a deferred install).
    send: Option<Arc<Epoch<B>>>,
}

impl<B: AeadBackend> EpochSet<B> {
    fn send_epoch(&self) -> Option<&Arc<Epoch<B>>> {
        self.send.as_ref().or(self.current.as_ref())
    }
}

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

    /// Decrypts and authenticates `frame` received at time `now`.
    pub fn decrypt(&self, frame: &[u8], now: Duration) -> Result<Decrypted, FrameError> {
        // Never more than MAX_FRAME_PLAINTEXT: a longer frame fails before writing.
        let mut out = vec![0u8; frame.len().saturating_sub(TAG_LEN).min(MAX_FRAME_PLAINTEXT)];
        let info = self.decrypt_into(frame, &mut out, now)?;
        out.truncate(info.len);
        Ok(Decrypted {
            sender: info.sender,
            stream: info.stream,
            epoch: info.epoch,
            counter: info.counter,
            prefix_len: info.prefix_len,
            plaintext: out,
        })
    }

    /// Like [`decrypt`](Self::decrypt) but writes the plaintext (clear prefix included) to
    /// `out` without allocating. `frame.len() - 16` bytes are always enough. On failure the
    /// bytes of `out` that were written are zeroed.
    pub fn decrypt_into(
        &self,
        frame: &[u8],
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        let parsed = match parse_attributed(frame) {
            Ok(p) => p,
            Err((e, sender)) => {
                self.stats.of(sender).rejected(&e);
                return Err(e);
            }
        };
        let sender = parsed.header.sender;
        let result = self.decrypt_parsed(frame, &parsed, out, now);
        match &result {
            Ok(_) => self.stats.of(Some(sender)).decrypted(),
            Err(e) => self.stats.of(Some(sender)).rejected(e),
        }
        result
    }

    fn decrypt_parsed(
        &self,
        frame: &[u8],
        parsed: &super::ParsedHeader,
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        let h = &parsed.header;
        let (sender, stream, counter) = (h.sender, h.stream, h.counter);
        if self.own_sender.load(Ordering::Relaxed) == sender {
            return Err(FrameError::OwnFrame { sender, stream });
        }
        let bound = self.sender_bound.load(Ordering::Relaxed);
        if sender >= bound {
            return Err(FrameError::UnknownSender { sender, bound });
        }
        let len = parsed.body_len;
        check_plaintext_len(len)?;
        if out.len() < len {
            return Err(FrameError::BufferTooSmall { needed: len });
        }

        let set = self.epochs.load();
        let epoch = self.resolve_epoch(&set, h, now)?;

        // The cached stream, or keys derived for this frame only (cached once it verifies).
        let (cached, fresh_keys) = match epoch.recv.get(sender, stream) {
            Ok(s) => (Some(s), None),
            Err(true) => return Err(FrameError::StreamLimit { sender, stream }),
            Err(false) => (
                None,
                Some(StreamKeys::<B>::derive(
                    &epoch.frame_secret,
                    sender,
                    stream,
                )?),
            ),
        };
        if let Some(s) = &cached {
            let w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
            self.replay_result(w.check(counter), h, epoch.number)?;
        }
        let keys = match (&cached, &fresh_keys) {
            (Some(s), _) => &s.keys,
            (None, Some(k)) => k,
            (None, None) => return Err(FrameError::NoKeys),
        };

        let nonce = keys.nonce(counter);
        match seal::open::<B>(&keys.key, &nonce, frame, len, &parsed.clear, out) {
            Ok(()) => {}
            Err(OpenFailure::Tag) => {
                return Err(FrameError::Tampered {
                    sender,
                    stream,
                    epoch: epoch.number,
                });
            }
            Err(OpenFailure::Layout) => return Err(FrameError::BufferTooSmall { needed: len }),
        }

        let committed = match (cached, fresh_keys) {
            (Some(s), _) => {
                let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
                self.replay_result(w.accept(counter), h, epoch.number)
            }
            (None, Some(keys)) => {
                let entry = RecvStream {
                    keys,
                    window: Mutex::new(ReplayWindow::new(self.config.replay_window)),
                };
                // If another thread cached the stream first, `insert` returns its entry and ours
                // is dropped: the counter is recorded in whichever window is kept.
                epoch.recv.insert(sender, stream, entry).and_then(|s| {
                    let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
                    self.replay_result(w.accept(counter), h, epoch.number)
                })
            }
            (None, None) => Err(FrameError::NoKeys),
        };
        if let Err(e) = committed {
            if let Some(o) = out.get_mut(..len) {
                o.iter_mut().for_each(|b| *b = 0);
            }
            return Err(e);
        }
        Ok(DecryptedInfo {
            sender,
            stream,
            epoch: epoch.number,
            counter,
            prefix_len: parsed.prefix_len(),
            len,
        })
    }

    fn replay_result(&self, r: ReplayCheck, h: &FrameHeader, epoch: u64) -> Result<(), FrameError> {
        match r {
            ReplayCheck::Fresh => Ok(()),
            ReplayCheck::Replayed => Err(FrameError::Replayed {
                sender: h.sender,
                stream: h.stream,
                epoch,
                counter: h.counter,
            }),
            ReplayCheck::TooOld { highest } => Err(FrameError::TooOld {
                sender: h.sender,
                stream: h.stream,
                counter: h.counter,
                cause: TooOldCause::BelowWindow { epoch, highest },
            }),
        }
    }

    /// Maps a frame's epoch tag to a retained epoch (`spec/frames.md` section 4).
    fn resolve_epoch<'a>(
        &self,
        set: &'a EpochSet<B>,
        h: &FrameHeader,
        now: Duration,
    ) -> Result<&'a Epoch<B>, FrameError> {
        let current = set.current.as_ref().ok_or(FrameError::NoKeys)?;
        let tag = h.epoch_tag;
        if current.tag() == tag {
            return Ok(current);
        }
        let dropped = FrameError::TooOld {
            sender: h.sender,
            stream: h.stream,
            counter: h.counter,
            cause: TooOldCause::EpochDropped { epoch_tag: tag },
        };
        if let Some((prev, until)) = &set.previous {
            let expired = now >= *until;
            if expired {
                self.try_expire(now);
            }
            if prev.tag() == tag {
                return if expired { Err(dropped) } else { Ok(prev) };
            }
        }
        let ahead = tag.wrapping_sub(current.tag());
        if (1..=127).contains(&ahead) {
            Err(FrameError::UnknownEpoch {
                tag,
                current: current.number,
            })
        } else {
            Err(dropped)
        }
    }
}
