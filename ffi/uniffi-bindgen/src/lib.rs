//! Nothing: this crate is its `uniffi-bindgen` binary (see Cargo.toml).
