//! The per-epoch state of a [`FrameCrypto`](super::FrameCrypto): stream keys, send counters,
//! receive windows, and the table that holds them per sender.

use core::sync::atomic::{AtomicBool, AtomicU64};
use core::time::Duration;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use crate::Secret;
use crate::frame::backend::{AeadBackend, NONCE_LEN};
use crate::frame::replay::ReplayWindow;
use crate::frame::{FrameError, MAX_STREAMS_PER_SENDER};
use crate::protocol::limits::MAX_TREE_LEAVES;
use crate::schedule::{SenderKeys, frame_nonce};

/// The AEAD key and nonce salt of one (epoch, sender, stream).
pub(super) struct StreamKeys<B: AeadBackend> {
    pub(super) key: B::Key,
    pub(super) salt: Secret<NONCE_LEN>,
}

impl<B: AeadBackend> StreamKeys<B> {
    pub(super) fn derive(
        frame_secret: &Secret<32>,
        sender: u32,
        stream: u32,
    ) -> Result<Self, FrameError> {
        let keys = SenderKeys::derive(frame_secret, sender, stream);
        // Preparing a 32-byte ChaCha20-Poly1305 key cannot fail; map the impossible case to
        // "no keys" rather than panicking.
        let key = B::key(&keys.key).map_err(|_| FrameError::NoKeys)?;
        Ok(StreamKeys {
            key,
            salt: keys.salt.clone(),
        })
    }

    pub(super) fn nonce(&self, counter: u64) -> [u8; NONCE_LEN] {
        frame_nonce(self.salt.expose(), counter)
    }
}

pub(super) struct SendStream<B: AeadBackend> {
    pub(super) keys: StreamKeys<B>,
    /// The next counter to use; `MAX_FRAME_COUNTER + 1` once exhausted.
    pub(super) next: AtomicU64,
}

pub(super) struct RecvStream<B: AeadBackend> {
    pub(super) keys: StreamKeys<B>,
    pub(super) window: Mutex<ReplayWindow>,
}

/// The streams of one sender: (stream id, state), at most `MAX_STREAMS_PER_SENDER`.
type SenderStreams<T> = Vec<(u32, Arc<T>)>;

/// The streams of `TABLE_CHUNK` consecutive senders.
type TableChunk<T> = Box<[RwLock<SenderStreams<T>>]>;

/// Senders per lazily allocated chunk of a [`StreamTable`].
pub(super) const TABLE_CHUNK: usize = 128;
/// Chunks of a [`StreamTable`]: enough for every sender index below `MAX_TREE_LEAVES`.
const TABLE_CHUNKS: usize = (MAX_TREE_LEAVES as usize).div_ceil(TABLE_CHUNK);

/// The streams of every sender, indexed directly by sender index (no hashing), with one lock
/// per sender. Chunks of 128 senders are allocated on first insert.
pub(super) struct StreamTable<T> {
    pub(super) chunks: Box<[OnceLock<TableChunk<T>>]>,
}

impl<T> StreamTable<T> {
    pub(super) fn new() -> Self {
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
    pub(super) fn get(&self, sender: u32, stream: u32) -> Result<Arc<T>, bool> {
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
    pub(super) fn insert(&self, sender: u32, stream: u32, value: T) -> Result<Arc<T>, FrameError> {
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
pub(super) struct Epoch<B: AeadBackend> {
    pub(super) number: u64,
    /// Unique per install of this `FrameCrypto` (never reused), so that two installs of the same
    /// epoch number are told apart by the send floor.
    pub(super) install_id: u64,
    /// Whether this epoch object has passed the send-floor check (FR-SEND); set once.
    pub(super) sealing: AtomicBool,
    pub(super) frame_secret: Secret<32>,
    pub(super) send: StreamTable<SendStream<B>>,
    pub(super) recv: StreamTable<RecvStream<B>>,
}

impl<B: AeadBackend> Epoch<B> {
    pub(super) fn tag(&self) -> u8 {
        // Truncation is the definition of the epoch tag.
        (self.number & 0xFF) as u8
    }
}

/// The retained epochs: a snapshot published with `arc-swap`.
pub(super) struct EpochSet<B: AeadBackend> {
    pub(super) current: Option<Arc<Epoch<B>>>,
    /// The previous epoch and the time its grace period ends.
    pub(super) previous: Option<(Arc<Epoch<B>>, Duration)>,
    /// The epoch to encrypt with, when it is not `current` (after a deferred install).
    pub(super) send: Option<Arc<Epoch<B>>>,
}

impl<B: AeadBackend> EpochSet<B> {
    pub(super) fn send_epoch(&self) -> Option<&Arc<Epoch<B>>> {
        self.send.as_ref().or(self.current.as_ref())
    }
}
