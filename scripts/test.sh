#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, docs, unit/integration/property tests,
# test vectors and (when present) bindings, fuzz smoke runs and the multi-process demo.
# Idempotent: installs what it needs once and reuses it on later runs.
# gst-conclave (needs libgstreamer1.0-dev) is built, linted and tested by scripts/test-gst.sh,
# conclave-sfu (the same, and Janus) by scripts/test-sfu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints the wall time since the start, so a slow CI run shows where its time went.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step "cargo fmt --check"
cargo fmt --all -- --check

# conclave-ffi's default feature `fast-frames` turns on conclave-core's `ring` feature, and Cargo
# unifies features across the packages of one build: the workspace-wide commands build
# conclave-core with ring; they also turn on `aws-lc` so that the crypto providers are checked in
# the same build (one feature set for the workspace, not two). The RustCrypto-only build (no ring,
# no AWS-LC: what `conclave-core` is by default) is checked by the `-p conclave-core` and
# `--no-default-features` commands, which share one feature set.
step "cargo clippy (workspace with ring and aws-lc; conclave-core and conclave-ffi RustCrypto-only)"
cargo clippy --workspace --exclude gst-conclave --exclude conclave-sfu --all-targets --features conclave-core/aws-lc -- -D warnings
cargo clippy -p conclave-core --all-targets -- -D warnings
cargo clippy -p conclave-ffi --all-targets --no-default-features -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude gst-conclave --exclude conclave-sfu --no-deps --quiet

step "cargo test (workspace: conclave-core with ring and aws-lc)"
cargo test --workspace --exclude gst-conclave --exclude conclave-sfu --features conclave-core/aws-lc

step "cargo test (RustCrypto only: frame backend and crypto provider without ring or AWS-LC)"
cargo test -p conclave-core --test frames --test vectors --test provider
cargo test -p conclave-ffi --no-default-features --test frame_batch

step "conformance of spec/vectors" && cargo run -q -p conclave-cli -- conformance spec/vectors

for extra in scripts/test-*.sh; do
    [ -e "$extra" ] || continue
    step "$extra"
    bash "$extra"
done

step "all checks passed"
