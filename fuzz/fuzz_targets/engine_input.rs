//! The engine under a hostile relay: a meeting in a valid state (leader, two members, a joiner
//! waiting for its Welcome) is fed arbitrary bytes as incoming envelopes, at the leader, at a
//! member and at the joiner, then runs its timers. Nothing may panic, and:
//! - a message the engine rejects must not change what it shows (epoch, transcript, keys,
//!   leader, lock, roster, phase);
//! - an ended participant holds no epoch secrets;
//! - participants that hold keys for the same epoch hold the same keys (the forged input can
//!   only make someone drop out, never fork the keys).
//!
//! Input: byte 0 = flags (bits 0-1: recipients 0 leader, 1 member, 2 joiner, 3 all three;
//! bits 2-5: seconds to advance before the timers run; bit 6: deliver the honest traffic
//! already in flight first; bit 7: let the outputs settle afterwards). Then up to 4 envelopes,
//! each a big-endian u16 length and its bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::engine_input(data));
