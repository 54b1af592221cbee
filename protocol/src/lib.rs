//! Conclave protocol v1: the protobuf wire schema (`proto/conclave/v1/conclave.proto`) compiled
//! with `protox` into `prost` types, the protocol's named limits, and decoding that enforces them.
//!
//! The normative description of every message and field is `spec/wire.md`; every limit here is
//! listed in `spec/README.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Generated prost types for package `conclave.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/conclave.v1.rs"));
}

pub mod limits;

mod decode;
mod schema;
mod wire_check;
pub use decode::{DecodeError, MessageKind, check_strict, decode_bounded, encode};
pub use schema::{CheckedMessage, MessageSchema};
pub use wire_check::WireRule;
