#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target of fuzz/ (its own workspace, target dir
# fuzz/target), then runs each target for FUZZ_SECONDS (default 20) from the committed minimized
# corpus fuzz/corpus-min/<target> (seeds and campaign finds, see FUZZING.md), writing new units
# to the gitignored fuzz/corpus/<target>, and fails if any target crashes.
# FUZZ_SEEDS=1 also regenerates the seed corpora (a second, uninstrumented build).
#
# Idempotent: installs cargo-fuzz once, keeps the build and the (gitignored) corpora.
# Stable toolchain: cargo-fuzz needs nightly flags, enabled with RUSTC_BOOTSTRAP=1.
# Sanitizer: none (FUZZ_SANITIZER=address to change). The code is #![forbid(unsafe_code)], so
# AddressSanitizer finds little that the panics and assertions do not, and it makes both the
# build and the runs much slower; the build is still coverage-instrumented, release-optimised,
# with debug assertions and overflow checks. Long campaigns: see FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-60}
FUZZ_SEEDS=${FUZZ_SEEDS:-0}
# No compare tracing in any crate: measured, it guided nothing and halved sim_ops (FUZZING.md).
BUILD_FLAGS=(-s "$FUZZ_SANITIZER" --no-trace-compares --target-dir "$PWD/fuzz/target")
TARGET_DIR="$PWD/fuzz/target"
TARGETS=(decode_envelope decode_messages merkle_proof identity_verify frame_decrypt frame_codec engine_input sim_ops ffi_bytes)
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "building fuzz targets (sanitizer: $FUZZ_SANITIZER)"
cargo fuzz build "${BUILD_FLAGS[@]}"

if [ "$FUZZ_SEEDS" = 1 ]; then
    echo "writing seed corpora"
    cargo run --quiet --release --manifest-path fuzz/Cargo.toml --target-dir "$TARGET_DIR" \
        --example seeds -- fuzz/corpus
fi

failed=()
for t in "${TARGETS[@]}"; do
    echo "fuzzing $t for ${FUZZ_SECONDS}s"
    log="$TARGET_DIR/fuzz-$t.log"
    mkdir -p "fuzz/corpus/$t"
    corpora=("fuzz/corpus/$t")
    [ -d "fuzz/corpus-min/$t" ] && corpora+=("fuzz/corpus-min/$t")
    if cargo fuzz run "${BUILD_FLAGS[@]}" "$t" "${corpora[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^Done [0-9]+ runs' "$log" || true
    else
        echo "FAILED: $t (log $log; reproducer under fuzz/artifacts/$t/)"
        grep -E 'panicked at|^SUMMARY|Test unit written' -A2 "$log" | head -20 || true
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    echo "fuzz targets that crashed: ${failed[*]}"
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${BUILD_FLAGS[*]} <target> fuzz/artifacts/<target>/<file>"
    exit 1
fi
echo "fuzz smoke run passed (${#TARGETS[@]} targets, ${FUZZ_SECONDS}s each)"
