//! Empty: this crate is its `uniffi-bindgen` binary (see `Cargo.toml`). The library target
//! only lets `conclave-ffi` name it as a dev-dependency, so that maturin's sdist carries it.
