//! Fuzz builds only (`cfg(fuzzing)`): a memo of ECDSA results per thread.
//!
//! Signing is deterministic (RFC 6979) and verification is a pure function of (key, message,
//! signature), so remembering their results changes nothing the engine computes; it spares the
//! fuzz targets the P-256 arithmetic of the same honest messages signed and verified again in
//! every input. Entries are keyed by SHA-256 of the public key, the message and the signature;
//! the memo is emptied when it reaches `MAX_ENTRIES`.

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Most results kept per thread before the memo starts afresh.
const MAX_ENTRIES: usize = 1 << 16;

thread_local! {
    static VERIFIED: RefCell<HashMap<[u8; 32], bool>> = RefCell::new(HashMap::new());
    static SIGNED: RefCell<HashMap<[u8; 32], [u8; 64]>> = RefCell::new(HashMap::new());
}

/// SHA-256 over the length-prefixed `parts`.
pub(super) fn key(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn memo<V: Copy>(
    map: &'static std::thread::LocalKey<RefCell<HashMap<[u8; 32], V>>>,
    key: [u8; 32],
    f: impl FnOnce() -> V,
) -> V {
    if let Some(v) = map.with(|m| m.borrow().get(&key).copied()) {
        return v;
    }
    let v = f();
    map.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, v);
    });
    v
}

/// Whether a signature verified, computed by `f` the first time.
pub(super) fn verified(key: [u8; 32], f: impl FnOnce() -> bool) -> bool {
    memo(&VERIFIED, key, f)
}

/// A signature, computed by `f` the first time.
pub(super) fn signed(key: [u8; 32], f: impl FnOnce() -> [u8; 64]) -> [u8; 64] {
    memo(&SIGNED, key, f)
}
