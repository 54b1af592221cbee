#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, docs, unit/integration/property tests,
# test vectors and (when present) bindings, fuzz smoke runs and the multi-process demo.
# Idempotent: installs what it needs once and reuses it on later runs.
# gst-conclave (needs libgstreamer1.0-dev) is built, linted and tested by scripts/test-gst.sh,
# conclave-sfu (the same, and Janus) by scripts/test-sfu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step "cargo fmt --check"
cargo fmt --all -- --check

# conclave-ffi's default feature `fast-frames` turns on conclave-core's `ring` feature, and Cargo
# unifies features across the packages of one build: every workspace-wide command below builds
# conclave-core WITH ring. The RustCrypto frame backend is checked by the `-p conclave-core` and
# `--no-default-features` commands.
step "cargo clippy (workspace: ring via conclave-ffi; conclave-core and conclave-ffi without ring)"
cargo clippy --workspace --exclude gst-conclave --exclude conclave-sfu --all-targets -- -D warnings
cargo clippy -p conclave-core --all-targets -- -D warnings
cargo clippy -p conclave-ffi --all-targets --no-default-features -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude gst-conclave --exclude conclave-sfu --no-deps --quiet

step "cargo test (workspace: conclave-core with ring, through conclave-ffi's fast-frames)"
cargo test --workspace --exclude gst-conclave --exclude conclave-sfu

step "cargo test (without ring: RustCrypto frame backend and crypto provider)"
cargo test -p conclave-core --test frames --test vectors --test provider
cargo test -p conclave-ffi --no-default-features --test frame_batch

step "conformance of spec/vectors" && cargo run -q -p conclave-cli -- conformance spec/vectors

for extra in scripts/test-*.sh; do
    [ -e "$extra" ] || continue
    step "$extra"
    bash "$extra"
done

step "all checks passed"
