//! A counting global allocator for the fuzz targets (`cfg(fuzzing)` only), and the heap a
//! participant holds measured with it.
//!
//! The heap held by one participant is measured as what a deep copy of its `Meeting` allocates
//! (a copy allocates each collection at its length, so this is a slight underestimate of the
//! capacity held; the frame state, shared through an `Arc`, is not counted: it is bounded by
//! `MAX_STREAMS_PER_SENDER` per sender and epoch).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use conclave_core::meeting::Meeting;

/// Forwards to the system allocator and counts the bytes live.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Bytes live on the heap now.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes `m` holds (see the module documentation).
pub fn held_by(m: &Meeting) -> usize {
    let before = live();
    let copy = m.clone();
    let held = live().saturating_sub(before);
    drop(copy);
    held
}
