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

step "cargo clippy (default features and --features ring,aws-lc)"
cargo clippy --workspace --exclude gst-conclave --exclude conclave-sfu --all-targets -- -D warnings
cargo clippy -p conclave-core --all-targets --features ring,aws-lc -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude gst-conclave --exclude conclave-sfu --no-deps --quiet

step "cargo test (workspace)"
cargo test --workspace --exclude gst-conclave --exclude conclave-sfu

step "cargo test (ring and aws-lc: frame backend and crypto providers)"
cargo test -p conclave-core --features ring,aws-lc --lib --test frames --test vectors --test provider

step "conformance of spec/vectors" && cargo run -q -p conclave-cli -- conformance spec/vectors

for extra in scripts/test-*.sh; do
    [ -e "$extra" ] || continue
    step "$extra"
    bash "$extra"
done

step "all checks passed"
