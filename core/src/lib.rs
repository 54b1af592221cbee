//! Conclave core: the sans-IO cryptographic engine for end-to-end encrypted group meetings.
//!
//! This crate has no sockets, threads, clocks or global random source: randomness comes in as a
//! [`rand_core::CryptoRng`] and messages go in and come out as bytes. Every derivation follows
//! `spec/key-schedule.md`; the tree follows `spec/tree.md`; frames follow `spec/frames.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::too_many_lines)]

pub mod error;
pub mod frame;
pub mod hpke;
pub mod identity;
pub mod meeting;
pub mod merkle;
pub mod provider;
pub mod schedule;
pub mod secret;
pub mod sim;
pub mod suite;
pub mod tree;

pub use conclave_protocol as protocol;
pub use error::CryptoError;
pub use frame::{FrameError, FrameErrorKind};
pub use identity::{IdentityKey, PublicIdentity};
pub use meeting::{MeetingError, MeetingErrorKind};
pub use secret::Secret;
pub use suite::CipherSuite;
