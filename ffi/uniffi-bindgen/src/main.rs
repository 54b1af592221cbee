//! `uniffi-bindgen`, built from the same uniffi version as `conclave-ffi` (a mismatch would
//! produce bindings that refuse to load). Usage, from the workspace root:
//!
//! ```sh
//! cargo run -p conclave-uniffi-bindgen -- generate --language python \
//!     --out-dir target/bindings/python --no-format target/debug/libconclave_ffi.so
//! ```
//!
//! maturin (`bindings = "uniffi"`) finds and runs this binary on its own.

fn main() {
    uniffi::uniffi_bindgen_main()
}
