//! `conclave-uniffi-bindgen`: uniffi's `uniffi-bindgen`, built from the same uniffi version as `conclave-ffi` (a mismatch would
//! produce bindings that refuse to load). Usage, from the workspace root:
//!
//! ```sh
//! cargo run -p conclave-uniffi-bindgen -- generate --language python \
//!     --out-dir target/bindings/python --no-format target/debug/libconclave_ffi.so
//! ```
//!
//! maturin (`bindings = "uniffi"`) does not run it: it runs `ffi/python-module`'s
//! `uniffi-bindgen`, which writes the Python module this generator produced (committed there
//! as `ffi/python-module/conclave.py`; regenerate it with the command above, and
//! `scripts/test-bindings.sh` fails while it is stale).

fn main() {
    uniffi::uniffi_bindgen_main()
}
