//! The adversarial-relay suite: the relay (SFU) is the attacker (`spec/overview.md` section 3).
//!
//! Each test mounts one attack through the simulation's tap (or by delivering crafted bytes
//! directly) and checks four things: the attack is detected (a specific [`MeetingError`] in
//! `sim.rejections`, or a specific event); nothing forged is accepted (the honest members' epoch,
//! transcript, roster, leader and security code are unchanged by the forged input); the honest
//! meeting goes on (a later join, leave or rotation still converges); and, where keys or media are
//! involved, no byte the relay carried contains a secret or a known plaintext.
//!
//! `spec/security.md` maps every attack to the rule that stops it and to its test here.
//!
//! One module per attack family; the helpers are in `tests/common/`.

#[path = "../common/mod.rs"]
mod common;

mod announcements;
mod false_leader;
mod frames;
mod oversized;
mod replay;
mod split_view;
mod stale;
mod tampering;
mod wrong_signer;
