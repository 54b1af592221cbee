//! Deep copies of a [`FrameCrypto`], for the fuzzers and unit tests only (`cfg(fuzzing)`, `cfg(test)`): a fuzz target
//! builds its meetings once and gives every input a copy of them, and the engine keeps its
//! `FrameCrypto` behind an `Arc` that a clone of the meeting shares.
//!
//! A copy duplicates the send counters, so two copies that both seal would reuse (key, nonce)
//! pairs: that is why this exists only in fuzz builds, where one copy is live at a time.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{
    Epoch, EpochSet, FrameCrypto, RecvStream, SendStream, StreamKeys, StreamTable, TABLE_CHUNK,
};
use crate::frame::backend::AeadBackend;

impl<B: AeadBackend> FrameCrypto<B> {
    /// A deep copy: the same epochs, keys, counters, replay windows and send floor (not the
    /// diagnostics).
    pub fn snapshot(&self) -> Self {
        let copy = FrameCrypto {
            config: self.config.clone(),
            own_sender: Default::default(),
            sender_bound: Default::default(),
            epochs: arc_swap::ArcSwap::from_pointee(EpochSet {
                current: None,
                previous: None,
                send: None,
            }),
            install: Mutex::default(),
            stats: Default::default(),
        };
        copy.restore(self);
        copy
    }

    /// Makes this object a deep copy of `from` (epochs, keys, counters, replay windows, send
    /// floor, own sender and sender bound). The diagnostics are kept.
    pub fn restore(&self, from: &Self) {
        if core::ptr::eq(self, from) {
            return;
        }
        let floor = *from.install.lock().unwrap_or_else(PoisonError::into_inner);
        let mut guard = self.install.lock().unwrap_or_else(PoisonError::into_inner);
        *guard = floor;
        self.own_sender
            .store(from.own_sender.load(Ordering::Acquire), Ordering::Release);
        self.sender_bound
            .store(from.sender_bound.load(Ordering::Acquire), Ordering::Release);
        let set = from.epochs.load();
        let current = set.current.as_ref().map(|e| Arc::new(copy_epoch(e)));
        let previous = set
            .previous
            .as_ref()
            .map(|(e, until)| (Arc::new(copy_epoch(e)), *until));
        let send =
            set.send.as_ref().map(
                |s| match (&set.current, &current, &set.previous, &previous) {
                    (Some(c), Some(cc), _, _) if Arc::ptr_eq(s, c) => Arc::clone(cc),
                    (_, _, Some((p, _)), Some((pc, _))) if Arc::ptr_eq(s, p) => Arc::clone(pc),
                    _ => Arc::new(copy_epoch(s)),
                },
            );
        self.epochs.store(Arc::new(EpochSet {
            current,
            previous,
            send,
        }));
    }
}

fn copy_epoch<B: AeadBackend>(e: &Epoch<B>) -> Epoch<B> {
    let send = StreamTable::new();
    copy_table(&e.send, |sender, stream, s: &SendStream<B>| {
        let keys = StreamKeys::derive(&e.frame_secret, sender, stream).ok()?;
        let next = AtomicU64::new(s.next.load(Ordering::Relaxed));
        send.insert(sender, stream, SendStream { keys, next }).ok()
    });
    let recv = StreamTable::new();
    copy_table(&e.recv, |sender, stream, r: &RecvStream<B>| {
        let keys = StreamKeys::derive(&e.frame_secret, sender, stream).ok()?;
        let window = r
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        recv.insert(
            sender,
            stream,
            RecvStream {
                keys,
                window: Mutex::new(window),
            },
        )
        .ok()
    });
    Epoch {
        number: e.number,
        install_id: e.install_id,
        sealing: AtomicBool::new(e.sealing.load(Ordering::Acquire)),
        frame_secret: e.frame_secret.clone(),
        send,
        recv,
    }
}

/// Calls `f(sender, stream, entry)` for every entry of `table`.
fn copy_table<T, U>(table: &StreamTable<T>, mut f: impl FnMut(u32, u32, &T) -> Option<U>) {
    for (c, chunk) in table.chunks.iter().enumerate() {
        let Some(chunk) = chunk.get() else {
            continue;
        };
        for (i, slot) in chunk.iter().enumerate() {
            let Ok(sender) = u32::try_from(c * TABLE_CHUNK + i) else {
                continue;
            };
            let v = slot.read().unwrap_or_else(PoisonError::into_inner);
            for (stream, t) in v.iter() {
                let _ = f(sender, *stream, t);
            }
        }
    }
}
